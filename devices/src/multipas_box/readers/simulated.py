"""A reader without hardware, for demos and tests.

Cards are "tapped" on demand (:meth:`SimulatedReader.tap`, the local API's
``POST /api/tap``) and, when ``interval`` is set, automatically every ``interval``
seconds, cycling through ``cards``.
"""

from __future__ import annotations

import itertools
import threading

from ..config import ReaderConfig
from .base import OnUid, Reader


class SimulatedReader(Reader):
    kind = "simulated"

    def __init__(self, cfg: ReaderConfig, on_uid: OnUid) -> None:
        super().__init__(cfg, on_uid)
        self._cycle = itertools.cycle(cfg.cards) if cfg.cards else None
        self._tap_lock = threading.Lock()
        self.device_name = "simulated"

    def run_loop(self) -> None:
        self.set_state("ok", "simulated")
        while not self.stopping:
            if self.cfg.interval and self._cycle is not None:
                if self.sleep(self.cfg.interval):
                    return
                self.tap(next(self._cycle))
            elif self.sleep(3600):
                return

    def tap(self, uid: str) -> bool:
        """Present a card as if it had been read; False if debounced or not hex."""
        with self._tap_lock:
            return self.emit(uid)

    @classmethod
    def discover(cls) -> list[str]:
        return ["simulated"]
