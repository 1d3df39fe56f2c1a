"""The offline journal: every event is committed here before anything else happens.

SQLite in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL has
been fsync'ed, so an event that :meth:`Journal.append` returned survives ``kill -9`` and
a power cut. Delivery is at least once and in order: the sender takes the oldest
pending events as a *batch* whose id and members are stored before the first attempt,
so a batch re-sent after a crash or a lost answer has the same ``batch_id`` and the same
events (the server answers 409 ``replayed_batch`` when it already has it; that counts
as delivered). The server dedups every event by its UUID, so the effect is exactly once.

Event states: ``pending`` (not yet acknowledged; ``batch_id`` set while it belongs to the
batch in flight), ``delivered`` (acknowledged: ``result`` is the server's word),
``rejected`` (the server refused it alone with 400; kept, shown, offered again later).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid as uuid_mod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .events import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS event (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    uid          TEXT NOT NULL,
    at           TEXT NOT NULL,
    reader       TEXT NOT NULL,
    data         TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'delivered', 'rejected')),
    batch_id     TEXT,
    result       TEXT,
    recorded     REAL NOT NULL,
    delivered    REAL
);
CREATE INDEX IF NOT EXISTS event_state_seq ON event (state, seq);
CREATE INDEX IF NOT EXISTS event_batch ON event (batch_id) WHERE batch_id IS NOT NULL;
"""


def _fsync_dir(path: Path) -> None:
    """Make a file's creation itself durable (its directory entry)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def connect_durable(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with full fsync on every commit."""
    cnx = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    mode = cnx.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode})")
    cnx.execute("PRAGMA synchronous=FULL")
    cnx.execute("PRAGMA busy_timeout=30000")
    return cnx


