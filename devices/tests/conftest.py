"""Fixtures of the box's tests: a real pcscd with vpcd, a fake device-API server, configs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from multipas_box.config import Config, from_dict
from multipas_box.fakeserver import FakeDeviceServer

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SRC = Path(__file__).resolve().parent.parent / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """A port whose next one is free too (vpcd listens on both)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket() as sock:
                sock.bind(("0.0.0.0", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of ports")


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def make_config(tmp_path: Path, **sections: Any) -> Config:
    """A Config with its data in ``tmp_path`` and the local API off unless asked for."""
    data: dict[str, Any] = {
        "box": {"name": "test-box", "data_dir": str(tmp_path / "data"), "log_level": "DEBUG"},
        "local_api": {"enabled": False, "port": 0},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return from_dict(data, "test")


# --- PC/SC ----------------------------------------------------------------------------


class Pcscd:
    """pcscd in the foreground with one vpcd reader on a port of our own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.confdir = workdir / "reader.conf.d"
        self.port = free_port_pair()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "pcscd.log"
        # vpcd makes two slots: "Virtual PCD 00 00" on port, "… 00 01" on port + 1
        self.reader_name = "Virtual PCD 00 00"

    def write_config(self) -> None:
        self.confdir.mkdir(parents=True, exist_ok=True)
        (self.confdir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.port}\n",
            encoding="ascii",
        )

    def start(self) -> None:
        binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        if not Path(binary).exists():
            pytest.fail(
                "pcscd is not installed: run `make setup` (Debian packages pcscd, vsmartcard-vpcd)"
            )
        if not VPCD_DRIVER.exists():
            pytest.fail(f"{VPCD_DRIVER} missing: run `make setup` (Debian package vsmartcard-vpcd)")
        self.write_config()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--foreground", "--config", str(self.confdir.resolve())],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"pcscd exited with {self.proc.returncode} (another pcscd running?):\n"
                    + self.log.read_text(errors="replace")[-2000:]
                )
            if self.reader_name in self.readers():
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(
            "pcscd started but shows no vpcd reader:\n"
            + self.log.read_text(errors="replace")[-2000:]
        )

    @staticmethod
    def readers() -> list[str]:
        from smartcard import scard  # noqa: PLC0415

        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            return []
        try:
            hr, names = scard.SCardListReaders(ctx, [])
            return list(names) if hr == scard.SCARD_S_SUCCESS else []
        finally:
            scard.SCardReleaseContext(ctx)

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


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    """The machine's one pcscd, ours for the session. Never skipped: no pcscd = failure."""
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd"))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


# --- fake server ------------------------------------------------------------------------


@pytest.fixture
def fake_server() -> Iterator[FakeDeviceServer]:
    server = FakeDeviceServer(key="test-key")
    try:
        yield server
    finally:
        server.go_down()


@pytest.fixture
def python() -> str:
    return sys.executable
