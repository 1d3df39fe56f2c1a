"""End to end: the demo box of ``make box`` and docker/ (``tools/demo_box.py``).

On the demo database the tool gives the first demo school's canteen till a key, writes
the configuration of a box with a simulated till reader, and the box started from that
file alone delivers its taps to Odoo: the school's cards are recognised, the card nobody
has is stored as unknown. Run again, the tool keeps the key that still works, and replaces
one that no longer does.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import tomllib
from conftest import REPO, OdooServer, child_env
from test_box_odoo import BoxProcess, wait_for

DEMO_BOX = REPO / "tools" / "demo_box.py"


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A Python command as the user would run it from the repository, its output kept."""
    return subprocess.run(
        [sys.executable, *args],
        env=child_env(),
        cwd=str(REPO / "var"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def demo_box(odoo: OdooServer, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        str(DEMO_BOX), "--db", odoo.db, "--url", odoo.url, "--out", str(out), "--port", "0", *extra
    )


def test_demo_box_configures_a_box_that_reaches_odoo(odoo_server: OdooServer, tmp_path: Path):
    odoo = odoo_server
    out = tmp_path / "box"
    done = demo_box(odoo, out, "--interval", "0.3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "new key" in done.stdout

    key_file = out / "key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text(encoding="utf-8").strip()
    config = tomllib.loads((out / "multipas-box.toml").read_text(encoding="utf-8"))
    assert config["server"] == {
        "url": odoo.url,
        "key_file": str(key_file),
        "heartbeat_interval": 30.0,
    }
    (reader,) = config["reader"]
    assert (reader["kind"], reader["role"]) == ("simulated", "till")
    *known, unknown = reader["cards"]

    # the device is the demo school's till, and the cards are its pupils'
    school = odoo.execute(
        "ir.model.data", "check_object_reference", "multipas_cards", "school_sch108"
    )[1]
    device = odoo.execute(
        "multipas.device",
        "search_read",
        [["school_id", "=", school], ["kind", "=", "till"], ["key_prefix", "=", key[:12]]],
        fields=["key_state"],
    )
    assert [d["key_state"] for d in device] == ["active"]
    device_id = device[0]["id"]
    cards = odoo.execute(
        "multipas.card",
        "search_read",
        [["uid", "in", known], ["school_id", "=", school], ["state", "=", "issued"]],
        fields=["uid"],
    )
    assert sorted(c["uid"] for c in cards) == sorted(known) and len(known) == 5
    assert not odoo.execute("multipas.card", "search", [["uid", "=", unknown]])

    box = BoxProcess(out / "multipas-box.toml", tmp_path / "box.log")
    try:

        def taps() -> dict[str, list[bool]]:
            events = odoo.execute(
                "multipas.device.event",
                "search_read",
                [["device_id", "=", device_id], ["uid", "in", reader["cards"]]],
                fields=["uid", "card_id", "kind"],
            )
            seen: dict[str, list[bool]] = {}
            for event in events:
                assert event["kind"] == "card_tap"
                seen.setdefault(event["uid"], []).append(bool(event["card_id"]))
            return seen if len(seen) == len(reader["cards"]) else {}

        seen = wait_for(taps, 60, "every demo card tapped and delivered", interval=0.5)
        assert all(all(linked) for uid, linked in seen.items() if uid != unknown), seen
        assert not any(seen[unknown]), "the unknown card was linked to a card"
        status = box.status()
        assert status["sync"]["state"] == "ok" and status["queue"]["rejected"] == 0
    finally:
        box.stop()

    # again: the key still works, so it is kept
    again = demo_box(odoo, out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "still active" in again.stdout
    assert key_file.read_text(encoding="utf-8").strip() == key

    # the operator gave the device another key meanwhile: the file's key is replaced
    odoo.execute("multipas.device", "action_generate_key", [device_id])
    renewed = demo_box(odoo, out)
    assert renewed.returncode == 0, renewed.stderr[-3000:]
    assert "new key" in renewed.stdout
    assert key_file.read_text(encoding="utf-8").strip() != key


def test_demo_box_refuses_an_unknown_device(odoo_server: OdooServer, tmp_path: Path):
    done = demo_box(odoo_server, tmp_path / "box", "--device-id", "999999")
    assert done.returncode != 0
    assert "no device #999999" in done.stderr
    assert not (tmp_path / "box" / "multipas-box.toml").exists()


def test_key_dialog_configuration_passes_the_box_check(odoo_server: OdooServer, tmp_path: Path):
    """The configuration file Odoo's key dialog offers is one the box accepts, for a
    turnstile (reader and relay) and for a till."""
    odoo = odoo_server
    for kind in ("turnstile", "till"):
        device = odoo.execute(
            "multipas.device", "search_read", [["kind", "=", kind]], fields=["name"], limit=1
        )[0]
        wizard = odoo.execute("multipas.device.key.wizard", "create", {"device_id": device["id"]})
        (read,) = odoo.execute("multipas.device.key.wizard", "read", [wizard], ["box_config"])
        text = read["box_config"]
        assert (
            f"url = {json.dumps(odoo.execute('ir.config_parameter', 'get_param', 'web.base.url'))}"
            in text
        )
        key_file = tmp_path / f"{kind}.key"
        key_file.write_text("mpd_" + "x" * 43 + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        config = tmp_path / f"{kind}.toml"
        config.write_text(text.replace("/etc/multipas-box/key", str(key_file)), encoding="utf-8")
        done = run("-m", "multipas_box", "--check-config", "-c", str(config), timeout=60)
        assert done.returncode == 0, f"{kind}: {done.stdout}{done.stderr}\n{text}"
        assert tomllib.loads(text)["box"]["name"] == device["name"]


def test_demo_box_refuses_a_missing_database(tmp_path: Path):
    done = run(str(DEMO_BOX), "--db", "multipas_no_such_db", "--out", str(tmp_path / "box"))
    assert done.returncode != 0
    assert "cannot open database multipas_no_such_db" in done.stderr
    assert "Traceback" not in done.stderr
