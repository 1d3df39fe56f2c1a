"""A small in-memory server speaking device API v1 (for tests, benchmarks and demos).

It follows the contract closely enough to catch a box that does not: bearer key, strict
request bodies (unknown fields → 400), the event-kind registry, 1..500 events, dedup by
event uuid, 409 ``replayed_batch`` for a batch id it has accepted, allow-list snapshot
and deltas paged by a monotonic cursor. It is not Odoo: no school, no card life cycle.

Knobs for failure tests: :meth:`FakeDeviceServer.go_down` (connection refused) and
:meth:`go_up`, ``fail_with`` (answer every request with that status), and
``drop_answers`` (process N event batches, then hang up without answering — the box
must re-send the same batch and take the 409 as delivered).

Command line: ``python -m multipas_box.fakeserver --port 8070 --key secret --cards 1000``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/multipas/device/v1"
EVENT_FIELDS = {"uuid", "kind", "uid", "at", "reader", "data"}
HEX_RE = re.compile(r"^[0-9A-Fa-f]{2,64}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class FakeDeviceServer:
    def __init__(self, key: str = "test-key", port: int = 0, kinds: tuple[str, ...] = ("card_tap", "passage")) -> None:  # fmt: skip
        self.key = key
        self.kinds = set(kinds)
        self.lock = threading.Lock()
        self.cards: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.events: dict[str, dict[str, Any]] = {}  # uuid -> event (dedup)
        self.order: list[str] = []  # uuids in the order they were first accepted
        self.batches: set[str] = set()
        self.received = 0  # events received, duplicates included
        self.posts = 0  # POST /events answered 200
        self.replayed = 0  # 409 answers
        self.heartbeats: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.fail_with: int | None = None
        self.drop_answers = 0
        self.device = {
            "id": 1,
            "name": "Fake turnstile",
            "kind": "turnstile",
            "school_code": "SCH108",
            "timezone": "Asia/Yekaterinburg",
        }
        self._port = port
        self._conns: set[Any] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.go_up()

    # --- lifecycle ------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def go_up(self) -> None:
        """Listen (again, on the same port)."""
        if self._httpd is not None:
            return
        handler = type("BoundFakeHandler", (_Handler,), {"srv": self})
        deadline = time.monotonic() + 10
        while True:
            try:
                httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        httpd.daemon_threads = True
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="fakeserver")
        self._thread.start()

    def go_down(self) -> None:
        """Stop listening: the box gets "connection refused"."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        # kept-alive connections would go on being served: cut them too
        with self.lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(2)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    close = go_down

    # --- data ---------------------------------------------------------------------------

    def set_card(self, uid: str, allow: bool = True, reason: str | None = None,
                 number: str | None = None, holder: dict[str, Any] | None = None) -> int:  # fmt: skip
        """Add or change a card; bumps the allow-list cursor like the server's sequence."""
        with self.lock:
            self.seq += 1
            uid = uid.upper()
            self.cards[uid] = {
                "uid": uid,
                "allow": allow,
                "reason": None if allow else (reason or "blocked"),
                "number": number or f"{len(self.cards) + 1:07d}",
                "holder": (holder or {"name": f"Holder {uid}", "class": "5А", "kind": "pupil"})
                if allow
                else None,
                "seq": self.seq,
            }
            return self.seq

    def add_cards(self, uids: list[str]) -> None:
        with self.lock:
            for uid in uids:
                self.seq += 1
                self.cards[uid] = {
                    "uid": uid,
                    "allow": True,
                    "reason": None,
                    "number": f"{self.seq:07d}",
                    "holder": {"name": f"Holder {self.seq}", "class": "5А", "kind": "pupil"},
                    "seq": self.seq,
                }

    def reset_sequence(self) -> None:
        """Pretend the server database was restored from an old backup."""
        with self.lock:
            self.seq = 0
            for card in self.cards.values():
                card["seq"] = 0

    # --- API ------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(path)
        route = url.path[len(PREFIX) :] if url.path.startswith(PREFIX) else None
        if route is None:
            return 404, _err("not_found", "no such route")
        if route == "/heartbeat":
            if method != "POST":
                return 405, _err("method_not_allowed", "POST only")
            return self._heartbeat(body)
        if route == "/allowlist":
            if method != "GET":
                return 405, _err("method_not_allowed", "GET only")
            return self._allowlist(urllib.parse.parse_qs(url.query))
        if route == "/events":
            if method != "POST":
                return 405, _err("method_not_allowed", "POST only")
            return self._events(body)
        if route.startswith("/cards/"):
            uid = route[len("/cards/") :]
            if not HEX_RE.match(uid):
                return 400, _err("bad_request", "uid is hex")
            with self.lock:
                card = self.cards.get(uid.upper())
            if card is None:
                return 404, _err("not_found", "unknown card")
            return 200, {k: v for k, v in card.items() if k != "seq"}
        return 404, _err("not_found", "no such route")

    def _heartbeat(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or set(body) - {"version", "queue_depth", "readers"}:
            return 400, _err("bad_request", "unknown fields in heartbeat")
        if not isinstance(body.get("version"), str) or not isinstance(body.get("queue_depth"), int):
            return 400, _err("bad_request", "version (str) and queue_depth (int) are required")
        for reader in body.get("readers", []):
            if set(reader) != {"name", "kind", "state"} or reader["state"] not in (
                "ok",
                "error",
                "absent",
            ):
                return 400, _err("bad_request", f"bad reader entry {reader!r}")
        with self.lock:
            self.heartbeats.append(body)
            version = self.seq
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {"server_time": now, "device": self.device, "allowlist_version": version}

    def _allowlist(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        if set(query) - {"since", "limit"}:
            return 400, _err("bad_request", "unknown parameters")
        try:
            since = int(query.get("since", ["0"])[0])
            limit = int(query.get("limit", ["5000"])[0])
        except ValueError:
            return 400, _err("bad_request", "since and limit are integers")
        if since < 0 or not 1 <= limit <= 5000:
            return 400, _err("bad_request", "since >= 0, limit 1..5000")
        with self.lock:
            changed = sorted(
                (c for c in self.cards.values() if c["seq"] > since or since == 0),
                key=lambda c: (c["seq"], c["uid"]),
            )
            page = changed[:limit]
            more = len(changed) > limit
            cursor = page[-1]["seq"] if more else max(self.seq, since)
            cards = [{k: v for k, v in c.items() if k != "seq"} for c in page]
        return 200, {"cursor": cursor, "more": more, "full": since == 0, "cards": cards}

    def _events(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or set(body) != {"batch_id", "events"}:
            return 400, _err("bad_request", "expected batch_id and events")
        events = body["events"]
        if not isinstance(events, list) or not events:
            return 400, _err("bad_request", "events: 1..500")
        if len(events) > 500:
            return 413, _err("too_large", "more than 500 events")
        if not isinstance(body["batch_id"], str) or not UUID_RE.match(body["batch_id"]):
            return 400, _err("bad_request", "batch_id is a uuid4")
        for event in events:
            if not isinstance(event, dict) or set(event) != EVENT_FIELDS:
                return 400, _err("bad_request", f"event fields must be {sorted(EVENT_FIELDS)}")
            if event["kind"] not in self.kinds:
                return 400, _err("bad_request", f"unknown kind {event['kind']!r}")
            if not UUID_RE.match(str(event["uuid"])) or not isinstance(event["data"], dict):
                return 400, _err("bad_request", "uuid is a uuid4, data an object")
            if not HEX_RE.match(str(event["uid"])):
                return 400, _err("bad_request", "uid is hex")
        with self.lock:
            if body["batch_id"] in self.batches:
                self.replayed += 1
                return 409, _err("replayed_batch", "this batch was already accepted")
            results = []
            for event in events:
                self.received += 1
                if event["uuid"] in self.events:
                    results.append({"uuid": event["uuid"], "status": "duplicate"})
                else:
                    self.events[event["uuid"]] = event
                    self.order.append(event["uuid"])
                    results.append({"uuid": event["uuid"], "status": "accepted"})
            self.batches.add(body["batch_id"])
            self.posts += 1
        return 200, {"results": results}


def _err(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    srv: FakeDeviceServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        with self.srv.lock:
            self.srv._conns.add(self.connection)

    def finish(self) -> None:
        with self.srv.lock:
            self.srv._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _answer(self, status: int, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        srv = self.srv
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        srv.requests.append((method, self.path))
        if srv.fail_with:
            self._answer(srv.fail_with, _err("unavailable", "the fake server is told to fail"))
            return
        if self.path.endswith("/openapi.json"):
            self._answer(200, {"openapi": "3.0.3"})
            return
        if self.headers.get("Authorization") != f"Bearer {srv.key}":
            self._answer(401, _err("unauthorized", "missing or unknown device key"))
            return
        if length > 1024 * 1024:
            self._answer(413, _err("too_large", "body over 1 MiB"))
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._answer(400, _err("bad_request", "malformed JSON"))
            return
        status, data = srv.handle(method, self.path, body)
        if (
            method == "POST"
            and self.path.endswith("/events")
            and status == 200
            and srv.drop_answers > 0
        ):
            srv.drop_answers -= 1
            self.close_connection = True  # processed, but the box never hears it
            return
        self._answer(status, data)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake device API v1 server (in memory).")
    parser.add_argument("--port", type=int, default=8070)
    parser.add_argument("--key", default="test-key")
    parser.add_argument("--cards", type=int, default=10, help="allowed cards 0400000001…")
    args = parser.parse_args(argv)
    server = FakeDeviceServer(args.key, args.port)
    server.add_cards([f"04{i:08X}" for i in range(1, args.cards + 1)])
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.go_down()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
