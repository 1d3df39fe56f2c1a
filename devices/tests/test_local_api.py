"""The local API: status page and JSON, SSE stream, long-poll, simulated taps, guards."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_config, wait_for

from multipas_box.box import Box

CARDS = [
    {"uid": "04AA000001", "allow": True, "reason": None, "number": "0000001",
     "holder": {"name": "Иванов <Иван>", "class": "5А", "kind": "pupil"}},
]  # fmt: skip


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    cfg = make_config(
        tmp_path,
        local_api={"enabled": True, "port": 0, "allow_origins": ["https://odoo.example"]},
        reader=[
            {"name": "till-1", "kind": "simulated", "role": "till", "debounce": 0},
            {"name": "gate-in", "kind": "simulated", "output": "gate", "debounce": 0},
        ],
        output=[{"name": "gate", "kind": "simulated", "pulse": 0.05}],
    )
    b = Box(cfg)
    b.allowlist.apply_page(CARDS, cursor=1, last=True)
    b.start()
    try:
        yield b
    finally:
        b.stop()


def request(box: Box, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 5) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", box.local_api.port, timeout=timeout)
    hdrs = dict(headers or {})
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=payload, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def test_status_json_and_page(box: Box) -> None:
    box.tap("till-1", "04AA000001")
    status, headers, raw = request(box, "GET", "/status.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    data = json.loads(raw)
    assert [r["name"] for r in data["readers"]] == ["till-1", "gate-in"]
    assert data["readers"][0]["state"] == "ok"
    assert data["queue"]["depth"] == 1
    assert data["allowlist"]["cards"] == 1
    assert data["sync"] == {"configured": False, "state": "off"}
    assert data["events"][0]["uid"] == "04AA000001"

    status, headers, raw = request(box, "GET", "/")
    page = raw.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    for text in ("Считыватели · Readers", "till-1", "gate-in", "Очередь · Queue", "04AA000001"):
        assert text in page
    assert "Иванов &lt;Иван&gt;" in page and "<Иван>" not in page  # escaped


def test_sse_stream(box: Box) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", box.local_api.port, timeout=10)
    conn.request("GET", "/api/events/stream", headers={"Origin": "https://odoo.example"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    assert resp.getheader("Access-Control-Allow-Origin") == "https://odoo.example"
    received: list[dict[str, Any]] = []

    def read() -> None:
        event: dict[str, str] = {}
        while len(received) < 2:
            line = resp.fp.readline().decode().rstrip("\n")
            if not line:
                if "data" in event:
                    received.append(
                        {"id": event["id"], "event": event["event"], **json.loads(event["data"])}
                    )
                event = {}
                continue
            key, _, value = line.partition(": ")
            event[key] = value

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(0.2)
    box.tap("till-1", "04AA000001")
    box.tap("gate-in", "04CC000000")
    thread.join(5)
    conn.close()
    assert [(e["event"], e["uid"]) for e in received] == [
        ("card_tap", "04AA000001"),
        ("passage", "04CC000000"),
    ]
    assert received[0]["holder"]["class"] == "5А" and received[1]["reason"] == "unknown"
    assert int(received[1]["id"]) == int(received[0]["id"]) + 1


def test_sse_resumes_after_last_event_id(box: Box) -> None:
    box.tap("till-1", "0A010101")
    box.tap("till-1", "0A020202")
    first_id = box.events.recent()[-1]["id"]
    conn = http.client.HTTPConnection("127.0.0.1", box.local_api.port, timeout=10)
    conn.request("GET", "/api/events/stream", headers={"Last-Event-ID": str(first_id)})
    resp = conn.getresponse()
    lines = []
    while not any(line.startswith("data:") for line in lines):
        lines.append(resp.fp.readline().decode())
    conn.close()
    data = json.loads(next(line for line in lines if line.startswith("data:"))[5:])
    assert data["uid"] == "0A020202"  # the one missed since Last-Event-ID


def test_long_poll(box: Box) -> None:
    status, _, raw = request(box, "GET", "/api/events?after=0&timeout=0")
    assert status == 200 and json.loads(raw) == {"events": [], "last_id": 0}
    threading.Timer(0.3, lambda: box.tap("till-1", "0B010101")).start()
    started = time.monotonic()
    status, _, raw = request(box, "GET", "/api/events?timeout=5")
    data = json.loads(raw)
    assert status == 200 and 0.2 < time.monotonic() - started < 4
    assert [e["uid"] for e in data["events"]] == ["0B010101"] and data["last_id"] == data["events"][
        0
    ]["id"]
    status, _, _ = request(box, "GET", "/api/events?after=x")
    assert status == 400


def test_tap_route(box: Box) -> None:
    status, _, raw = request(box, "POST", "/api/tap", {"reader": "gate-in", "uid": "04AA000001"})
    assert status == 200 and json.loads(raw) == {"tapped": True}
    wait_for(lambda: box.outputs["gate"].openings == 1)
    assert request(box, "POST", "/api/tap", {"reader": "nope", "uid": "04A1B2C3"})[0] == 404
    assert request(box, "POST", "/api/tap", {"reader": "gate-in"})[0] == 400
    assert request(box, "POST", "/api/tap", {"reader": "gate-in", "uid": "04A1B2"})[0] == 400
    assert request(box, "POST", "/api/tap", {"reader": "gate-in", "uid": "1", "x": 1})[0] == 400
    # a cross-site form post cannot send JSON; a page of another origin is refused anyway
    status, _, _ = request(box, "POST", "/api/tap", {"reader": "gate-in", "uid": "04"},
                           headers={"Content-Type": "text/plain"})  # fmt: skip
    assert status == 415
    status, _, _ = request(box, "POST", "/api/tap", {"reader": "gate-in", "uid": "04"},
                           headers={"Origin": "https://evil.example"})  # fmt: skip
    assert status == 403
    assert box.journal.pending_count() == 1


def test_guards(box: Box) -> None:
    # DNS rebinding: a foreign Host header is refused
    status, _, raw = request(box, "GET", "/status.json", headers={"Host": "evil.example"})
    assert status == 403 and json.loads(raw)["error"]["code"] == "forbidden"
    # CORS only for the configured origin
    _, headers, _ = request(box, "GET", "/status.json", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers
    status, headers, _ = request(
        box, "OPTIONS", "/api/events", headers={"Origin": "https://odoo.example"}
    )
    assert status == 204 and headers["access-control-allow-origin"] == "https://odoo.example"
    assert (
        request(box, "OPTIONS", "/api/events", headers={"Origin": "https://evil.example"})[0] == 403
    )
    assert request(box, "GET", "/nope")[0] == 404
