"""Fixtures of the box's tests: a real pcscd with vpcd, a fake device-API server, configs."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from multipas_box.config import Config, from_dict
from multipas_box.fakeserver import FakeDeviceServer
from multipas_box.testing import Pcscd, PcscdError

SRC = Path(__file__).resolve().parent.parent / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    """The machine's one pcscd, ours for the session. Never skipped: no pcscd = failure."""
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd"))
    try:
        daemon.start()
    except PcscdError as exc:
        pytest.fail(str(exc))
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
