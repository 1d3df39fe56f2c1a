"""A real Odoo with ``multipas_cards`` (demo data) on a free port, for end-to-end tests.

The database is built once per session (``-i multipas_cards --stop-after-init``), then
served by a separate ``odoo`` process that tests may stop and start again (to play a
server outage). Everything is dropped at the end, whatever happens.

For working on these tests: ``KEEP_DB=1`` keeps the database (its name is printed) and
``E2E_DB=<name>`` reuses such a database instead of building one (it is kept too).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VAR = REPO / "var"
DEVICES_SRC = REPO / "devices" / "src"
if str(DEVICES_SRC) not in sys.path:
    sys.path.insert(0, str(DEVICES_SRC))

from multipas_box.testing import Pcscd, PcscdError  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def odoo_addons_path() -> str:
    """Odoo's own addons folders (source or packaged layout) plus ours, found without
    importing Odoo into the test process."""
    spec = importlib.util.find_spec("odoo")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("Odoo 18 is not importable: install it first (README prerequisites)")
    package = Path(next(iter(spec.submodule_search_locations))).resolve()
    paths = [p for p in (package / "addons", package.parent / "addons") if p.is_dir()]
    return ",".join(str(p) for p in [*paths, REPO / "addons"])


def child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(DEVICES_SRC), env.get("PYTHONPATH")]))
    return env


class OdooServer:
    def __init__(self, workdir: Path, db: str = "") -> None:
        self.db = db or f"e2e_box_{os.getpid()}_{int(time.time())}"
        self.workdir = workdir
        # the filestore goes with the database: kept under var/ when the database is
        self.data_dir = (
            VAR / "e2e-data" if db or os.environ.get("KEEP_DB") else workdir / "odoo-data"
        )
        self.log = workdir / "odoo.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.addons_path = odoo_addons_path()
        self.proc: subprocess.Popen[bytes] | None = None

    def _base(self) -> list[str]:
        return [
            sys.executable, "-m", "odoo",
            "-d", self.db,
            f"--addons-path={self.addons_path}",
            f"--data-dir={self.data_dir}",
            f"--db-filter=^{self.db}$",
            "--workers=0",
            "--max-cron-threads=0",
            f"--http-port={self.port}",
            "--log-level=warn",
        ]  # fmt: skip

    def create(self) -> None:
        VAR.mkdir(exist_ok=True)
        with self.log.open("ab") as log:
            done = subprocess.run(
                [*self._base(), "-i", "multipas_cards", "--stop-after-init"],
                cwd=VAR,
                env=child_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=1800,
                check=False,
            )
        if done.returncode != 0:
            pytest.fail(f"installing multipas_cards failed:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self, timeout: float = 120.0) -> None:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            self._base(),
            cwd=VAR,
            env=child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"odoo exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/web/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"odoo did not answer on {self.url}:\n{self.tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def drop(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "odoo", "db", f"--data-dir={self.data_dir}", "drop", self.db],
            cwd=VAR,
            env=child_env(),
            capture_output=True,
            check=False,
            timeout=120,
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- XML-RPC as admin -----------------------------------------------------------

    def execute(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        common = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/common", allow_none=True)
        uid = common.authenticate(self.db, "admin", "admin", {})
        if not uid:
            pytest.fail("admin/admin cannot log in to the e2e database")
        models = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/object", allow_none=True)
        return models.execute_kw(self.db, uid, "admin", model, method, list(args), kwargs)


@pytest.fixture(scope="session")
def odoo_server() -> Iterator[OdooServer]:
    workdir = Path(tempfile.mkdtemp(prefix="multipas-e2e-"))
    reuse = os.environ.get("E2E_DB", "")
    keep = bool(reuse or os.environ.get("KEEP_DB"))
    server = OdooServer(workdir, reuse)
    try:
        if not reuse:
            server.create()
        server.start()
        yield server
    finally:
        server.stop()
        if keep:
            sys.stderr.write(f"\ne2e: kept database {server.db} (E2E_DB={server.db} to reuse)\n")
        else:
            server.drop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd"))
    try:
        daemon.start()
    except PcscdError as exc:
        pytest.fail(str(exc))
    try:
        yield daemon
    finally:
        daemon.stop()
