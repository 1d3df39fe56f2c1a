"""PC/SC readers (ACR122U class) through pyscard's low-level ``smartcard.scard`` API.

Why not pyscard's ``CardMonitor``: its thread dies for good when pcscd restarts (the
context it holds becomes invalid and nothing makes a new one). This driver owns its
context and its loop: any error of the service (``SCARD_E_NO_SERVICE``, a broken RPC
transport, an invalid handle…) drops the context and makes a new one, every ``poll``
seconds, until pcscd answers again.

A card is read once per insertion: the UID comes from the ``FF CA 00 00 00`` pseudo-APDU
(PC/SC part 3 GET DATA), answered with the UID and ``90 00``. pcsc-lite counts card
events in the upper 16 bits of the reader state, so a card removed and put back between
two polls still counts as a new tap.
"""

from __future__ import annotations

import threading
from typing import Any

from ..config import ReaderConfig
from .base import OnUid, Reader

GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]
READ_RETRIES = 2
_MASK = 0xFFFFFFFF


def _scard() -> Any:
    try:
        from smartcard import scard  # noqa: PLC0415 - pyscard is optional
    except ImportError as exc:  # pragma: no cover - pyscard is installed where tests run
        raise RuntimeError("pyscard is not installed (pip install pyscard)") from exc
    return scard


class PcscError(Exception):
    def __init__(self, what: str, hr: int) -> None:
        self.hr = hr & _MASK
        try:
            message = _scard().SCardGetErrorMessage(hr)
        except Exception:  # noqa: BLE001 - only a nicer message
            message = ""
        super().__init__(f"{what}: 0x{self.hr:08X} {message}".strip())


