"""Serial EM-Marine (125 kHz) readers through pyserial.

Two framings (``framing`` in the reader's config):

``rdm6300`` (default) — the RDM6300/RDM630 module and its clones, 9600 8N1, 14 bytes::

    0x02 | 10 ASCII hex: 2 version/customer + 8 card number | 2 ASCII hex checksum | 0x03

  The checksum is the XOR of the five data bytes; frames that fail it are dropped. The
  UID is the 10 hex digits (5 bytes, e.g. ``0F00A1B2C3``). Modules repeat the frame while
  the card stays in the field: the reader's ``debounce`` makes that one tap.

``line`` — readers that print the UID as text: ASCII hex digits ended by CR and/or LF,
  optionally wrapped in STX (0x02) … ETX (0x03), e.g. ``\\x02 0F00A1B2C3 \\r\\n \\x03``.
  Anything that is not hex (spaces, STX/ETX, a ``:`` separator) is ignored.

The port is reopened every second while it is missing or fails (USB unplugged).
"""

from __future__ import annotations

from typing import Any

from ..config import ReaderConfig
from .base import OnUid, Reader

STX, ETX = 0x02, 0x03
HEX = b"0123456789ABCDEFabcdef"


def _serial() -> Any:
    import serial  # noqa: PLC0415 - pyserial is imported only by serial drivers

    return serial


class Rdm6300Framer:
    """Turns a byte stream into UIDs; resynchronises on the next STX after garbage."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[str]:
        self.buf.extend(data)
        uids: list[str] = []
        while True:
            start = self.buf.find(STX)
            if start < 0:
                self.buf.clear()
                return uids
            del self.buf[:start]
            if len(self.buf) < 14:
                return uids
            frame = bytes(self.buf[:14])
            body = frame[1:13]
            if frame[13] != ETX or any(ch not in HEX for ch in body):
                self.bad_frames += 1
                del self.buf[:1]  # look for the next STX
                continue
            del self.buf[:14]
            data_bytes = bytes.fromhex(body[:10].decode("ascii"))
            checksum = int(body[10:12].decode("ascii"), 16)
            xor = 0
            for byte in data_bytes:
                xor ^= byte
            if xor != checksum:
                self.bad_frames += 1
                continue
            uids.append(data_bytes.hex().upper())


class LineFramer:
    """Hex text ended by CR/LF; STX/ETX and separators are ignored."""

    def __init__(self, max_len: int = 64) -> None:
        self.buf = bytearray()
        self.max_len = max_len
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[str]:
        uids: list[str] = []
        for byte in data:
            if byte in (0x0D, 0x0A, ETX):
                if self.buf:
                    uids.append(self.buf.decode("ascii").upper())
                    self.buf.clear()
            elif byte in HEX:
                if len(self.buf) >= self.max_len:
                    self.bad_frames += 1
                    self.buf.clear()
                self.buf.append(byte)
        return uids


def make_framer(framing: str) -> Rdm6300Framer | LineFramer:
    return Rdm6300Framer() if framing == "rdm6300" else LineFramer()


class SerialReader(Reader):
    kind = "serial"

    def __init__(self, cfg: ReaderConfig, on_uid: OnUid) -> None:
        super().__init__(cfg, on_uid)
        self.serial = _serial()
        self.device_name = cfg.device

    def run_loop(self) -> None:
        serial = self.serial
        try:
            port = serial.serial_for_url(self.cfg.device, baudrate=self.cfg.baudrate, timeout=0.2)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.set_state("absent", f"cannot open {self.cfg.device}: {exc}")
            self.sleep(1.0)
            return
        framer = make_framer(self.cfg.framing)
        self.set_state("ok", f"{self.cfg.device} ({self.cfg.framing})")
        try:
            while not self.stopping:
                try:
                    data = port.read(64)
                except (serial.SerialException, OSError) as exc:
                    self.set_state("error", f"{self.cfg.device}: {exc}")
                    self.sleep(1.0)
                    return
                if data:
                    for uid in framer.feed(data):
                        self.emit(uid)
        finally:
            try:
                port.close()
            except Exception:  # noqa: BLE001 - the device may be gone
                pass

    @classmethod
    def discover(cls) -> list[str]:
        try:
            from serial.tools import list_ports  # noqa: PLC0415
        except ImportError:  # pragma: no cover
            return []
        return [f"{p.device} ({p.description})" for p in list_ports.comports()]
