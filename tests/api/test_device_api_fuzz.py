"""Fuzz the device API (DESIGN.md §4) with schemathesis against a real Odoo.

A fresh database gets ``multipas_cards`` with its demo data in an Odoo server
of its own (free port, one worker). As admin, over XML-RPC, the test generates
the key of a demo till and puts the card of the document's example UID into
that till's school. Then schemathesis runs every phase (examples, coverage,
fuzzing) against ``/multipas/device/v1/openapi.json`` with that key and every
check it has: no 5xx, every answer conforms to the document (status, content
type, headers, body schema), invalid data is refused, a missing key is 401,
undocumented methods are 405. The server log must stay free of errors.

``test_harness_fails_on_server_errors`` proves the harness itself: the same
schemathesis run against a stub that answers 500 must fail.

Takes ~1 min for schemathesis plus the install (3–4 min on a busy machine).
"""

import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VAR = REPO / "var"
CONFIG = Path(__file__).with_name("schemathesis.toml")
DOCUMENT = REPO / "addons/multipas_cards/static/openapi/device_api_v1.json"
API = "/multipas/device/v1"
EXAMPLE_UID = "04A1B2C3D4"  # the uid example of GET /cards/{uid}
INSTALL_TIMEOUT = 1200
FUZZ_TIMEOUT = 300


def _run_tests():
    """tools/run_tests.py as a module: it knows how to find Odoo and build
    the addons path."""
    spec = importlib.util.spec_from_file_location("run_tests", REPO / "tools/run_tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schemathesis(url, key, extra=()):
    """Run the schemathesis CLI; return (exit code, output)."""
    if importlib.util.find_spec("schemathesis") is None:
        pytest.fail("schemathesis is not installed: pip install -r requirements.txt")
    cmd = [
        sys.executable, "-m", "schemathesis.cli",
        "--no-color", "--config-file", str(CONFIG),
        "run", url,
        "--header", f"Authorization: Bearer {key}",
        "--checks", "all",
        "--max-examples", "30",
        "--seed", "108",
        "--request-timeout", "30",
        "--workers", "1",  # hypothesis + ast in threads trips CPython 3.11
        *extra,
    ]  # fmt: skip
    result = subprocess.run(
        cmd,
        cwd=VAR,
        capture_output=True,
        text=True,
        timeout=FUZZ_TIMEOUT,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def _wait_for(url, proc, log_path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"odoo exited with {proc.returncode} while starting; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(3)
    pytest.fail(f"odoo did not serve {url} within {timeout}s; see {log_path}")


@pytest.fixture(scope="module")
def odoo_server():
    """(base URL, db, XML-RPC models proxy, admin uid, log path) of a fresh
    Odoo with multipas_cards and its demo data; dropped afterwards."""
    run_tests = _run_tests()
    odoo, reason = run_tests.import_odoo()
    if odoo is None:
        pytest.fail(reason)
    db = f"multipas_fuzz_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    data_dir = VAR / "test-data" / db
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = VAR / "log" / "device-api-fuzz-odoo.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = run_tests.free_port()
    cmd = [
        sys.executable, "-m", "odoo",
        "-d", db,
        f"--addons-path={run_tests.odoo_addons_path(odoo)}",
        f"--data-dir={data_dir}",
        "-i", "multipas_cards",
        f"--db-filter=^{db}$",
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        "--workers=0",
        "--max-cron-threads=0",
        "--log-level=info",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w", encoding="utf-8") as log:
        # cwd=var/: the repository root has folders that shadow packages.
        proc = subprocess.Popen(
            cmd, cwd=VAR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for(f"{base}{API}/openapi.json", proc, log_path, INSTALL_TIMEOUT)
        uid = xmlrpc.client.ServerProxy(f"{base}/xmlrpc/2/common").login(db, "admin", "admin")
        assert uid, "admin/admin can't log in: was the demo data loaded?"
        models = xmlrpc.client.ServerProxy(f"{base}/xmlrpc/2/object", allow_none=True)
        yield base, db, models, uid, log_path
    finally:
        run_tests.stop_process_group(proc)
        run_tests.drop_database(db, data_dir)


def test_device_api_conforms_to_its_document(odoo_server):
    """schemathesis finds no server error and no answer that departs from
    the OpenAPI document, on every operation, with a real device key."""
    base, db, models, uid, log_path = odoo_server

    def call(model, method, *args, **kwargs):
        return models.execute_kw(db, uid, "admin", model, method, list(args), kwargs)

    [till] = call("multipas.device", "search_read", [("kind", "=", "till")], ["school_id"], limit=1)
    action = call("multipas.device", "action_generate_key", [till["id"]])
    key = action["context"]["default_key"]
    if not call("multipas.card", "search_count", [("uid", "=", EXAMPLE_UID)]):
        call(
            "multipas.card",
            "create",
            {"number": "FUZZ-0001", "uid": EXAMPLE_UID, "school_id": till["school_id"][0]},
        )
    events_before = call("multipas.device.event", "search_count", [("device_id", "=", till["id"])])

    code, output = _schemathesis(f"{base}{API}/openapi.json", key)
    assert code == 0, f"schemathesis failed (exit {code}):\n{output[-12000:]}"
    # The fuzzer reached the write path: it had events accepted.
    events_after = call("multipas.device.event", "search_count", [("device_id", "=", till["id"])])
    assert events_after > events_before, output[-3000:]
    # Nothing went wrong on the server side either (tracebacks are logged at
    # ERROR even when the answer is a clean 500).
    errors = [
        line
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        if re.search(r" (ERROR|CRITICAL) ", line)
    ]
    assert not errors, "\n".join(errors[:20])


class _FailingApi(http.server.BaseHTTPRequestHandler):
    """Serves the OpenAPI document and answers 500 to every API call."""

    def _answer(self):
        if self.path == f"{API}/openapi.json":
            status, body = 200, DOCUMENT.read_bytes()
        else:
            status = 500
            body = json.dumps({"error": {"code": "internal_error", "message": "boom"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _answer

    def log_message(self, *args):
        pass


def test_harness_fails_on_server_errors():
    """The fuzz run above can fail: against a server that answers 500,
    the same schemathesis invocation exits non-zero and names server errors."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FailingApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{API}/openapi.json"
        code, output = _schemathesis(url, "mpd_" + "x" * 43, extra=["--max-examples", "3"])
    finally:
        server.shutdown()
        server.server_close()
    assert code != 0, output[-3000:]
    assert "Server error" in output, output[-3000:]