class PcscReader(Reader):
    kind = "pcsc"
    # PC/SC reader names taken by a driver of this process, so that two readers with
    # an empty ``match`` bind to two different devices.
    _claimed: set[str] = set()
    _claim_lock = threading.Lock()

    def __init__(self, cfg: ReaderConfig, on_uid: OnUid) -> None:
        super().__init__(cfg, on_uid)
        self.sc: Any = None
        self._ctx: Any = None
        self._claimed_name: str | None = None

    # --- context ----------------------------------------------------------------------

    def _ok(self, hr: int, what: str) -> None:
        if hr & _MASK != self.sc.SCARD_S_SUCCESS:
            raise PcscError(what, hr)

    def _establish(self) -> Any:
        hr, ctx = self.sc.SCardEstablishContext(self.sc.SCARD_SCOPE_USER)
        self._ok(hr, "SCardEstablishContext")
        return ctx

    def _release(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            try:
                self.sc.SCardReleaseContext(ctx)
            except Exception:  # noqa: BLE001 - the service may be gone already
                pass
        self._unclaim()

    def _unclaim(self) -> None:
        if self._claimed_name is not None:
            with self._claim_lock:
                self._claimed.discard(self._claimed_name)
            self._claimed_name = None
            self.device_name = ""

    def wake(self) -> None:
        ctx = self._ctx
        if ctx is not None and self.sc is not None:
            try:
                self.sc.SCardCancel(ctx)
            except Exception:  # noqa: BLE001 - best effort
                pass

    # --- loop -------------------------------------------------------------------------

    def run_loop(self) -> None:
        if self.sc is None:
            try:
                self.sc = _scard()
            except RuntimeError as exc:
                self.set_state("error", str(exc))
                self.sleep(30.0)
                return
        try:
            self._ctx = self._establish()
        except PcscError as exc:
            self.set_state("error", f"pcscd not reachable ({exc})")
            self.sleep(self.cfg.poll)
            return
        try:
            while not self.stopping:
                name = self._pick()
                if name is None:
                    self.set_state("absent", f"no PC/SC reader matching {self.cfg.match!r}")
                    if self.sleep(self.cfg.poll):
                        return
                    continue
                self._watch(name)
                self._unclaim()
        except PcscError as exc:
            self.set_state("error", str(exc))
            self.log.info("%s: dropping the PC/SC context to recover", self.name)
            self.sleep(min(self.cfg.poll, 1.0))
        finally:
            self._release()

    def _list(self) -> list[str]:
        hr, names = self.sc.SCardListReaders(self._ctx, [])
        if hr & _MASK == self.sc.SCARD_E_NO_READERS_AVAILABLE & _MASK:
            return []
        self._ok(hr, "SCardListReaders")
        return list(names)

    def _pick(self) -> str | None:
        names = self._list()
        with self._claim_lock:
            for name in names:
                if self.cfg.match and self.cfg.match not in name:
                    continue
                if name in self._claimed:
                    continue
                self._claimed.add(name)
                self._claimed_name = name
                self.device_name = name
                return name
        return None

    def _watch(self, name: str) -> None:
        """Wait for cards on ``name`` until it goes away (returns) or pcscd fails (raises)."""
        sc = self.sc
        current = sc.SCARD_STATE_UNAWARE
        present = False
        counter = -1
        timeout_ms = int(self.cfg.poll * 1000)
        while not self.stopping:
            hr, states = sc.SCardGetStatusChange(self._ctx, timeout_ms, [(name, current)])
            code = hr & _MASK
            if code == sc.SCARD_E_TIMEOUT & _MASK:
                continue
            if code == sc.SCARD_E_CANCELLED & _MASK:
                return
            if code in (sc.SCARD_E_UNKNOWN_READER & _MASK, sc.SCARD_E_READER_UNAVAILABLE & _MASK):
                self.set_state("absent", f"{name} went away")
                return
            self._ok(hr, "SCardGetStatusChange")
            event = states[0][1]
            current = event & ~sc.SCARD_STATE_CHANGED
            if event & (
                sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_UNAVAILABLE | sc.SCARD_STATE_IGNORE
            ):
                self.set_state("absent", f"{name} is unavailable")
                return
            if self.state != "ok":
                self.set_state("ok", name)
            now_present = bool(event & sc.SCARD_STATE_PRESENT) and not event & sc.SCARD_STATE_MUTE
            new_counter = (event >> 16) & 0xFFFF
            if now_present and (not present or new_counter != counter):
                uid = self._read_uid(name)
                for _ in range(READ_RETRIES):  # a card swept past quickly may fail once
                    if uid or self.stopping:
                        break
                    self.sleep(0.1)
                    uid = self._read_uid(name)
                if uid:
                    self.emit(uid)
            present = now_present
            counter = new_counter

    def _read_uid(self, name: str) -> str | None:
        sc = self.sc
        protocols = sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
        hr, card, protocol = sc.SCardConnect(self._ctx, name, sc.SCARD_SHARE_SHARED, protocols)
        code = hr & _MASK
        if code in (
            sc.SCARD_W_REMOVED_CARD & _MASK,
            sc.SCARD_W_UNRESPONSIVE_CARD & _MASK,
            sc.SCARD_E_NO_SMARTCARD & _MASK,
            sc.SCARD_W_UNPOWERED_CARD & _MASK,
        ):
            self.log.info("%s: card left before it could be read", self.name)
            return None
        self._ok(hr, "SCardConnect")
        try:
            hr, response = sc.SCardTransmit(card, protocol, GET_UID)
            if hr & _MASK != sc.SCARD_S_SUCCESS:
                self.log.warning("%s: GET DATA failed: %s", self.name, PcscError("transmit", hr))
                return None
        finally:
            sc.SCardDisconnect(card, sc.SCARD_LEAVE_CARD)
        data = bytes(response)
        if len(data) < 3 or data[-2:] != b"\x90\x00":
            self.log.warning("%s: card refused GET DATA (answer %s)", self.name, data.hex())
            return None
        return data[:-2].hex().upper()

    @classmethod
    def discover(cls) -> list[str]:
        sc = _scard()
        hr, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        if hr & _MASK != sc.SCARD_S_SUCCESS:
            return []
        try:
            hr, names = sc.SCardListReaders(ctx, [])
            return list(names) if hr & _MASK == sc.SCARD_S_SUCCESS else []
        finally:
            sc.SCardReleaseContext(ctx)
