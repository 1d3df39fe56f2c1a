"""End to end: the box (``devices/``) with a real PC/SC stack against a real Odoo.

A fresh database gets ``multipas_cards`` with its demo data; as admin (XML-RPC) the test
generates the key of a demo till and takes an issued card of the same school. The box
runs as the service would (``multipas-box --foreground``) with one PC/SC till reader on
our pcscd + vpcd, and a virtual card is put on the reader:

1. tap → the ``card_tap`` event is in Odoo, linked to the card, from this device;
2. Odoo stopped → three taps are journaled on the box (queue depth 3, sync offline) →
   Odoo started again → the box delivers them by itself, each exactly once.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import DEVICES_SRC, OdooServer, child_env
from multipas_box.testing import CARD_GAP, Pcscd
from multipas_box.vcard import VirtualCard


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(interval)


class BoxProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "multipas_box", "--foreground", "--config", str(config)],
            env=child_env(),
            stderr=log.open("wb"),
            cwd=str(DEVICES_SRC),
        )
        found = wait_for(
            lambda: re.search(r"status page on (http://\S+)", self.tail()), 30, "box start"
        )
        self.url = found.group(1)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/status.json", timeout=5) as resp:
            return json.load(resp)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def events_of(odoo: OdooServer, device_id: int, uuids: list[str]) -> list[dict[str, Any]]:
    return odoo.execute(
        "multipas.device.event",
        "search_read",
        [["device_id", "=", device_id], ["uuid", "in", uuids]],
        fields=["uuid", "kind", "uid", "card_id", "reader", "state"],
    )


def test_box_taps_reach_odoo_and_survive_an_outage(
    odoo_server: OdooServer, pcscd: Pcscd, tmp_path: Path
) -> None:
    odoo = odoo_server
    till = odoo.execute(
        "multipas.device", "search_read", [["kind", "=", "till"]], fields=["school_id"], limit=1
    )
    assert till, "the demo data has no till device"
    device_id, school_id = till[0]["id"], till[0]["school_id"][0]
    key = odoo.execute("multipas.device", "action_generate_key", [device_id])["context"][
        "default_key"
    ]
    cards = odoo.execute(
        "multipas.card",
        "search_read",
        [["school_id", "=", school_id], ["state", "=", "issued"], ["uid", "!=", False]],
        fields=["uid"],
        limit=3,
    )
    assert len(cards) == 3, "the demo school has too few issued cards with a UID"
    uids = [c["uid"].upper() for c in cards]

    config = tmp_path / "box.toml"
    config.write_text(
        f"""
[box]
name = "e2e till"
data_dir = "{tmp_path / "data"}"
log_level = "INFO"

[server]
url = "{odoo.url}"
key = "{key}"
heartbeat_interval = 2.0
allowlist_interval = 5.0
backoff_min = 0.5
backoff_max = 2.0
timeout = 10.0

[local_api]
port = 0

[[reader]]
name = "pcsc-0"
kind = "pcsc"
role = "till"
match = "{pcscd.reader_name}"
poll = 0.5
""",
        encoding="utf-8",
    )
    box = BoxProcess(config, tmp_path / "box.log")
    try:
        # the box is known to Odoo and has the school's allow-list
        wait_for(
            lambda: (
                odoo.execute("multipas.device", "read", [device_id], ["status"])[0]["status"]
                == "online"
            ),
            30,
            "device online in Odoo after the heartbeat",
        )
        status = wait_for(
            lambda: (s := box.status())["allowlist"]["cards"] > 0 and s, 30, "allow-list pulled"
        )
        assert status["readers"][0]["state"] == "ok", status["readers"]

        # 1. one tap reaches Odoo
        time.sleep(CARD_GAP)
        VirtualCard(uids[0], port=pcscd.port).tap(0.6)
        first = wait_for(lambda: box.status()["events"], 10, "tap seen by the box")[0]
        assert (first["kind"], first["uid"]) == ("card_tap", uids[0])
        assert first["known"] and first["holder"], "the holder comes from the local allow-list"
        stored = wait_for(lambda: events_of(odoo, device_id, [first["uuid"]]), 30, "event in Odoo")
        assert stored[0]["kind"] == "card_tap" and stored[0]["uid"] == uids[0]
        assert stored[0]["card_id"] and stored[0]["card_id"][0] == cards[0]["id"]
        assert stored[0]["reader"] == "pcsc-0"

        # 2. Odoo goes away: taps are journaled
        odoo.stop()
        for uid in (uids[1], uids[2], uids[0]):
            time.sleep(CARD_GAP)
            VirtualCard(uid, port=pcscd.port).tap(0.6)
        offline = wait_for(
            lambda: (s := box.status())["queue"]["depth"] == 3 and s, 15, "three taps queued"
        )
        assert offline["sync"]["state"] == "offline", offline["sync"]
        taps = [e["uuid"] for e in offline["events"][:3]]

        # Odoo comes back: the box delivers on its own, once each
        odoo.start()
        wait_for(
            lambda: box.status()["queue"]["depth"] == 0, 60, "queue drained after Odoo returned"
        )
        delivered = events_of(odoo, device_id, [first["uuid"], *taps])
        assert sorted(e["uuid"] for e in delivered) == sorted([first["uuid"], *taps])
        assert sorted(e["uid"] for e in delivered) == sorted([uids[0], uids[1], uids[2], uids[0]])
        assert box.status()["sync"]["state"] == "ok"
    finally:
        code = box.stop()
    assert code == 0, box.tail()[-3000:]
    assert "Traceback" not in box.tail(), box.tail()[-3000:]
