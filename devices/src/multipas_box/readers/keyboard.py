"""USB keyboard-wedge readers (they "type" the card number and press Enter), via evdev.

The device is grabbed exclusively (``grab = true``), so the typed numbers go to the box
only and not into whatever window has the focus. ``uid_format`` says what the reader
types: ``hex`` (the UID as hex digits) or ``decimal`` — EM-Marine readers often type
the 32-bit card number in decimal (``0012345678``, sent as 8 hex digits ``00BC614E``)
or the Wiegand-26 pair ``facility,number`` (``123,45678`` → ``007BB26E``, the same
24-bit value the decimal form ``0008106606`` gives).

evdev (Linux only) is imported when such a reader starts; the decoding itself is plain
Python (:class:`KeyDecoder`) and tested without a device.
"""

from __future__ import annotations

import select
from typing import Any

from ..config import ReaderConfig
from .base import OnUid, Reader

_DIGITS = {f"KEY_{d}": d for d in "0123456789"} | {f"KEY_KP{d}": d for d in "0123456789"}
_HEX_LETTERS = {f"KEY_{c}": c for c in "ABCDEF"}
_ENTER = {"KEY_ENTER", "KEY_KPENTER"}
_COMMA = {"KEY_COMMA", "KEY_KPCOMMA", "KEY_DOT", "KEY_KPDOT"}
KNOWN_KEYS = set(_DIGITS) | set(_HEX_LETTERS) | _ENTER | _COMMA


def decimal_to_uid(text: str) -> str | None:
    """``0012345678`` → ``00BC614E``; ``123,45678`` → ``007BB26E``; None if malformed."""
    if "," in text:
        facility, _, number = text.partition(",")
        if not (facility.isdigit() and number.isdigit()):
            return None
        fc, num = int(facility), int(number)
        if fc > 0xFF or num > 0xFFFF:
            return None
        return f"00{fc:02X}{num:04X}"
    if not text.isdigit():
        return None
    value = int(text)
    width = 8 if value <= 0xFFFFFFFF else len(f"{value:X}") + len(f"{value:X}") % 2
    return f"{value:0{width}X}"


class KeyDecoder:
    """Collects key names (``KEY_1``…) until Enter and returns the typed UID."""

    def __init__(self, uid_format: str = "hex", max_len: int = 64) -> None:
        self.uid_format = uid_format
        self.max_len = max_len
        self.buf: list[str] = []

    def feed(self, key: str) -> str | None:
        if key in _ENTER:
            text, self.buf = "".join(self.buf), []
            if not text:
                return None
            if self.uid_format == "decimal":
                return decimal_to_uid(text)
            return text if all(ch in "0123456789ABCDEF" for ch in text) else None
        char = _DIGITS.get(key)
        if char is None and self.uid_format == "hex":
            char = _HEX_LETTERS.get(key)
        if char is None and self.uid_format == "decimal" and key in _COMMA:
            char = ","
        if char is not None:
            if len(self.buf) >= self.max_len:
                self.buf = []
            self.buf.append(char)
        return None


def _evdev() -> Any:
    try:
        import evdev  # noqa: PLC0415 - optional, Linux only
    except ImportError as exc:
        raise RuntimeError("evdev is not installed (pip install evdev)") from exc
    return evdev


class KeyboardReader(Reader):
    kind = "keyboard"

    def __init__(self, cfg: ReaderConfig, on_uid: OnUid) -> None:
        super().__init__(cfg, on_uid)
        self.evdev: Any = None

    def _open(self) -> Any:
        evdev = self.evdev
        if self.cfg.device:
            return evdev.InputDevice(self.cfg.device)
        for path in evdev.list_devices():
            device = evdev.InputDevice(path)
            if self.cfg.match and self.cfg.match.lower() in device.name.lower():
                return device
            device.close()
        return None

    def run_loop(self) -> None:
        if self.evdev is None:
            try:
                self.evdev = _evdev()
            except RuntimeError as exc:
                self.set_state("error", str(exc))
                self.sleep(30.0)
                return
        try:
            device = self._open()
        except OSError as exc:
            self.set_state("absent", f"cannot open {self.cfg.device or self.cfg.match}: {exc}")
            self.sleep(2.0)
            return
        if device is None:
            self.set_state("absent", f"no input device matching {self.cfg.match!r}")
            self.sleep(2.0)
            return
        self.device_name = f"{device.path} ({device.name})"
        ecodes = self.evdev.ecodes
        decoder = KeyDecoder(self.cfg.uid_format)
        try:
            if self.cfg.grab:
                device.grab()
            self.set_state("ok", self.device_name)
            while not self.stopping:
                ready, _, _ = select.select([device.fd], [], [], 0.5)
                if not ready:
                    continue
                for event in device.read():
                    if event.type != ecodes.EV_KEY or event.value != 1:  # key down only
                        continue
                    names = ecodes.KEY.get(event.code, "")
                    names = names if isinstance(names, list) else [names]
                    name = next((n for n in names if n in KNOWN_KEYS), None)
                    uid = decoder.feed(name) if name else None
                    if uid:
                        self.emit(uid)
        except OSError as exc:  # unplugged: ENODEV
            self.set_state("absent", f"{self.device_name}: {exc}")
            self.sleep(1.0)
        finally:
            try:
                if self.cfg.grab:
                    device.ungrab()
            except OSError:
                pass
            device.close()

    @classmethod
    def discover(cls) -> list[str]:
        try:
            evdev = _evdev()
        except RuntimeError:
            return []
        found = []
        for path in evdev.list_devices():
            try:
                device = evdev.InputDevice(path)
            except OSError:
                continue
            found.append(f"{path} ({device.name})")
            device.close()
        return found
