"""A virtual contactless card for vsmartcard's ``vpcd`` reader driver (tests and demos).

vpcd (Debian ``vsmartcard-vpcd``, loaded by pcscd) listens on TCP (35963 by default,
the port is the number after ``:`` in its reader.conf ``DEVICENAME``). A card *is* a
TCP client: connecting puts it on the reader, closing takes it off. Every message both
ways is a 2-byte big-endian length and a payload; a 1-byte payload from vpcd is a
control code (0 power off, 1 power on, 2 reset, 4 "send your ATR"), a longer one is an
APDU the card must answer.

This card answers ``FF CA 00 00 00`` (PC/SC GET DATA: UID) with its UID + ``90 00`` and
everything else with ``6D 00`` (instruction not supported). Its ATR is the PC/SC part 3
ATR of a MIFARE Classic 1K seen through a contactless reader.

``TCP_QUICKACK`` is set again around every read: without it each exchange waits ~40 ms
for a delayed ACK. pcscd polls readers every 400 ms, so leave ≥ 0.5 s between taking
one card off and putting the next on.

Command line: ``python -m multipas_box.vcard --uid 04A1B2C3D4 [--port 35963] [--hold 1]``.
"""

from __future__ import annotations

import argparse
import logging
import socket
import struct
import threading
import time

log = logging.getLogger("multipas_box.vcard")

DEFAULT_PORT = 35963
ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA000000")
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


def _quickack(sock: socket.socket) -> None:
    if hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


class VirtualCard:
    """One card; :meth:`insert` puts it on the reader, :meth:`remove` takes it off."""

    def __init__(self, uid: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.uid = bytes.fromhex(uid)
        self.host = host
        self.port = port
        self.apdus: list[bytes] = []  # every APDU received (tests look at them)
        self.powered = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self, timeout: float = 10.0) -> None:
        """Connect to vpcd, retrying while it is not listening yet (pcscd starting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _quickack(sock)
        sock.settimeout(None)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    def remove(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        self.powered = False

    def tap(self, hold: float = 1.0) -> None:
        """Put the card on the reader for ``hold`` seconds."""
        self.insert()
        time.sleep(hold)
        self.remove()

    def answer(self, apdu: bytes) -> bytes:
        self.apdus.append(apdu)
        if apdu[:4] == GET_UID[:4]:
            return self.uid + b"\x90\x00"
        return b"\x6d\x00"

    def _recv(self, sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            _quickack(sock)
            chunk = sock.recv(size - len(data))
            _quickack(sock)
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                (length,) = struct.unpack(">H", self._recv(sock, 2))
                payload = self._recv(sock, length)
                if length == 1:
                    code = payload[0]
                    if code == CTRL_ATR:
                        self._send(sock, ATR)
                    elif code in (CTRL_ON, CTRL_RESET):
                        self.powered = True
                    elif code == CTRL_OFF:
                        self.powered = False
                    continue
                self._send(sock, self.answer(payload))
        except (EOFError, OSError):
            return

    @staticmethod
    def _send(sock: socket.socket, payload: bytes) -> None:
        sock.sendall(struct.pack(">H", len(payload)) + payload)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Tap a virtual card on vpcd's reader.")
    parser.add_argument("--uid", required=True, help="hex UID, e.g. 04A1B2C3D4")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--hold", type=float, default=1.0, help="seconds on the reader")
    args = parser.parse_args(argv)
    VirtualCard(args.uid, args.host, args.port).tap(args.hold)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
