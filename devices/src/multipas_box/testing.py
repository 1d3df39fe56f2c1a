"""Helpers for tests and demos that need a real PC/SC stack: a private pcscd with vpcd.

:class:`Pcscd` writes a reader.conf for vpcd on a port of its own choosing and runs
``pcscd --foreground --config <that dir>``. pcsc-lite allows one pcscd per machine
(fixed socket and pid file under /run/pcscd), so :meth:`Pcscd.start` raises
:class:`PcscdError` when another one is running: a test must fail then, not skip.
Cards are :class:`multipas_box.vcard.VirtualCard` objects on ``pcscd.port``.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER_NAME = "Virtual PCD 00 00"  # vpcd's first slot (port); "… 00 01" is port + 1
CARD_GAP = 0.6  # pcscd polls every 400 ms: wait this long between two cards


class PcscdError(RuntimeError):
    pass


def free_port_pair() -> int:
    """A free TCP port whose next one is free too (vpcd listens on both)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        try:
            with socket.socket() as sock:
                sock.bind(("0.0.0.0", port + 1))
            return port
        except OSError:
            continue
    raise PcscdError("no free pair of TCP ports for vpcd")


def pcsc_readers() -> list[str]:
    """Names of the PC/SC readers pcscd shows now ([] when it does not answer)."""
    from smartcard import scard  # noqa: PLC0415

    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return []
    try:
        hr, names = scard.SCardListReaders(ctx, [])
        return list(names) if hr == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(ctx)


class Pcscd:
    """pcscd in the foreground with one vpcd reader (two slots) on a port of our own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.confdir = self.workdir / "reader.conf.d"
        self.port = free_port_pair()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / "pcscd.log"
        self.reader_name = READER_NAME

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        if not Path(binary).exists():
            raise PcscdError("pcscd is not installed: run `make setup` (Debian package pcscd)")
        if not VPCD_DRIVER.exists():
            raise PcscdError(f"{VPCD_DRIVER} is missing: run `make setup` (vsmartcard-vpcd)")
        self.confdir.mkdir(parents=True, exist_ok=True)
        (self.confdir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.port}\n",
            encoding="ascii",
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--foreground", "--config", str(self.confdir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise PcscdError(
                    f"pcscd exited with {code} (is another pcscd running?):\n{self._log_tail()}"
                )
            if self.reader_name in pcsc_readers():
                return
            time.sleep(0.1)
        self.stop()
        raise PcscdError(f"pcscd started but shows no vpcd reader:\n{self._log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self) -> None:
        self.stop()
        time.sleep(0.3)
        self.start()
