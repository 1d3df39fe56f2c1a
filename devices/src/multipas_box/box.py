"""The box: readers in, decisions and events out.

For every card a reader hands in (:meth:`Box.on_uid`):

1. a turnstile reader gets its decision from the cached allow-list (never from the
   server) and the event is a ``passage`` with ``{direction, decision, reason}``; a till
   reader's event is a ``card_tap``;
2. the event (with a UUID made here) is committed to the journal — before anything
   else happens, so nothing the box did is ever missing from it;
3. on "allow" the reader's output (relay) is asked to open;
4. the event goes to the local stream (status page, a till's browser) and the sync
   thread is woken to deliver it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from . import __version__
from .allowlist import AllowList, Decision
from .config import Config
from .events import Event, EventManager
from .journal import Journal
from .outputs import Output, make_output
from .readers import Reader, make_reader
from .readers.simulated import SimulatedReader
from .sync import SyncWorker

log = logging.getLogger("multipas_box")

JOURNAL_FILE = "journal.sqlite3"
ALLOWLIST_FILE = "allowlist.sqlite3"


class Box:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        data = Path(cfg.box.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        self.journal = Journal(data / JOURNAL_FILE)
        self.allowlist = AllowList(data / ALLOWLIST_FILE)
        self.events = EventManager(cfg.local_api.recent_events)
        self.outputs: dict[str, Output] = {o.name: make_output(o) for o in cfg.outputs}
        self.readers: dict[str, Reader] = {r.name: make_reader(r, self.on_uid) for r in cfg.readers}
        self.sync: SyncWorker | None = None
        if cfg.server.url:
            self.sync = SyncWorker(cfg, self.journal, self.allowlist, self.readers_status)
        self.local_api: Any = None
        self.errors = 0  # events that could not be journaled (disk full…)
        self._stop_requested = threading.Event()
        self._stopped = False
        self._purge_at = 0.0

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        for output in self.outputs.values():
            output.start()
        for reader in self.readers.values():
            reader.start()
        if self.sync is not None:
            self.sync.start()
        if self.cfg.local_api.enabled:
            from .local_api import LocalApi  # noqa: PLC0415 - not needed by tools/tests

            self.local_api = LocalApi(self, self.cfg.local_api)
            self.local_api.start()
        log.info(
            "multipas-box %s started: %d reader(s), %d output(s), sync %s",
            __version__,
            len(self.readers),
            len(self.outputs),
            self.cfg.server.url or "off",
        )

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to stop (signal handlers call this)."""
        self._stop_requested.set()

    def run_forever(self) -> None:
        """Start, keep house until asked to stop, then stop."""
        self.start()
        try:
            while not self._stop_requested.wait(60):
                self.housekeeping()
        finally:
            self.stop()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stop_requested.set()
        if self.local_api is not None:
            self.local_api.stop()
        for reader in self.readers.values():
            reader.stop()
        if self.sync is not None:
            self.sync.stop()
        for output in self.outputs.values():
            output.stop()
        self.events.wake_all()
        for reader in self.readers.values():
            reader.join(5)
        if self.sync is not None:
            self.sync.join(self.cfg.server.timeout + 5)
        for output in self.outputs.values():
            output.join(output.cfg.pulse + 2)
        self.journal.close()
        self.allowlist.close()
        log.info("multipas-box stopped")

    def housekeeping(self) -> None:
        """Called now and then by the main loop: purge old delivered events."""
        now = time.monotonic()
        if now >= self._purge_at:
            self._purge_at = now + 3600
            days = self.cfg.journal.keep_delivered_days
            purged = self.journal.purge_delivered(days * 86400)
            if purged:
                log.info("journal: purged %d delivered events older than %g days", purged, days)

    # --- the card path ------------------------------------------------------------------

    def decide(self, uid: str) -> Decision:
        return self.allowlist.decide(uid)

    def on_uid(self, reader: Reader, uid: str) -> Event | None:
        """A reader read ``uid``: decide, journal, open, publish (see the module doc)."""
        rcfg = reader.cfg
        decision: Decision | None = None
        if rcfg.role == "turnstile":
            decision = self.decide(uid)
            data = {
                "direction": rcfg.direction,
                "decision": "allow" if decision.allow else "deny",
                "reason": decision.reason,
            }
            event = Event(kind="passage", uid=uid, reader=reader.name, data=data)
        else:
            event = Event(kind="card_tap", uid=uid, reader=reader.name, data={})
        try:
            self.journal.append(event)
        except Exception:
            # Without a journal entry nothing happens: no opening that nobody could count.
            self.errors += 1
            log.exception("journal: could not store the event of %s on %s", uid, reader.name)
            return None
        if decision is not None and decision.allow and rcfg.output:
            self.outputs[rcfg.output].open({"uid": uid, "reader": reader.name})
        if decision is None:
            decision = self.decide(uid)  # holder display data for the till banner
        self.events.publish(
            {
                **event.to_api(),
                "role": rcfg.role,
                "allow": decision.allow,
                "reason": decision.reason,
                "number": decision.number,
                "holder": decision.holder,
                "known": decision.known,
            }
        )
        if self.sync is not None:
            self.sync.wake()
        return event

    def tap(self, reader_name: str, uid: str) -> bool:
        """Tap a card on a simulated reader (local API, demos, tests)."""
        reader = self.readers.get(reader_name)
        if not isinstance(reader, SimulatedReader):
            raise KeyError(reader_name)
        return reader.tap(uid)

    # --- status ---------------------------------------------------------------------

    def readers_status(self) -> list[dict[str, Any]]:
        return [r.status() for r in self.readers.values()]

    def status(self) -> dict[str, Any]:
        counts = self.journal.counts()
        return {
            "box": {
                "name": self.cfg.box.name,
                "version": __version__,
                "started": self.started,
                "now": time.time(),
                "journal_errors": self.errors,
            },
            "readers": self.readers_status(),
            "outputs": [o.status() for o in self.outputs.values()],
            "queue": {
                "depth": counts["pending"],
                "delivered_kept": counts["delivered"],
                "rejected": counts["rejected"],
            },
            "allowlist": {
                "cards": self.allowlist.count(),
                "allowed": self.allowlist.allowed_count(),
                "cursor": self.allowlist.cursor,
                "pulled_at": _float(self.allowlist.get_meta("pulled_at")),
                "snapshot_at": _float(self.allowlist.get_meta("snapshot_at")),
            },
            "sync": self.sync.status()
            if self.sync is not None
            else {"configured": False, "state": "off"},
            "events": self.events.recent(20),
        }


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
