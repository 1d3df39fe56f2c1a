"""Events and the local event manager.

An :class:`Event` is what the box sends to the server (``POST /events``). The
:class:`EventManager` is the box-local side, shaped like Odoo's ``hw_drivers`` event
manager: drivers hand it what happened, subscribers (the status page, a till browser's
SSE or long-poll connection) wait for what is newer than the last thing they saw.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import threading
import uuid as uuid_mod
from typing import Any


def utc_now_iso() -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``: ``2026-11-25T09:00:00.123Z``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclasses.dataclass
class Event:
    """One fact recorded at the box, identified by a UUID made here."""

    kind: str  # card_tap | passage | … (a registry the server extends)
    uid: str
    reader: str
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    uuid: str = dataclasses.field(default_factory=lambda: str(uuid_mod.uuid4()))
    at: str = dataclasses.field(default_factory=utc_now_iso)

    def to_api(self) -> dict[str, Any]:
        """The event as the device API's ``POST /events`` expects it."""
        return {
            "uuid": self.uuid,
            "kind": self.kind,
            "uid": self.uid,
            "at": self.at,
            "reader": self.reader,
            "data": self.data,
        }


class EventManager:
    """Keeps the last events in memory and wakes whoever waits for a newer one.

    Each published item gets a local, increasing ``id`` (SSE's ``id:`` field), so a
    subscriber that reconnects with ``Last-Event-ID`` gets what it missed as long as it
    is still in the buffer.
    """

    def __init__(self, keep: int = 50) -> None:
        self._items: collections.deque[dict[str, Any]] = collections.deque(maxlen=max(1, keep))
        self._cond = threading.Condition()
        self._last_id = 0

    def publish(self, item: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            self._last_id += 1
            stored = {"id": self._last_id, **item}
            self._items.append(stored)
            self._cond.notify_all()
        return stored

    @property
    def last_id(self) -> int:
        with self._cond:
            return self._last_id

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        with self._cond:
            items = list(self._items)
        items.reverse()
        return items[:limit] if limit else items

    def after(self, last_id: int) -> list[dict[str, Any]]:
        with self._cond:
            return [item for item in self._items if item["id"] > last_id]

    def wait_after(self, last_id: int, timeout: float) -> list[dict[str, Any]]:
        """Items newer than ``last_id``, waiting up to ``timeout`` seconds for one."""
        with self._cond:
            self._cond.wait_for(lambda: self._last_id > last_id, timeout=timeout)
            return [item for item in self._items if item["id"] > last_id]

    def wake_all(self) -> None:
        """Release every waiter (used at shutdown)."""
        with self._cond:
            self._cond.notify_all()
