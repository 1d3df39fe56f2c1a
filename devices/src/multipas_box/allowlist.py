"""The cached allow-list: uid → allow/deny, reason and holder display data.

Kept in its own SQLite file (WAL) so that the sync thread writing a page of 5 000 cards
never makes a turnstile decision wait: each reading thread has its own connection and
WAL readers do not wait for the writer.

A full snapshot (``since=0``) is written page by page under a new *generation*; when
its last page is in, the rows of older generations (cards the server no longer sends)
are deleted and the cursor is saved. A box that stops half-way through a snapshot
keeps deciding from what it has and starts the snapshot again.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .journal import connect_durable

SCHEMA = """
CREATE TABLE IF NOT EXISTS card (
    uid     TEXT PRIMARY KEY,
    allow   INTEGER NOT NULL,
    reason  TEXT,
    number  TEXT,
    holder  TEXT,
    gen     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
) WITHOUT ROWID;
"""

UNKNOWN = "unknown"  # reason given for a card the allow-list does not have


@dataclasses.dataclass
class Decision:
    allow: bool
    reason: str | None
    number: str | None = None
    holder: dict[str, Any] | None = None
    known: bool = True


class AllowList:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._writer = connect_durable(self.path)
        self._writer.executescript(SCHEMA)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._snapshot_gen: int | None = None

    def _reader(self) -> sqlite3.Connection:
        cnx = getattr(self._local, "cnx", None)
        if cnx is None:
            cnx = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            cnx.execute("PRAGMA query_only=1")
            self._local.cnx = cnx
            with self._readers_lock:
                self._readers.append(cnx)
        return cnx

    def close(self) -> None:
        with self._readers_lock:
            for cnx in self._readers:
                cnx.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()

    # --- decisions -----------------------------------------------------------------------

    def decide(self, uid: str) -> Decision:
        """Allow or deny ``uid`` from the cache alone (never waits for the server)."""
        row = (
            self._reader()
            .execute("SELECT allow, reason, number, holder FROM card WHERE uid = ?", (uid,))
            .fetchone()
        )
        if row is None:
            return Decision(allow=False, reason=UNKNOWN, known=False)
        allow, reason, number, holder = row
        return Decision(
            allow=bool(allow),
            reason=None if allow else (reason or "denied"),
            number=number,
            holder=json.loads(holder) if holder else None,
        )

    # --- meta ------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    @property
    def cursor(self) -> int:
        return int(self.get_meta("cursor", "0") or 0)

    def count(self) -> int:
        return int(self._reader().execute("SELECT count(*) FROM card").fetchone()[0])

    def allowed_count(self) -> int:
        return int(self._reader().execute("SELECT count(*) FROM card WHERE allow").fetchone()[0])

    # --- writing (sync thread) ------------------------------------------------------

    def _current_gen(self) -> int:
        row = self._writer.execute("SELECT value FROM meta WHERE key = 'gen'").fetchone()
        return int(row[0]) if row else 0

    def begin_snapshot(self) -> None:
        """The next pages are a full snapshot: they get a new generation."""
        with self._write_lock:
            self._snapshot_gen = self._current_gen() + 1

    def apply_page(self, cards: Iterable[dict[str, Any]], cursor: int, last: bool) -> int:
        """Store one page of ``GET /allowlist``. In a snapshot, the cursor is saved only
        with the last page, after the cards the snapshot did not mention are gone."""
        with self._write_lock:
            gen = self._snapshot_gen if self._snapshot_gen is not None else self._current_gen()
            rows = []
            for card in cards:
                holder = card.get("holder")
                rows.append(
                    (
                        str(card["uid"]).upper(),
                        1 if card.get("allow") else 0,
                        card.get("reason"),
                        card.get("number"),
                        json.dumps(holder, ensure_ascii=False) if holder else None,
                        gen,
                    )
                )
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                self._writer.executemany(
                    "INSERT INTO card (uid, allow, reason, number, holder, gen) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET "
                    "allow = excluded.allow, reason = excluded.reason, "
                    "number = excluded.number, holder = excluded.holder, gen = excluded.gen",
                    rows,
                )
                snapshot_done = self._snapshot_gen is not None and last
                if self._snapshot_gen is None or snapshot_done:
                    self._set(("cursor", str(cursor)), ("pulled_at", str(time.time())))
                if snapshot_done:
                    self._writer.execute("DELETE FROM card WHERE gen < ?", (gen,))
                    self._set(("gen", str(gen)), ("snapshot_at", str(time.time())))
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            if snapshot_done:
                self._snapshot_gen = None
        return len(rows)

    def abort_snapshot(self) -> None:
        with self._write_lock:
            self._snapshot_gen = None

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock:
            self._set((key, value))

    def _set(self, *pairs: tuple[str, str]) -> None:
        self._writer.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            pairs,
        )
