"""Configuration: the shipped example, documented defaults, clear refusals."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from multipas_box.config import (
    BoxConfig,
    ConfigError,
    JournalConfig,
    LocalApiConfig,
    ServerConfig,
    from_dict,
    load,
    normalise_uid,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLE = Path(__file__).resolve().parent.parent / "multipas-box.example.toml"


def test_example_loads() -> None:
    cfg = load(EXAMPLE)
    assert [r.kind for r in cfg.readers] == ["pcsc", "keyboard", "simulated"]
    assert cfg.outputs[0].name == "gate-1"


@pytest.mark.parametrize(
    ("section", "cls"),
    [
        ("box", BoxConfig),
        ("server", ServerConfig),
        ("local_api", LocalApiConfig),
        ("journal", JournalConfig),
    ],
)
def test_example_documents_every_default(section: str, cls: type) -> None:
    """The example's tables list every key, each with its real default value."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))[section]
    defaults = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
    assert data == defaults


def test_example_comments_list_every_reader_and_output_key() -> None:
    from multipas_box.config import OutputConfig, ReaderConfig  # noqa: PLC0415

    text = EXAMPLE.read_text(encoding="utf-8")
    for cls in (ReaderConfig, OutputConfig):
        for field in dataclasses.fields(cls):
            assert f"#   {field.name} " in text, f"{cls.__name__}.{field.name} is not documented"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"box": {"nmae": "x"}}, "box: unknown key(s) nmae"),
        ({"boxes": {}}, "unknown section(s) boxes"),
        ({"server": {"timeout": "10"}}, "server.timeout: expected a number"),
        ({"server": {"batch_size": 501}}, "server.batch_size: must be 1..500"),
        ({"server": {"url": "ftp://x"}}, "server.url: expected http(s)"),
        ({"server": {"backoff_min": 5.0, "backoff_max": 1.0}}, "backoff_max"),
        ({"local_api": {"enabled": "yes"}}, "local_api.enabled: expected true or false"),
        ({"reader": [{"name": "a", "kind": "nfc"}]}, "reader[0].kind: one of pcsc"),
        ({"reader": [{"name": "a", "kind": "pcsc"}, {"name": "a", "kind": "pcsc"}]}, "used twice"),
        ({"reader": [{"name": "a", "kind": "pcsc", "output": "g"}]}, "no [[output]] named 'g'"),
        ({"reader": [{"name": "a", "kind": "serial"}]}, "reader[0].device: required"),
        ({"reader": [{"name": "a", "kind": "simulated", "cards": ["xyz"]}]}, "not a card UID"),
        ({"reader": [{"name": "a", "kind": "pcsc", "role": "till", "output": "g"}],
          "output": [{"name": "g", "kind": "simulated"}]}, "only turnstile readers"),
        ({"output": [{"name": "g", "kind": "serial", "device": "/dev/x", "open_command": "zz"}]},
         "open_command: not hex"),
        ({"output": [{"name": "g", "kind": "http"}]}, "output[0].url: required"),
        ({"reader": {"name": "a"}}, "use [[reader]]"),
        ({"reader": [{"name": "x" * 65, "kind": "pcsc"}]}, "at most 64 printable"),
        ({"reader": [{"name": f"r{i}", "kind": "pcsc"} for i in range(17)]}, "at most 16 [[reader]]"),
    ],
)  # fmt: skip
def test_refusals(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(data, "f.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("f.toml: ")


def test_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("[box\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml")


def test_key_file(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("  s3cret\nignored\n", encoding="utf-8")
    cfg = from_dict({"server": {"key_file": str(key)}})
    assert cfg.server_key() == "s3cret"
    cfg = from_dict({"server": {"key_file": str(tmp_path / "none")}})
    with pytest.raises(ConfigError, match="key_file"):
        cfg.server_key()


def test_normalise_uid() -> None:
    assert normalise_uid("04:a1:b2 c3-d4") == "04A1B2C3D4"
    assert normalise_uid("") is None
    assert normalise_uid("0G") is None
