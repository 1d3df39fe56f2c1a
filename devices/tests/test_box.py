"""Local decisions from the cached allow-list, the relay, and events of both roles."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from conftest import make_config, wait_for

from multipas_box.box import Box
from multipas_box.config import OutputConfig
from multipas_box.outputs import make_output

CARDS = [
    {"uid": "04AA000001", "allow": True, "reason": None, "number": "0000001",
     "holder": {"name": "Иванов Иван", "class": "5А", "kind": "pupil"}},
    {"uid": "04AA000002", "allow": False, "reason": "blocked", "number": "0000002", "holder": None},
    {"uid": "04AA000003", "allow": False, "reason": "left", "number": "0000003", "holder": None},
]  # fmt: skip


def box_config(tmp_path: Path, server_url: str = "", **extra: object):
    sections: dict[str, object] = {
        "reader": [
            {
                "name": "in-1",
                "kind": "simulated",
                "direction": "in",
                "output": "gate",
                "debounce": 0,
            },
            {
                "name": "out-1",
                "kind": "simulated",
                "direction": "out",
                "output": "gate",
                "debounce": 0,
            },
            {"name": "till-1", "kind": "simulated", "role": "till", "debounce": 0},
        ],
        "output": [{"name": "gate", "kind": "simulated", "pulse": 0.05}],
        **extra,
    }
    if server_url:
        sections["server"] = {
            "url": server_url,
            "key": "test-key",
            "timeout": 3.0,
            "backoff_min": 0.5,
        }
    return make_config(tmp_path, **sections)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(box_config(tmp_path))
    b.allowlist.apply_page(CARDS, cursor=3, last=True)
    b.start()
    try:
        yield b
    finally:
        b.stop()


def test_turnstile_decisions(box: Box) -> None:
    gate = box.outputs["gate"]
    assert box.tap("in-1", "04aa000001")
    wait_for(lambda: gate.openings == 1)
    assert box.tap("out-1", "04AA000002")
    assert box.tap("in-1", "04AA000003")
    assert box.tap("in-1", "04BB000000")
    assert gate.wait_idle(2)
    time.sleep(0.1)
    assert gate.openings == 1  # only the allowed card opened it
    rows = box.journal.rows()
    got = [(r["kind"], r["uid"], r["reader"], json.loads(r["data"])) for r in rows]
    assert got == [
        ("passage", "04AA000001", "in-1", {"direction": "in", "decision": "allow", "reason": None}),
        (
            "passage",
            "04AA000002",
            "out-1",
            {"direction": "out", "decision": "deny", "reason": "blocked"},
        ),
        (
            "passage",
            "04AA000003",
            "in-1",
            {"direction": "in", "decision": "deny", "reason": "left"},
        ),
        (
            "passage",
            "04BB000000",
            "in-1",
            {"direction": "in", "decision": "deny", "reason": "unknown"},
        ),
    ]
    assert all(r["state"] == "pending" for r in rows)  # no server: they wait in the journal
    recent = box.events.recent()
    assert recent[-1]["holder"]["name"] == "Иванов Иван" and recent[-1]["allow"] is True
    assert recent[0]["known"] is False


def test_till_reader_records_card_tap(box: Box) -> None:
    assert box.tap("till-1", "04AA000001")
    rows = box.journal.rows()
    assert [(r["kind"], r["uid"], json.loads(r["data"])) for r in rows] == [
        ("card_tap", "04AA000001", {})
    ]
    item = box.events.recent()[0]
    assert item["kind"] == "card_tap" and item["role"] == "till"
    assert item["holder"] == {"name": "Иванов Иван", "class": "5А", "kind": "pupil"}
    assert box.outputs["gate"].openings == 0


def test_journal_failure_opens_nothing(box: Box) -> None:
    box.journal.close()  # the disk is gone, as far as the box can tell
    assert box.tap("in-1", "04AA000001")
    time.sleep(0.1)
    assert box.outputs["gate"].openings == 0
    assert box.errors == 1
    assert box.events.recent() == []
    box.journal = type(box.journal)(box.journal.path)  # let the fixture close it


def test_decision_never_waits_for_a_hanging_server(tmp_path: Path) -> None:
    # a server that accepts connections and never answers: every sync request hangs
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    url = f"http://127.0.0.1:{hang.getsockname()[1]}"
    b = Box(box_config(tmp_path, url))
    b.allowlist.apply_page(CARDS, cursor=3, last=True)
    b.start()
    try:
        time.sleep(0.3)  # the sync thread is now stuck in its first request
        timings = []
        for _ in range(20):
            opened = b.outputs["gate"].openings
            started = time.perf_counter()
            b.tap("in-1", "04AA000001")
            wait_for(lambda: b.outputs["gate"].openings > opened, timeout=2, interval=0.001)
            timings.append(time.perf_counter() - started)
        assert max(timings) < 0.5, timings  # nowhere near the 3 s request timeout
        assert b.journal.pending_count() == 20
        assert b.sync is not None and b.sync.last_success is None
    finally:
        b.stop()
        hang.close()


# --- outputs --------------------------------------------------------------------------


def test_serial_relay_on_pty() -> None:
    master, slave = os.openpty()
    try:
        cfg = OutputConfig(name="relay", kind="serial", device=os.ttyname(slave), pulse=0.05)
        out = make_output(cfg)
        out.start()
        out.open()
        assert out.wait_idle(3)
        os.set_blocking(master, False)
        data = b""
        deadline = time.monotonic() + 2
        while len(data) < 8 and time.monotonic() < deadline:
            try:
                data += os.read(master, 64)
            except BlockingIOError:
                time.sleep(0.01)
        assert data == bytes.fromhex("A00101A2A00100A1")  # LCUS-1: on, then off
        assert out.openings == 1 and out.state == "ok"
        out.stop()
        out.join(3)
    finally:
        os.close(master)
        os.close(slave)


def test_serial_relay_missing_port_reports_error(tmp_path: Path) -> None:
    out = make_output(OutputConfig(name="relay", kind="serial", device=str(tmp_path / "nope")))
    out.start()
    out.open()
    assert out.wait_idle(3)
    assert out.state == "error" and out.failures == 1 and out.openings == 0
    out.stop()
    out.join(3)


def test_http_output() -> None:
    hits: list[tuple[str, str, bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hits.append((self.command, self.path, body, self.headers.get("X-Token", "")))
            self.send_response(200 if self.path == "/open" else 500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        out = make_output(
            OutputConfig(name="ctl", kind="http", url=f"{base}/open", body='{"relay": 1}',
                         headers={"X-Token": "t0k"})
        )  # fmt: skip
        out.start()
        out.open()
        assert out.wait_idle(3)
        assert hits == [("POST", "/open", b'{"relay": 1}', "t0k")] and out.openings == 1
        out.cfg.url = f"{base}/broken"
        out.open()
        assert out.wait_idle(3)
        assert out.state == "error" and "500" in out.detail
        out.stop()
        out.join(3)
    finally:
        httpd.shutdown()
        httpd.server_close()
