"""Sync with Odoo through device API v1: heartbeat, allow-list pull, event push.

One thread does everything, so the server sees one request at a time from a box. It
never holds anything a reader or a decision waits for: decisions read the cached
allow-list, events are in the journal before the sync thread hears of them.

When the server is away (connection refused, timeout, 5xx, 429) the thread waits with
exponential back-off and jitter (``backoff_min`` doubling up to ``backoff_max``, a
random half of it added) and new events do not shorten that wait; the first success
resets it.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from . import __version__
from .allowlist import AllowList
from .config import Config
from .journal import Journal

log = logging.getLogger("multipas_box.sync")

API_PREFIX = "/multipas/device/v1"
ALLOWLIST_PAGE = 5000


class ApiError(Exception):
    """An answer the box understands: HTTP status and the contract's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Unreachable(Exception):
    """No answer (connection refused or reset, timeout, DNS, TLS)."""


class ApiClient:
    """Plain JSON over one kept-alive HTTP(S) connection, reopened after any failure."""

    def __init__(self, base_url: str, key: str, timeout: float = 10.0, verify_tls: bool = True,
                 ca_file: str = "") -> None:  # fmt: skip
        parsed = urllib.parse.urlsplit(base_url.rstrip("/"))
        self.scheme = parsed.scheme
        self.host = parsed.hostname or ""
        self.port = parsed.port
        self.prefix = parsed.path + API_PREFIX
        self.key = key
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._ssl: ssl.SSLContext | None = None
        if self.scheme == "https":
            self._ssl = ssl.create_default_context(cafile=ca_file or None)
            if not verify_tls:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._ssl is not None:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self._ssl
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Returns (status, decoded JSON) for 2xx; raises ApiError or Unreachable."""
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, self.prefix + path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if 200 <= response.status < 300:
            if data is None:
                raise ApiError(response.status, "bad_response", "answer is not JSON")
            return response.status, data
        error = (data or {}).get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            code, message = str(error.get("code", "")), str(error.get("message", ""))
        else:
            code, message = "http_error", raw[:200].decode("utf-8", "replace")
        raise ApiError(response.status, code, message)


class Backoff:
    """Exponential back-off with jitter: min·2ⁿ capped at max, then between ½ and 1 of it."""

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.failures = 0
        self.rng = rng or random.Random()

    def next_delay(self) -> float:
        cap = min(self.maximum, self.minimum * (2 ** min(self.failures, 30)))
        self.failures += 1
        return cap / 2 + self.rng.uniform(0, cap / 2)

    def reset(self) -> None:
        self.failures = 0


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, Unreachable):
        return True
    return isinstance(exc, ApiError) and (exc.status >= 500 or exc.status in (408, 429))


class SyncWorker:
    """The sync thread. ``readers_status`` gives the heartbeat's reader list."""

    def __init__(
        self,
        cfg: Config,
        journal: Journal,
        allowlist: AllowList,
        readers_status: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self.cfg = cfg
        self.journal = journal
        self.allowlist = allowlist
        self.readers_status = readers_status
        srv = cfg.server
        self.client = ApiClient(srv.url, cfg.server_key(), srv.timeout, srv.verify_tls, srv.ca_file)
        self.backoff = Backoff(srv.backoff_min, srv.backoff_max)
        self.batch_size = srv.batch_size
        self.page_size = ALLOWLIST_PAGE
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_heartbeat = 0.0
        self._next_pull = 0.0
        self._next_requeue = time.monotonic() + srv.rejected_retry_hours * 3600
        self._want_snapshot = allowlist.cursor == 0
        self._retry_at = 0.0
        # what the status page shows
        self.state = "starting"  # starting | ok | offline | unauthorized | error
        self.last_error = ""
        self.last_heartbeat: float | None = None
        self.last_pull: float | None = None
        self.last_push: float | None = None
        self.last_success: float | None = None
        self.retry_in: float | None = None  # the last back-off delay chosen
        self._retry_wall: float | None = None
        self.device: dict[str, Any] | None = None
        self.server_time: str | None = None
        self.clock_skew: float | None = None
        self.server_version: int | None = None
        self.delivered = 0
        self.rejected = 0

    # --- thread -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.close()

    def wake(self) -> None:
        """New events are in the journal: push them now (unless backing off)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            if now < self._retry_at:
                self._stop.wait(self._retry_at - now)
                continue
            self._wake.clear()
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - decide below how long to wait
                self._failed(exc)
                continue
            self._succeeded()
            wait = max(0.0, min(self._next_heartbeat, self._next_pull) - time.monotonic())
            self._wake.wait(wait)

    def _failed(self, exc: Exception) -> None:
        delay = self.backoff.next_delay()
        self._retry_at = time.monotonic() + delay
        self.retry_in = delay
        self._retry_wall = time.time() + delay
        self.last_error = str(exc)
        if isinstance(exc, ApiError) and exc.status in (401, 403):
            self.state = "unauthorized"
        elif _is_transient(exc):
            self.state = "offline"
        else:
            self.state = "error"
        if self.backoff.failures <= 3 or self.backoff.failures % 10 == 0:
            log.warning("sync: %s; retrying in %.1f s", exc, delay)
        if not isinstance(exc, (ApiError, Unreachable)):
            log.exception("sync: unexpected failure")

    def _succeeded(self) -> None:
        if self.state != "ok" and self.state != "starting":
            log.info("sync: server reachable again")
        self.backoff.reset()
        self.state = "ok"
        self.retry_in = None
        self._retry_wall = None
        self.last_error = ""
        self.last_success = time.time()

    # --- one round ----------------------------------------------------------------------

    def run_once(self) -> None:
        """Heartbeat and allow-list when due, then every pending event. Raises on the
        first failure (the caller backs off)."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self.heartbeat()
        if self._want_snapshot or time.monotonic() >= self._next_pull:
            self.pull_allowlist()
        self.push_events()
        if self.cfg.server.rejected_retry_hours and time.monotonic() >= self._next_requeue:
            self._next_requeue = time.monotonic() + self.cfg.server.rejected_retry_hours * 3600
            if self.journal.requeue_rejected():
                self.push_events()

    def heartbeat(self) -> dict[str, Any]:
        readers = [
            {"name": r["name"], "kind": r["kind"], "state": r["state"]}
            for r in self.readers_status()
        ]
        body = {
            "version": __version__,
            "queue_depth": self.journal.pending_count(),
            "readers": readers,
        }
        sent = time.time()
        _, data = self.client.request("POST", "/heartbeat", body)
        self.last_heartbeat = time.time()
        self._next_heartbeat = time.monotonic() + self.cfg.server.heartbeat_interval
        self.device = data.get("device")
        self.server_time = data.get("server_time")
        self.clock_skew = _skew(self.server_time, (sent + self.last_heartbeat) / 2)
        version = data.get("allowlist_version")
        if isinstance(version, int):
            self.server_version = version
            cursor = self.allowlist.cursor
            if version < cursor:
                log.warning(
                    "allow-list: server version %s < ours %s: new snapshot", version, cursor
                )
                self._want_snapshot = True
            elif version > cursor:
                self._next_pull = 0.0
        return data

    def pull_allowlist(self) -> int:
        """Pull the allow-list (snapshot or changes) until ``more`` is false."""
        resync = self.cfg.server.full_resync_hours
        snapshot_at = float(self.allowlist.get_meta("snapshot_at", "0") or 0)
        if resync and time.time() - snapshot_at > resync * 3600:
            self._want_snapshot = True
        snapshot = self._want_snapshot
        since = 0 if snapshot else self.allowlist.cursor
        if snapshot:
            self.allowlist.begin_snapshot()
        total = 0
        try:
            while True:
                query = urllib.parse.urlencode({"since": since, "limit": self.page_size})
                _, data = self.client.request("GET", f"/allowlist?{query}")
                cards = data.get("cards") or []
                cursor = int(data.get("cursor", since))
                more = bool(data.get("more"))
                if data.get("full") and not snapshot:
                    # the server chose to answer with a snapshot: take it as one
                    snapshot = True
                    self.allowlist.begin_snapshot()
                total += self.allowlist.apply_page(cards, cursor, last=not more)
                if not more:
                    break
                if cursor <= since:
                    raise ApiError(200, "bad_response", "allow-list cursor did not advance")
                since = cursor
        except BaseException:
            if snapshot:
                self.allowlist.abort_snapshot()
            raise
        if snapshot:
            self._want_snapshot = False
            log.info("allow-list: snapshot of %d cards, cursor %s", total, self.allowlist.cursor)
        elif total:
            log.info("allow-list: %d changes, cursor %s", total, self.allowlist.cursor)
        self.last_pull = time.time()
        self._next_pull = time.monotonic() + self.cfg.server.allowlist_interval
        return total

    def push_events(self) -> int:
        """Send pending events in order, batch after batch, until none is left."""
        sent = 0
        while not self._stop.is_set():
            batch = self.journal.next_batch(self.batch_size)
            if batch is None:
                break
            batch_id, events = batch
            body = {"batch_id": batch_id, "events": [e.to_api() for e in events]}
            try:
                _, data = self.client.request("POST", "/events", body)
            except ApiError as exc:
                if exc.status == 409 and exc.code == "replayed_batch":
                    sent += self.journal.mark_delivered(batch_id, None)
                    self.delivered += len(events)
                    continue
                if exc.status in (400, 413):
                    self._refused(batch_id, events, exc)
                    continue
                raise
            results = {
                str(r.get("uuid")): str(r.get("status"))
                for r in data.get("results", [])
                if isinstance(r, dict) and r.get("status") in ("accepted", "duplicate")
            }
            count = self.journal.mark_delivered(batch_id, results)
            self.delivered += count
            sent += count
            self.last_push = time.time()
            if count < len(events):
                raise ApiError(
                    200, "bad_response", f"{len(events) - count} events not acknowledged"
                )
            if self.batch_size < self.cfg.server.batch_size:
                self.batch_size = min(self.cfg.server.batch_size, self.batch_size * 2)
        return sent

    def _refused(self, batch_id: str, events: list[Any], exc: ApiError) -> None:
        """400/413 on a batch: split it to find the culprit; park an event refused alone."""
        if len(events) == 1:
            log.error(
                "event %s (%s) refused by the server: %s", events[0].uuid, events[0].kind, exc
            )
            self.journal.reject(events[0].uuid, f"{exc.status} {exc.code}: {exc.message}")
            self.rejected += 1
            return
        self.journal.release_batch(batch_id)
        self.batch_size = max(1, len(events) // 2)
        log.warning(
            "batch of %d refused (%s); trying batches of %d", len(events), exc, self.batch_size
        )

    def status(self) -> dict[str, Any]:
        return {
            "configured": True,
            "state": self.state,
            "last_error": self.last_error,
            "retry_in": None
            if self._retry_wall is None
            else round(max(0.0, self._retry_wall - time.time()), 1),
            "last_heartbeat": self.last_heartbeat,
            "last_pull": self.last_pull,
            "last_push": self.last_push,
            "last_success": self.last_success,
            "device": self.device,
            "server_time": self.server_time,
            "clock_skew": self.clock_skew,
            "server_allowlist_version": self.server_version,
            "delivered": self.delivered,
            "rejected": self.rejected,
        }


def _skew(server_time: str | None, local: float) -> float | None:
    if not server_time:
        return None
    import datetime  # noqa: PLC0415

    try:
        parsed = datetime.datetime.fromisoformat(server_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return round(local - parsed.timestamp(), 3)
