"""The box's local HTTP API and status page (stdlib ``ThreadingHTTPServer``, loopback).

Routes:

- ``GET /`` — the status page (readers, outputs, queue depth, last sync, last events);
- ``GET /status.json`` — the same as JSON;
- ``GET /api/events/stream`` — Server-Sent Events: one ``data:`` JSON per card event
  (``id:`` = local sequence; a reconnecting browser sends ``Last-Event-ID`` and gets what
  it missed while still in memory); a ``: ping`` comment every 15 s;
- ``GET /api/events?after=<id>&timeout=<s>`` — long-poll for clients without SSE:
  ``{"events": [...], "last_id": n}`` as soon as something newer than ``after`` exists,
  or empty after ``timeout`` seconds (default 25, at most 60); without ``after`` it
  waits for the next event;
- ``POST /api/tap`` ``{"reader": "<simulated reader>", "uid": "04A1…"}`` — tap a card on
  a simulated reader (demos). JSON only, never cross-origin.

Only requests whose ``Host`` is this machine are served (a web page cannot reach the box
through DNS rebinding); browsers of other origins may read the GET routes only when
their origin is listed in ``local_api.allow_origins``.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .config import LocalApiConfig, card_uid

if TYPE_CHECKING:
    from .box import Box

log = logging.getLogger("multipas_box.local_api")

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_BODY = 4096
PING_EVERY = 15.0


class LocalApi:
    def __init__(self, box: Box, cfg: LocalApiConfig) -> None:
        self.box = box
        self.cfg = cfg
        self.stopping = threading.Event()
        handler = type("BoundHandler", (Handler,), {"api": self})
        self.server = ThreadingHTTPServer((cfg.host, cfg.port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="local-api", daemon=True
        )

    @property
    def url(self) -> str:
        host = self.cfg.host if ":" not in self.cfg.host else f"[{self.cfg.host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        log.info("local API and status page on %s", self.url)

    def stop(self) -> None:
        self.stopping.set()
        self.box.events.wake_all()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def host_allowed(self, host_header: str) -> bool:
        host = host_header.strip().lower()
        if host.startswith("["):
            host = host[: host.find("]") + 1]
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        return host in LOCAL_HOSTS or host == self.cfg.host.lower()

    def origin_allowed(self, origin: str) -> bool:
        allowed = self.cfg.allow_origins
        return "*" in allowed or origin.rstrip("/") in [o.rstrip("/") for o in allowed]


class Handler(BaseHTTPRequestHandler):
    api: LocalApi
    server_version = "multipas-box"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    # --- helpers ------------------------------------------------------------------------

    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        if origin and self.api.origin_allowed(origin):
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")

    def _send(self, status: int, body: bytes, content_type: str, cors: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if cors:
            self._cors()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, cors: bool = True) -> None:
        body = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", cors)

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": {"code": code, "message": message}})

    def _guard(self) -> bool:
        if not self.api.host_allowed(self.headers.get("Host", "")):
            self._error(403, "forbidden", "this API answers on the box itself only")
            return False
        return True

    # --- routes -------------------------------------------------------------------------

    def do_OPTIONS(self) -> None:  # noqa: N802 - stdlib naming
        if not self._guard():
            return
        origin = self.headers.get("Origin")
        if not origin or not self.api.origin_allowed(origin):
            self._error(403, "forbidden", "origin not allowed")
            return
        self.send_response(HTTPStatus.NO_CONTENT)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "GET")
        self.send_header("Access-Control-Allow-Headers", "Last-Event-ID")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        if not self._guard():
            return
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/":
            page = render_status_page(self.api.box.status()).encode("utf-8")
            self._send(200, page, "text/html; charset=utf-8", cors=False)
        elif url.path in ("/status.json", "/api/status"):
            self._json(200, self.api.box.status())
        elif url.path == "/api/events":
            self._long_poll(query)
        elif url.path == "/api/events/stream":
            self._stream(query)
        else:
            self._error(404, "not_found", f"no route {url.path}")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        if not self._guard():
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/api/tap":
            self._error(
                404 if url.path not in ("/", "/status.json") else 405, "not_found", url.path
            )
            return
        if self.headers.get("Origin") and not self.api.host_allowed(
            urllib.parse.urlsplit(self.headers["Origin"]).netloc
        ):
            self._error(403, "forbidden", "taps are not accepted from other origins")
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._error(415, "bad_request", "send application/json")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._error(400, "bad_request", "a JSON body of at most 4 KiB is expected")
            return
        try:
            body = json.loads(self.rfile.read(length))
            reader, uid = body["reader"], body["uid"]
            if set(body) - {"reader", "uid"} or not isinstance(uid, str):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self._error(400, "bad_request", 'expected {"reader": "...", "uid": "hex"}')
            return
        if card_uid(uid) is None:
            self._error(400, "bad_request", "uid: not a card UID (4 to 10 bytes in hex)")
            return
        try:
            passed = self.api.box.tap(str(reader), uid)
        except KeyError:
            self._error(404, "not_found", f"no simulated reader named {reader!r}")
            return
        self._json(200, {"tapped": passed}, cors=False)

    def _long_poll(self, query: dict[str, list[str]]) -> None:
        events = self.api.box.events
        try:
            after = int(query["after"][0]) if "after" in query else events.last_id
            timeout = min(60.0, max(0.0, float(query.get("timeout", ["25"])[0])))
        except ValueError:
            self._error(400, "bad_request", "after and timeout are numbers")
            return
        items = events.wait_after(after, timeout)
        last_id = items[-1]["id"] if items else max(after, 0)
        self._json(200, {"events": items, "last_id": last_id})

    def _stream(self, query: dict[str, list[str]]) -> None:
        events = self.api.box.events
        try:
            header = self.headers.get("Last-Event-ID")
            after = int(header) if header else int(query.get("after", [events.last_id])[0])
        except ValueError:
            self._error(400, "bad_request", "Last-Event-ID / after is a number")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self._cors()
        self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(b"retry: 2000\n\n")
            self.wfile.flush()
            while not self.api.stopping.is_set():
                items = events.wait_after(after, PING_EVERY)
                if self.api.stopping.is_set():
                    break
                if not items:
                    self.wfile.write(b": ping\n\n")
                for item in items:
                    data = json.dumps(item, ensure_ascii=False, default=str)
                    chunk = f"id: {item['id']}\nevent: {item['kind']}\ndata: {data}\n\n"
                    self.wfile.write(chunk.encode("utf-8"))
                    after = item["id"]
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            return


# --- the status page -------------------------------------------------------------------

STATE_LABELS = {
    "ok": "работает · ok",
    "error": "ошибка · error",
    "absent": "нет устройства · absent",
    "offline": "сервер недоступен · offline",
    "unauthorized": "ключ не принят · unauthorized",
    "starting": "запуск · starting",
    "off": "выключена · off",
}

CSS = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2329}
header{background:#263238;color:#fff;padding:12px 20px}
header h1{font-size:19px;margin:0}header small{opacity:.75}
main{padding:12px 20px;display:grid;gap:16px;grid-template-columns:repeat(auto-fit,minmax(330px,1fr))}
section{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002}
section.wide{grid-column:1/-1}
h2{font-size:16px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #eceff1;vertical-align:top}
th{font-weight:600;color:#546e7a;font-size:13px}
.st{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;white-space:nowrap}
.st-ok{background:#c8e6c9}.st-error,.st-unauthorized{background:#ffcdd2}
.st-absent,.st-offline,.st-starting,.st-off{background:#ffe0b2}
.big{font-size:28px;font-weight:700}.muted{color:#78909c;font-size:13px}
.allow{color:#2e7d32;font-weight:600}.deny{color:#c62828;font-weight:600}
code{font-size:13px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _when(ts: float | None, now: float) -> str:
    if not ts:
        return '<span class="muted">никогда · never</span>'
    ago = max(0, int(now - ts))
    if ago < 120:
        rel = f"{ago} с назад · {ago} s ago"
    elif ago < 7200:
        rel = f"{ago // 60} мин назад · {ago // 60} min ago"
    else:
        rel = f"{ago // 3600} ч назад · {ago // 3600} h ago"
    return f'{_e(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)))} <span class="muted">({rel})</span>'


def _state(state: str) -> str:
    return f'<span class="st st-{_e(state)}">{_e(STATE_LABELS.get(state, state))}</span>'


def render_status_page(st: dict[str, Any]) -> str:
    """The HTML status page for ``Box.status()``; every value is escaped."""
    now = st["box"]["now"]
    sync = st["sync"]
    rows_readers = (
        "".join(
            f"<tr><td><b>{_e(r['name'])}</b><br><span class='muted'>{_e(r['kind'])} · {_e(r['role'])}"
            f"{' · ' + _e(r['direction']) if r['direction'] else ''}</span></td>"
            f"<td>{_state(r['state'])}<br><span class='muted'>{_e(r['detail'])}</span></td>"
            f"<td>{_e(r['reads'])}</td><td><code>{_e(r['last_uid'] or '—')}</code><br>"
            f"{_when(r['last_at'], now) if r['last_at'] else ''}</td></tr>"
            for r in st["readers"]
        )
        or "<tr><td colspan=4 class=muted>нет считывателей · no readers configured</td></tr>"
    )
    rows_outputs = (
        "".join(
            f"<tr><td><b>{_e(o['name'])}</b><br><span class='muted'>{_e(o['kind'])}</span></td>"
            f"<td>{_state(o['state'])}<br><span class='muted'>{_e(o['detail'])}</span></td>"
            f"<td>{_e(o['openings'])}</td><td>{_when(o['last_opened'], now)}</td></tr>"
            for o in st["outputs"]
        )
        or "<tr><td colspan=4 class=muted>нет выходов · no outputs</td></tr>"
    )
    rows_events = "".join(_event_row(ev) for ev in st["events"]) or (
        "<tr><td colspan=6 class=muted>событий ещё не было · no events yet</td></tr>"
    )
    queue = st["queue"]
    allow = st["allowlist"]
    device = sync.get("device") or {}
    sync_rows = ""
    if sync.get("configured"):
        skew = sync.get("clock_skew")
        sync_rows = (
            f"<tr><th>Сервер · server</th><td>{_e(device.get('name') or '—')} "
            f"<span class='muted'>{_e(device.get('school_code') or '')}</span></td></tr>"
            f"<tr><th>Последний обмен · last sync</th><td>{_when(sync.get('last_success'), now)}</td></tr>"
            f"<tr><th>Heartbeat</th><td>{_when(sync.get('last_heartbeat'), now)}</td></tr>"
            f"<tr><th>Отправка событий · last push</th><td>{_when(sync.get('last_push'), now)}</td></tr>"
            f"<tr><th>Расхождение часов · clock skew</th><td>{_e('—' if skew is None else f'{skew:+.1f} s')}</td></tr>"
        )
        if sync.get("last_error"):
            sync_rows += (
                f"<tr><th>Ошибка · error</th><td>{_e(sync['last_error'])}"
                f"<br><span class='muted'>повтор через · retry in {_e(round(sync.get('retry_in') or 0, 1))} s</span></td></tr>"
            )
    return f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="3">
<title>{_e(st["box"]["name"])} · Multipas</title><style>{CSS}</style></head>
<body><header><h1>Multipas · {_e(st["box"]["name"])}</h1>
<small>версия · version {_e(st["box"]["version"])} · запущен · started {_when(st["box"]["started"], now)}</small></header>
<main>
<section><h2>Очередь · Queue</h2>
<div class="big">{_e(queue["depth"])}</div>
<div class="muted">событий ждут отправки · events waiting for the server</div>
<p>отклонено сервером · rejected: <b>{_e(queue["rejected"])}</b>;
 ошибок журнала · journal errors: <b>{_e(st["box"]["journal_errors"])}</b></p></section>
<section><h2>Синхронизация · Sync {_state(sync["state"])}</h2>
<table>{sync_rows}
<tr><th>Список доступа · allow-list</th><td>{_e(allow["cards"])} карт · cards
 ({_e(allow["allowed"])} разрешено · allowed), версия · cursor {_e(allow["cursor"])}</td></tr>
<tr><th>Обновлён · pulled</th><td>{_when(allow["pulled_at"], now)}</td></tr></table></section>
<section class="wide"><h2>Считыватели · Readers</h2>
<table><tr><th>Имя · name</th><th>Состояние · state</th><th>Чтений · reads</th><th>Последняя карта · last card</th></tr>
{rows_readers}</table></section>
<section class="wide"><h2>Выходы (турникет) · Outputs</h2>
<table><tr><th>Имя · name</th><th>Состояние · state</th><th>Открытий · openings</th><th>Последнее · last</th></tr>
{rows_outputs}</table></section>
<section class="wide"><h2>Последние события · Last events</h2>
<table><tr><th>Время · time (UTC)</th><th>Считыватель · reader</th><th>Событие · kind</th><th>Карта · card</th><th>Владелец · holder</th><th>Решение · decision</th></tr>
{rows_events}</table></section>
</main></body></html>
"""


def _event_row(ev: dict[str, Any]) -> str:
    holder = ev.get("holder") or {}
    who = _e(holder.get("name") or "—")
    if holder.get("class"):
        who += f" <span class='muted'>{_e(holder['class'])}</span>"
    if ev.get("kind") == "passage":
        data = ev.get("data") or {}
        allowed = data.get("decision") == "allow"
        verdict = (
            f"<span class='{'allow' if allowed else 'deny'}'>"
            f"{'проход · allow' if allowed else 'отказ · deny'}</span> "
            f"<span class='muted'>{_e(data.get('direction'))} {_e(data.get('reason') or '')}</span>"
        )
    else:
        verdict = (
            "<span class='muted'>—</span>"
            if ev.get("known")
            else "<span class='deny'>неизвестна · unknown</span>"
        )
    return (
        f"<tr><td>{_e(str(ev.get('at', '')).replace('T', ' ').rstrip('Z'))}</td><td>{_e(ev.get('reader'))}</td>"
        f"<td>{_e(ev.get('kind'))}</td><td><code>{_e(ev.get('uid'))}</code></td><td>{who}</td><td>{verdict}</td></tr>"
    )
