"""The box's configuration: one TOML file, every key documented with its default.

``multipas-box.example.toml`` (next to ``pyproject.toml``) shows every key. Unknown keys,
wrong types and impossible values are refused with a message naming the key, so that a
typo never turns into a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

READER_KINDS = ("pcsc", "keyboard", "serial", "simulated")
OUTPUT_KINDS = ("simulated", "serial", "http")
ROLES = ("turnstile", "till")
DIRECTIONS = ("in", "out")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key and the file."""


@dataclasses.dataclass
class BoxConfig:
    name: str = "multipas-box"  # shown on the status page and in the log
    data_dir: str = "/var/lib/multipas-box"  # journal.sqlite3 and allowlist.sqlite3 live here
    log_level: str = "INFO"
    log_file: str = ""  # empty: log to stderr (systemd's journal picks it up)


@dataclasses.dataclass
class ServerConfig:
    url: str = ""  # Odoo base URL; empty = offline box (journal only, no sync)
    key: str = ""  # device key (Bearer); prefer key_file
    key_file: str = ""  # file holding the device key (first line), readable by the box only
    timeout: float = 10.0  # seconds per HTTP request
    verify_tls: bool = True
    ca_file: str = ""  # extra CA bundle for a school's own certificate
    heartbeat_interval: float = 30.0  # seconds between heartbeats
    allowlist_interval: float = 60.0  # pull allow-list changes at least this often
    full_resync_hours: float = 24.0  # take a whole snapshot again after this long (0 = never)
    batch_size: int = 500  # events per POST /events (the contract allows 1..500)
    backoff_min: float = 1.0  # first retry delay when the server is away (seconds)
    backoff_max: float = 300.0  # longest retry delay
    rejected_retry_hours: float = 6.0  # events the server refused (400) are offered again


@dataclasses.dataclass
class LocalApiConfig:
    enabled: bool = True
    host: str = "127.0.0.1"  # loopback: the page and the stream are for this machine only
    port: int = 8765
    # Origins allowed to read the API from a browser (CORS), e.g. the Odoo URL for a
    # till whose POS subscribes to the event stream. Empty: same-origin only.
    allow_origins: list[str] = dataclasses.field(default_factory=list)
    recent_events: int = 50  # events kept for the page and for reconnecting subscribers


@dataclasses.dataclass
class JournalConfig:
    keep_delivered_days: float = 30.0  # delivered events are purged after this long


@dataclasses.dataclass
class ReaderConfig:
    name: str = ""
    kind: str = ""  # pcsc | keyboard | serial | simulated
    role: str = "turnstile"  # turnstile: local decision + passage event; till: card_tap event
    direction: str = "in"  # turnstile readers: in | out
    output: str = ""  # turnstile readers: name of the [[output]] opened on "allow"
    debounce: float = 1.5  # seconds during which the same card on this reader counts once
    # pcsc: substring of the PC/SC reader name ("" = the first reader not used by another)
    # keyboard: substring of the input device name (when `device` is empty)
    match: str = ""
    device: str = ""  # keyboard: /dev/input/by-id/... ; serial: /dev/ttyUSB0 or a pyserial URL
    poll: float = 1.0  # pcsc: seconds per status wait (also the recovery pace)
    baudrate: int = 9600  # serial
    framing: str = "rdm6300"  # serial: rdm6300 | line (see readers/serial.py)
    uid_format: str = "hex"  # keyboard: hex | decimal (what the reader types)
    grab: bool = True  # keyboard: take the device exclusively (typed UIDs go nowhere else)
    cards: list[str] = dataclasses.field(default_factory=list)  # simulated: UIDs to cycle
    interval: float = 0.0  # simulated: seconds between automatic taps (0 = only on demand)


@dataclasses.dataclass
class OutputConfig:
    name: str = ""
    kind: str = ""  # simulated | serial | http
    pulse: float = 1.0  # seconds the relay stays open
    device: str = ""  # serial: port or pyserial URL
    baudrate: int = 9600
    # serial: bytes (hex) that close / open the relay. The defaults drive the common
    # one-channel USB relay (CH340 "LCUS-1"): A0 01 01 A2 = on, A0 01 00 A1 = off.
    open_command: str = "A00101A2"
    close_command: str = "A00100A1"
    url: str = ""  # http: the controller's URL, requested on each opening
    method: str = "POST"
    body: str = ""  # http: request body sent as is (e.g. a JSON document)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    timeout: float = 2.0  # http: seconds


