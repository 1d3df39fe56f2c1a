"""What every reader driver shares (the *driver* of Odoo's hw_drivers shape).

A driver owns one configured reader: it runs in its own thread, finds its device
(through its kind's ``discover()``, the *interface*), turns what the device says into
card UIDs and hands each one to the box through ``emit()``. It never gives up: when the
device or the service behind it goes away, ``state`` says so and the driver tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from ..config import ReaderConfig, card_uid

STATES = ("ok", "error", "absent")  # what the heartbeat reports

OnUid = Callable[["Reader", str], object]


class Reader:
    kind: ClassVar[str] = ""

    def __init__(self, cfg: ReaderConfig, on_uid: OnUid) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.on_uid = on_uid
        self.log = logging.getLogger(f"multipas_box.reader.{cfg.name}")
        self.state = "absent"
        self.detail = "starting"
        self.device_name = ""  # what it is bound to (PC/SC reader name, device path)
        self.last_uid: str | None = None
        self.last_at: float | None = None
        self.reads = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._debounce: dict[str, float] = {}

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"reader-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait unless stopped; True when the reader is stopping."""
        return self._stop.wait(seconds)

    def wake(self) -> None:
        """Interrupt a blocking wait in ``run_loop`` (drivers override when they block)."""

    def _main(self) -> None:
        while not self.stopping:
            try:
                self.run_loop()
            except Exception as exc:  # a driver must never die: report and start over
                self.set_state("error", f"{type(exc).__name__}: {exc}")
                self.log.exception("reader %s failed; restarting it", self.name)
                self.sleep(2.0)

    def run_loop(self) -> None:
        """Read until stopped. Raising is fine: ``_main`` reports it and calls again."""
        raise NotImplementedError

    # --- state and events -------------------------------------------------------------

    def set_state(self, state: str, detail: str = "") -> None:
        assert state in STATES, state
        if (state, detail) != (self.state, self.detail):
            level = logging.INFO if state == "ok" else logging.WARNING
            self.log.log(level, "%s: %s%s", self.name, state, f" ({detail})" if detail else "")
        self.state = state
        self.detail = detail

    def emit(self, raw_uid: str) -> bool:
        """Hand a UID to the box, once per ``debounce`` seconds per card. Returns whether
        it was passed on."""
        uid = card_uid(raw_uid)
        if uid is None:
            self.log.warning(
                "%s: ignoring a read that is not a card UID (4 to 10 bytes in hex): %r",
                self.name,
                raw_uid,
            )
            return False
        now = time.monotonic()
        if self.cfg.debounce:
            last = self._debounce.get(uid)
            self._debounce = {
                u: t for u, t in self._debounce.items() if now - t < self.cfg.debounce
            }
            if last is not None and now - last < self.cfg.debounce:
                self._debounce[uid] = last
                return False
            self._debounce[uid] = now
        self.last_uid = uid
        self.last_at = time.time()
        self.reads += 1
        self.on_uid(self, uid)
        return True

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.cfg.role,
            "direction": self.cfg.direction if self.cfg.role == "turnstile" else None,
            "output": self.cfg.output or None,
            "state": self.state,
            "detail": self.detail,
            "device": self.device_name,
            "reads": self.reads,
            "last_uid": self.last_uid,
            "last_at": self.last_at,
        }

    @classmethod
    def discover(cls) -> list[str]:
        """Devices of this kind present on the machine (the *interface* part)."""
        return []