class Journal:
    """Thread-safe journal of events (one connection behind a lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cnx = connect_durable(self.path)
        with self._lock:
            self._cnx.executescript(SCHEMA)
        # The database and its -wal file exist now: make their directory entries durable.
        _fsync_dir(self.path.parent)

    def close(self) -> None:
        with self._lock:
            self._cnx.close()

    # --- writing -----------------------------------------------------------------------

    def append(self, event: Event) -> int:
        """Store one event durably; returns its sequence number. Raises on failure."""
        return self.append_many([event])[-1]

    def append_many(self, events: Iterable[Event]) -> list[int]:
        """Store several events in one transaction (one fsync)."""
        rows = [
            (e.uuid, e.kind, e.uid, e.at, e.reader, json.dumps(e.data, ensure_ascii=False))
            for e in events
        ]
        now = time.time()
        seqs: list[int] = []
        with self._lock:
            self._cnx.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    cur = self._cnx.execute(
                        "INSERT INTO event (uuid, kind, uid, at, reader, data, recorded) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*row, now),
                    )
                    seqs.append(int(cur.lastrowid or 0))
                self._cnx.execute("COMMIT")
            except BaseException:
                self._cnx.execute("ROLLBACK")
                raise
        return seqs

    # --- delivery ----------------------------------------------------------------------

    def next_batch(self, limit: int) -> tuple[str, list[Event]] | None:
        """The batch to send now: the one in flight if any, else a new one made of the
        oldest ``limit`` pending events (its id and members are committed first)."""
        with self._lock:
            row = self._cnx.execute(
                "SELECT batch_id FROM event WHERE state = 'pending' AND batch_id IS NOT NULL "
                "ORDER BY seq LIMIT 1"
            ).fetchone()
            if row:
                batch_id = row[0]
            else:
                batch_id = str(uuid_mod.uuid4())
                self._cnx.execute("BEGIN IMMEDIATE")
                try:
                    cur = self._cnx.execute(
                        "UPDATE event SET batch_id = ? WHERE seq IN ("
                        " SELECT seq FROM event WHERE state = 'pending' ORDER BY seq LIMIT ?)",
                        (batch_id, limit),
                    )
                    self._cnx.execute("COMMIT")
                except BaseException:
                    self._cnx.execute("ROLLBACK")
                    raise
                if not cur.rowcount:
                    return None
            rows = self._cnx.execute(
                "SELECT uuid, kind, uid, at, reader, data FROM event "
                "WHERE batch_id = ? AND state = 'pending' ORDER BY seq",
                (batch_id,),
            ).fetchall()
        if not rows:
            return None
        events = [
            Event(uuid=u, kind=k, uid=uid, at=at, reader=rd, data=json.loads(data))
            for u, k, uid, at, rd, data in rows
        ]
        return batch_id, events

    def mark_delivered(self, batch_id: str, results: dict[str, str] | None = None) -> int:
        """The server has the batch: its events are delivered (``results`` maps uuid →
        ``accepted``/``duplicate``; None = 409 ``replayed_batch``)."""
        now = time.time()
        with self._lock:
            self._cnx.execute("BEGIN IMMEDIATE")
            try:
                if results is None:
                    cur = self._cnx.execute(
                        "UPDATE event SET state = 'delivered', result = 'replayed_batch', "
                        "delivered = ? WHERE batch_id = ? AND state = 'pending'",
                        (now, batch_id),
                    )
                    count = cur.rowcount
                else:
                    cur = self._cnx.executemany(
                        "UPDATE event SET state = 'delivered', result = ?, delivered = ? "
                        "WHERE uuid = ? AND batch_id = ? AND state = 'pending'",
                        [(status, now, uuid, batch_id) for uuid, status in results.items()],
                    )
                    count = cur.rowcount
                    # Members the answer did not mention go back to the queue.
                    self._cnx.execute(
                        "UPDATE event SET batch_id = NULL WHERE batch_id = ? AND state = 'pending'",
                        (batch_id,),
                    )
                self._cnx.execute("COMMIT")
            except BaseException:
                self._cnx.execute("ROLLBACK")
                raise
        return count

    def release_batch(self, batch_id: str) -> None:
        """The server refused the batch as a whole and changed nothing (400/413): its
        events go back to the queue, to be sent again in other batches."""
        with self._lock:
            self._cnx.execute(
                "UPDATE event SET batch_id = NULL WHERE batch_id = ? AND state = 'pending'",
                (batch_id,),
            )

    def reject(self, uuid: str, message: str) -> None:
        """Park one event the server refused alone; it no longer blocks the queue."""
        with self._lock:
            self._cnx.execute(
                "UPDATE event SET state = 'rejected', batch_id = NULL, result = ? WHERE uuid = ?",
                (message[:500], uuid),
            )

    def requeue_rejected(self) -> int:
        """Offer the rejected events again (the server may know their kind by now)."""
        with self._lock:
            cur = self._cnx.execute(
                "UPDATE event SET state = 'pending', result = NULL WHERE state = 'rejected'"
            )
            return cur.rowcount

    def purge_delivered(self, older_than_seconds: float) -> int:
        limit = time.time() - older_than_seconds
        with self._lock:
            cur = self._cnx.execute(
                "DELETE FROM event WHERE state = 'delivered' AND delivered < ?", (limit,)
            )
            return cur.rowcount

    # --- reading -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._cnx.execute("SELECT state, count(*) FROM event GROUP BY state").fetchall()
        counts = {"pending": 0, "delivered": 0, "rejected": 0}
        counts.update(dict(rows))
        return counts

    def pending_count(self) -> int:
        with self._lock:
            return int(
                self._cnx.execute("SELECT count(*) FROM event WHERE state = 'pending'").fetchone()[
                    0
                ]
            )

    def rows(self, where: str = "1=1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows as dicts, oldest first (for tests, the status page and tools)."""
        with self._lock:
            cur = self._cnx.execute(
                "SELECT seq, uuid, kind, uid, at, reader, data, state, batch_id, result "
                f"FROM event WHERE {where} ORDER BY seq",
                params,
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