@dataclasses.dataclass
class Config:
    box: BoxConfig = dataclasses.field(default_factory=BoxConfig)
    server: ServerConfig = dataclasses.field(default_factory=ServerConfig)
    local_api: LocalApiConfig = dataclasses.field(default_factory=LocalApiConfig)
    journal: JournalConfig = dataclasses.field(default_factory=JournalConfig)
    readers: list[ReaderConfig] = dataclasses.field(default_factory=list)
    outputs: list[OutputConfig] = dataclasses.field(default_factory=list)
    source: str = ""  # the file it came from (for messages)

    @property
    def data_path(self) -> Path:
        return Path(self.box.data_dir)

    def server_key(self) -> str:
        """The device key, from ``key`` or the first line of ``key_file``."""
        if self.server.key:
            return self.server.key.strip()
        if self.server.key_file:
            try:
                text = Path(self.server.key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"server.key_file: cannot read {self.server.key_file}: {exc}"
                ) from None
            return (text.strip().splitlines() or [""])[0].strip()
        return ""


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return {str(k): _check_type(v, str, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, types.UnionType):  # pragma: no cover - no such field today
        raise ConfigError(f"{where}: unsupported type")
    raise ConfigError(f"{where}: unsupported type {hint!r}")  # pragma: no cover


def _section(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values = {key: _check_type(value, hints[key], f"{where}.{key}") for key, value in table.items()}
    return cls(**values)


def _positive(value: float, where: str, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"{where}: must be {'>= 0' if zero_ok else '> 0'}, got {value}")


def _validate(cfg: Config) -> None:
    _validate_server(cfg)
    outputs = _validate_outputs(cfg.outputs)
    _validate_readers(cfg.readers, outputs)


def _validate_server(cfg: Config) -> None:
    srv = cfg.server
    if srv.url and not srv.url.startswith(("http://", "https://")):
        raise ConfigError(f"server.url: expected http(s)://…, got {srv.url!r}")
    if not 1 <= srv.batch_size <= 500:
        raise ConfigError(f"server.batch_size: must be 1..500, got {srv.batch_size}")
    for key in ("timeout", "heartbeat_interval", "allowlist_interval", "backoff_min"):
        _positive(getattr(srv, key), f"server.{key}")
    _positive(srv.full_resync_hours, "server.full_resync_hours", zero_ok=True)
    _positive(srv.rejected_retry_hours, "server.rejected_retry_hours", zero_ok=True)
    if srv.backoff_max < srv.backoff_min:
        raise ConfigError("server.backoff_max: must be >= server.backoff_min")
    if not 0 <= cfg.local_api.port <= 65535:
        raise ConfigError(f"local_api.port: out of range: {cfg.local_api.port}")
    if cfg.box.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"box.log_level: one of DEBUG, INFO, WARNING, ERROR, got {cfg.box.log_level!r}"
        )


def _validate_outputs(items: list[OutputConfig]) -> dict[str, OutputConfig]:
    outputs: dict[str, OutputConfig] = {}
    for i, out in enumerate(items):
        where = f"output[{i}]"
        if not out.name:
            raise ConfigError(f"{where}.name: required")
        if out.name in outputs:
            raise ConfigError(f"{where}.name: {out.name!r} is used twice")
        if out.kind not in OUTPUT_KINDS:
            raise ConfigError(f"{where}.kind: one of {', '.join(OUTPUT_KINDS)}, got {out.kind!r}")
        _positive(out.pulse, f"{where}.pulse")
        if out.kind == "serial":
            if not out.device:
                raise ConfigError(f"{where}.device: required for a serial output")
            for key in ("open_command", "close_command"):
                try:
                    bytes.fromhex(getattr(out, key))
                except ValueError:
                    raise ConfigError(
                        f"{where}.{key}: not hex bytes: {getattr(out, key)!r}"
                    ) from None
        if out.kind == "http" and not out.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url: required for an http output (http(s)://…)")
        outputs[out.name] = out
    return outputs


def _validate_readers(readers: list[ReaderConfig], outputs: dict[str, OutputConfig]) -> None:
    if len(readers) > MAX_READERS:
        raise ConfigError(f"at most {MAX_READERS} [[reader]] per box (the heartbeat's limit)")
    names: set[str] = set()
    for i, rd in enumerate(readers):
        where = f"reader[{i}]"
        if not rd.name:
            raise ConfigError(f"{where}.name: required")
        if len(rd.name) > 64 or any(ord(ch) < 32 or ord(ch) == 127 for ch in rd.name):
            raise ConfigError(f"{where}.name: at most 64 printable characters")
        if rd.name in names:
            raise ConfigError(f"{where}.name: {rd.name!r} is used twice")
        names.add(rd.name)
        if rd.kind not in READER_KINDS:
            raise ConfigError(f"{where}.kind: one of {', '.join(READER_KINDS)}, got {rd.kind!r}")
        if rd.role not in ROLES:
            raise ConfigError(f"{where}.role: one of {', '.join(ROLES)}, got {rd.role!r}")
        if rd.direction not in DIRECTIONS:
            raise ConfigError(f"{where}.direction: in or out, got {rd.direction!r}")
        if rd.output and rd.output not in outputs:
            raise ConfigError(f"{where}.output: no [[output]] named {rd.output!r}")
        if rd.output and rd.role != "turnstile":
            raise ConfigError(f"{where}.output: only turnstile readers open an output")
        _validate_reader_details(rd, where)


def _validate_reader_details(rd: ReaderConfig, where: str) -> None:
    _positive(rd.debounce, f"{where}.debounce", zero_ok=True)
    _positive(rd.poll, f"{where}.poll")
    _positive(rd.interval, f"{where}.interval", zero_ok=True)
    if rd.kind == "serial" and not rd.device:
        raise ConfigError(f"{where}.device: required for a serial reader")
    if rd.framing not in ("rdm6300", "line"):
        raise ConfigError(f"{where}.framing: rdm6300 or line, got {rd.framing!r}")
    if rd.uid_format not in ("hex", "decimal"):
        raise ConfigError(f"{where}.uid_format: hex or decimal, got {rd.uid_format!r}")
    if rd.kind == "simulated" and rd.interval and not rd.cards:
        raise ConfigError(f"{where}.cards: automatic taps need at least one card")
    for j, uid in enumerate(rd.cards):
        if card_uid(uid) is None:
            raise ConfigError(f"{where}.cards[{j}]: not a card UID (4 to 10 bytes in hex): {uid!r}")


MAX_READERS = 16  # device API v1: readers listed in one heartbeat

# What device API v1 accepts as a card UID: 4 to 10 bytes (ISO 14443 4/7/10-byte UIDs,
# 5-byte EM-Marine ids, 32-bit numbers typed by keyboard-wedge readers).
UID_MIN_BYTES = 4
UID_MAX_BYTES = 10


def card_uid(text: str) -> str | None:
    """A reader's output as the UID the box records, or None when it cannot be one
    (not hex, odd number of digits, fewer than 4 or more than 10 bytes)."""
    uid = normalise_uid(text)
    if uid is None or len(uid) % 2 or not UID_MIN_BYTES * 2 <= len(uid) <= UID_MAX_BYTES * 2:
        return None
    return uid


def normalise_uid(text: str) -> str | None:
    """Upper-case hex without separators (``04:a1:b2`` → ``04A1B2``), or None if not hex."""
    cleaned = "".join(ch for ch in text.strip() if ch not in ":- ").upper()
    if not cleaned or len(cleaned) > 64 or any(ch not in "0123456789ABCDEF" for ch in cleaned):
        return None
    return cleaned


def from_dict(data: dict[str, Any], source: str = "<dict>") -> Config:
    """Build and validate a :class:`Config` from parsed TOML; errors name ``source``."""
    try:
        return _build(data, source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _build(data: dict[str, Any], source: str) -> Config:
    top = {"box", "server", "local_api", "journal", "reader", "output"}
    unknown = sorted(set(data) - top)
    if unknown:
        raise ConfigError(f"unknown section(s) {', '.join(unknown)}")
    cfg = Config(
        box=_section(BoxConfig, data.get("box", {}), "box"),
        server=_section(ServerConfig, data.get("server", {}), "server"),
        local_api=_section(LocalApiConfig, data.get("local_api", {}), "local_api"),
        journal=_section(JournalConfig, data.get("journal", {}), "journal"),
        source=source,
    )
    readers = data.get("reader", [])
    outputs = data.get("output", [])
    if not isinstance(readers, list) or not isinstance(outputs, list):
        raise ConfigError("use [[reader]] and [[output]] (arrays of tables)")
    cfg.readers = [_section(ReaderConfig, r, f"reader[{i}]") for i, r in enumerate(readers)]
    cfg.outputs = [_section(OutputConfig, o, f"output[{i}]") for i, o in enumerate(outputs)]
    _validate(cfg)
    return cfg


def load(path: str | Path) -> Config:
    """Read and validate the TOML file at ``path``."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(data, str(path))
