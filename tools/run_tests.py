#!/usr/bin/env python3
"""Run every Multipas test suite and close with one line: ``N passed, N failed``.

Suites, in order:

1. Odoo: a throw-away database, every installable addon of ``addons/`` installed in
   ONE ``odoo --test-enable --stop-after-init`` run with demo data, tests restricted to
   our own addons (dependencies' tests do not run). The log is teed to
   ``var/log/odoo-tests.log``; the counts come from it.
2. pytest in ``devices/`` (the box software) and ``tests/`` (end to end), when present.

Odoo's own summary treats a skipped test as a success, and Odoo skips every browser
test when Chromium or websocket-client is missing. This runner counts as a failure:
a browser-related skip, any ERROR/CRITICAL log record that Odoo's test result does not
already count, an odoo exit code it cannot explain, an addon that did not install,
and a run of 0 tests while the addons have test files.

Environment:
  ADDONS=a,b              install and test only these addons (default: all installable)
  TEST_TAGS=...           value for --test-tags (default: /addon1,/addon2,...)
  KEEP_DB=1               keep the test database and its data dir for inspection
  MULTIPAS_ADDONS_DIR=dir test the addons of another folder (used to check this runner)
  ODOO_TEST_TIMEOUT=s     kill the odoo run after this many seconds (default 3600)
  NO_CHROME_WRAPPER=1     do not put tools/bin first on PATH (used to check this runner)

Options (for the Makefile): --list-addons, --addons-path.
"""

import ast
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "var"
ODOO_LOG = VAR / "log" / "odoo-tests.log"
TOOLS_BIN = REPO / "tools" / "bin"

# --- what Odoo 18 logs (odoo/netsvc.py, odoo/tests/result.py, odoo/modules/loading.py,
# odoo/service/server.py, odoo/tests/common.py) ----------------------------------------

# '%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s %(perf_info)s'
RECORD_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL|NOTSET|\S+) (?P<db>\S+) "
    r"(?P<logger>[^\s:]+): (?P<msg>.*)$"
)
# odoo.tests.result, once per database at the end of a --stop-after-init run.
SUMMARY_RE = re.compile(
    r"^(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<run>\d+) tests "
    r"when loading database"
)
# OdooTestResult.startTest / addSkip / logError, on the test module's logger.
STARTING_RE = re.compile(r"^Starting (?P<desc>.+) \.\.\.$")
SKIPPED_RE = re.compile(r"^skipped (?P<desc>.+?) : (?P<reason>.*)$")
FAILURE_RE = re.compile(r"^(?P<kind>FAIL|ERROR): (?P<desc>.+)$")
# Lines Odoo logs at ERROR level about failures its result already counts.
COUNTED_ELSEWHERE = [
    ("odoo.modules.loading", re.compile(r"^Module \S+: \d+ failures, \d+ errors of \d+ tests$")),
    ("odoo.modules.loading", re.compile(r"^At least one test failed when loading the modules\.$")),
    ("odoo.tests.result", SUMMARY_RE),
    ("odoo.service.server", re.compile(r": at least one error occurred in a test$")),
]
# Every SkipTest raised around the browser in odoo/tests/common.py: no executable,
# no websocket-client, no devtools port, no page target, no connection.
BROWSER_SKIP_RE = re.compile(r"chrome|chromium|browser|websocket|devtools", re.IGNORECASE)
# Descriptions of class/module-level fixtures (odoo/tests/suite.py `_ErrorHolder`).
CLASS_LEVEL = ("setUpClass", "tearDownClass", "setUpModule", "tearDownModule")
MODULE_LOADED_RE = re.compile(r"^Module (?P<name>\S+) loaded in ")
LOADING_MODULE_RE = re.compile(r"^Loading module (?P<name>\S+) \(\d+/\d+\)$")
# Messages worth showing on stdout while the run goes on (the log file has everything).
PROGRESS_RE = re.compile(
    r"^(skipped |Chrome pid|.*tour succeeded|loading \d+ modules|Loading module |"
    r"Modules loaded|Starting post tests|\d+ post-tests in|running tests )"
)
TEST_LOGGER_RE = re.compile(r"(^|\.)tests(\.|$)|^odoo\.upgrade\.|^unittest\b")

# Installed with the addons though no manifest depends on them: payment_demo is the
# payment provider the parents' cabinet tests (and `make demo`) top up with; a real
# operator enables a real provider instead, so the addon must not depend on it.
EXTRA_MODULES = ["payment_demo"]

MAX_TRACE_LINES = 40  # continuation lines of an ERROR record echoed to stdout
MAX_WARNINGS = 100  # WARNING records echoed to stdout; the rest stay in the log file


def say(text=""):
    print(text, flush=True)


# --- addons ---------------------------------------------------------------------------


def addons_dir():
    return Path(os.environ.get("MULTIPAS_ADDONS_DIR") or REPO / "addons").resolve()


def installable_addons(folder):
    """Names of the addons in ``folder`` whose manifest does not say installable=False."""
    names = []
    if not folder.is_dir():
        return names
    for manifest in sorted(folder.glob("*/__manifest__.py")):
        try:
            data = ast.literal_eval(manifest.read_text(encoding="utf-8"))
        except (SyntaxError, ValueError) as exc:
            raise SystemExit(f"run_tests: cannot read {manifest}: {exc}") from exc
        if data.get("installable", True):
            names.append(manifest.parent.name)
    return names


def selected_addons():
    folder = addons_dir()
    available = installable_addons(folder)
    wanted = [a.strip() for a in os.environ.get("ADDONS", "").split(",") if a.strip()]
    if not wanted:
        return available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise SystemExit(f"run_tests: ADDONS names no installable addon in {folder}: {unknown}")
    return wanted


def has_test_files(addons):
    folder = addons_dir()
    return any(any((folder / a / "tests").glob("test_*.py")) for a in addons)


def import_odoo():
    """Return (odoo module, None) or (None, reason)."""
    try:
        import odoo.release  # noqa: PLC0415 - the check itself is the point
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable Odoo"
        return None, f"cannot import odoo ({type(exc).__name__}: {exc})"
    if odoo.release.version_info[0] != 18:
        return None, f"odoo {odoo.release.version} is installed, Multipas needs 18.0"
    return odoo, None


def odoo_addons_path(odoo):
    """Odoo's own addons folders (source and packaged layouts) plus ours."""
    package = Path(odoo.__file__).resolve().parent
    paths = [p for p in (package / "addons", package.parent / "addons") if p.is_dir()]
    return ",".join(str(p) for p in [*paths, addons_dir()])


# --- Odoo log parsing -----------------------------------------------------------------


class OdooLog:
    """Reads odoo's log line by line, echoes a readable progress and keeps the counts."""

    def __init__(self, started_at):
        self.started_at = started_at
        self.summary = None  # (failed, errors, run) from odoo.tests.result
        self.skips = []  # (description, reason)
        self.browser_skips = []
        self.reported_failed = set()  # test descriptions Odoo reported as FAIL/ERROR
        self.logged_errors = {}  # test description -> ERROR lines logged while it ran
        self.stray_errors = []  # ERROR/CRITICAL lines logged outside any test
        self.loaded_modules = set()
        self.chrome_starts = 0
        self.current_test = None
        self.warnings_shown = 0
        self.last_output = time.monotonic()
        self._record = None  # (level, logger, message, continuation lines)

    # Echo -----------------------------------------------------------------------------

    def echo(self, text):
        elapsed = time.monotonic() - self.started_at
        say(f"[{elapsed:5.0f}s] {text}")
        self.last_output = time.monotonic()

    def heartbeat(self, lines):
        if time.monotonic() - self.last_output >= 60:
            self.echo(f"... still running ({lines} log lines so far, see {ODOO_LOG})")

    # Parsing --------------------------------------------------------------------------

    def feed(self, line):
        match = RECORD_RE.match(line)
        if match:
            self._close_record()
            msg = match["msg"].rstrip()
            self._record = (match["level"], match["logger"], msg, [])
        elif line.startswith("Exception in thread") or (
            self._record is None and line.startswith("Traceback")
        ):
            # Python printed a crash outside logging: an uncaught exception in a thread,
            # or one before logging was set up.
            self._close_record()
            self._record = ("CRITICAL", "stderr", line, [])
        elif self._record is not None:
            self._record[3].append(line)  # traceback or multi-line message
        elif line.strip():
            self.echo(line)

    def finish(self):
        self._close_record()
        self.current_test = None

    def _close_record(self):
        if self._record is None:
            return
        level, logger, msg, more = self._record
        self._record = None
        self._classify(level, logger, msg, more)

    def _classify(self, level, logger, msg, more):
        short = logger.removeprefix("odoo.addons.")
        head = f"{level} {short}: {msg}"
        is_test_logger = bool(TEST_LOGGER_RE.search(logger))
        self._track(logger, msg, is_test_logger)
        if level in ("ERROR", "CRITICAL"):
            self._classify_error(logger, msg, is_test_logger, head)
            self.echo(head)
            for extra in more[:MAX_TRACE_LINES]:
                say(f"        {extra}")
            if len(more) > MAX_TRACE_LINES:
                say(f"        ... {len(more) - MAX_TRACE_LINES} more lines in {ODOO_LOG}")
        elif level == "WARNING":
            self.warnings_shown += 1
            if self.warnings_shown <= MAX_WARNINGS:
                self.echo(head[:300])
            elif self.warnings_shown == MAX_WARNINGS + 1:
                self.echo(f"(more warnings are only in {ODOO_LOG})")
        elif (
            logger in ("odoo.tests.stats", "odoo.tests.result")
            or PROGRESS_RE.match(msg)
            or (is_test_logger and STARTING_RE.match(msg))
        ):
            self.echo(head[:300])

    def _track(self, logger, msg, is_test_logger):
        """Update the counts and which test is running from one record."""
        if logger == "odoo.tests.result" and (m := SUMMARY_RE.match(msg)):
            self.summary = (int(m["failed"]), int(m["errors"]), int(m["run"]))
        if m := MODULE_LOADED_RE.match(msg):
            self.loaded_modules.add(m["name"])
        # Module loading, post-install start and the final report happen between
        # tests: whatever is logged then is no test's doing.
        if (
            (logger == "odoo.modules.loading" and LOADING_MODULE_RE.match(msg))
            or MODULE_LOADED_RE.match(msg)
            or logger in ("odoo.tests.result", "odoo.tests.stats")
            or msg.startswith("Starting post tests")
        ):
            self.current_test = None
        if msg.startswith("Chrome pid:"):
            self.chrome_starts += 1
        if not is_test_logger:
            return
        if m := STARTING_RE.match(msg):
            self.current_test = m["desc"]
        elif m := SKIPPED_RE.match(msg):
            self.skips.append((m["desc"], m["reason"]))
            if BROWSER_SKIP_RE.search(m["reason"]):
                self.browser_skips.append(f"{logger.removeprefix('odoo.addons.')}: {msg}")

    def _classify_error(self, logger, msg, is_test_logger, head):
        failure = FAILURE_RE.match(msg) if is_test_logger else None
        if failure:
            # Already counted by Odoo as a failure or an error of that test.
            desc = failure["desc"]
            if desc.startswith("Subtest "):  # 'Subtest Class.method (params)'
                desc = desc.removeprefix("Subtest ").split(" ", 1)[0]
            self.reported_failed.add(desc)
            return
        if any(logger == name and rx.search(msg) for name, rx in COUNTED_ELSEWHERE):
            return
        if self.current_test:
            self.logged_errors.setdefault(self.current_test, []).append(head)
        else:
            self.stray_errors.append(head)


# --- Odoo suite -------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(path_first=True):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if path_first and os.environ.get("NO_CHROME_WRAPPER") != "1":
        # Odoo looks for `google-chrome` first: ours adds a host rule (see the wrapper).
        env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def stop_process_group(proc):
    """Stop odoo and the Chromium it may have started (same process group)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def kill_leftovers(proc):
    """Kill what is left of odoo's process group once odoo itself has exited."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def drop_database(db, data_dir):
    """Drop the test database and its filestore through Odoo's own `db drop`."""
    result = subprocess.run(
        [sys.executable, "-m", "odoo", "db", f"--data-dir={data_dir}", "drop", db],
        cwd=VAR,
        env=child_env(path_first=False),
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(data_dir, ignore_errors=True)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:]
        say(f"note: could not drop database {db}: {' '.join(last) or result.returncode}")
    else:
        say(f"dropped database {db}")


def odoo_command(odoo, db, data_dir, addons, tags):
    return [
        sys.executable, "-m", "odoo",
        "-d", db,
        f"--addons-path={odoo_addons_path(odoo)}",
        f"--data-dir={data_dir}",
        "-i", ",".join([*addons, *EXTRA_MODULES]),
        "--test-enable",
        f"--test-tags={tags}",
        "--stop-after-init",
        "--workers=0",
        "--max-cron-threads=0",
        f"--http-port={free_port()}",
        f"--screenshots={VAR / 'screenshots'}",
        "--log-level=test",
    ]  # fmt: skip


def stream_odoo(cmd, log, timeout):
    """Run odoo, tee its output to ODOO_LOG and feed it to ``log``.

    Returns (exit code, timed out?).
    """
    # cwd=var/: `python -m` puts the cwd first on sys.path, and the repository root
    # has folders (tools/, tests/) that must not shadow importable packages.
    proc = subprocess.Popen(
        cmd,
        cwd=VAR,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # one group with the Chromium it starts, to stop both
    )
    # A reader thread lets the main loop wake up for heartbeats and the timeout.
    lines_q = queue.Queue()

    def pump():
        for raw in proc.stdout:
            lines_q.put(raw)
        lines_q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    started, lines, timed_out = time.monotonic(), 0, False
    try:
        with ODOO_LOG.open("w", encoding="utf-8") as out:
            while True:
                try:
                    raw = lines_q.get(timeout=5)
                except queue.Empty:
                    raw = ""
                    if proc.poll() is not None:
                        # odoo is gone but something it started (a stray Chromium)
                        # still holds its output open: end that group and stop reading.
                        kill_leftovers(proc)
                        break
                # Checked on every turn: a busy log can go a long time without a
                # line worth echoing, and a hung run may still print now and then.
                log.heartbeat(lines)
                if time.monotonic() - started > timeout and not timed_out:
                    timed_out = True
                    stop_process_group(proc)
                if raw is None:
                    break
                if not raw:
                    continue
                out.write(raw)
                lines += 1
                log.feed(raw.rstrip("\n"))
        return proc.wait(), timed_out
    finally:
        stop_process_group(proc)
        kill_leftovers(proc)
        log.finish()


def judge_odoo_run(log, rc, addons):
    """Turn the parsed log into (passed, failed), printing every failure's reason."""
    failed, errors, run = log.summary or (0, 0, 0)
    # Skips of a whole class (setUpClass) are not in Odoo's count of tests run.
    # Odoo's failed/errors also count class-level errors (setUpClass, tearDownClass) and
    # each failing subtest, neither of which is a test of its own in `run`: a test passed
    # when it ran, was not skipped and has no FAIL/ERROR line of its own.
    counted_skips = [s for s in log.skips if not s[0].startswith(CLASS_LEVEL)]
    bad_tests = {d for d in log.reported_failed if not d.startswith(CLASS_LEVEL)}
    holder_errors = len(log.reported_failed) - len(bad_tests)
    n_bad = len(bad_tests) or max(failed + errors - holder_errors, 0)
    passed = max(run - n_bad - len(counted_skips), 0)
    problems = []
    if log.summary is None:
        problems.append(
            "odoo logged no 'N failed, N error(s) of N tests when loading database' line "
            "(it did not finish its test run)"
        )
    # Odoo exits 1 when tests failed; any other non-zero code is unexplained.
    if rc != 0 and not (rc == 1 and failed + errors > 0):
        problems.append(f"odoo exited with code {rc}")
    problems += [
        f"addon {addon} was not installed (no 'Module {addon} loaded' line)"
        for addon in addons
        if addon not in log.loaded_modules
    ]
    if run == 0 and log.summary is not None and has_test_files(addons):
        problems.append("odoo ran 0 tests although the addons have tests/test_*.py files")
    problems += [
        f"browser test skipped (no Chromium/websocket-client?): {x}" for x in log.browser_skips
    ]
    problems += [f"error logged outside any test: {x}" for x in log.stray_errors]
    for desc, heads in log.logged_errors.items():
        if desc in log.reported_failed:
            continue  # that test failed anyway; its error lines are part of the failure
        # Odoo counts the test as passed, but it logged an error: it fails here.
        passed = max(passed - 1, 0)
        problems += [f"test {desc} passed but logged an error: {head}" for head in heads[:1]]

    say(
        f"== Odoo tests: {run} run, {failed} failed, {errors} error(s), "
        f"{len(log.skips)} skipped, Chrome started {log.chrome_starts} time(s); "
        f"log: {ODOO_LOG}"
    )
    for problem in problems:
        say(f"FAILURE: {problem}")
    return passed, failed + errors + len(problems)


def run_odoo_suite(odoo, addons):
    """Return (passed, failed) for the Odoo tests of ``addons``, on a throw-away database."""
    db = f"multipas_test_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    data_dir = VAR / "test-data" / db
    tags = os.environ.get("TEST_TAGS") or ",".join(f"/{a}" for a in addons)
    timeout = float(os.environ.get("ODOO_TEST_TIMEOUT", "3600"))
    cmd = odoo_command(odoo, db, data_dir, addons, tags)
    ODOO_LOG.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    say(f"== Odoo tests: {len(addons)} addon(s) on database {db}, tags {tags}")
    say("   " + " ".join(cmd))

    log = OdooLog(time.monotonic())
    try:
        rc, timed_out = stream_odoo(cmd, log, timeout)
    finally:
        if os.environ.get("KEEP_DB") == "1":
            say(f"KEEP_DB=1: kept database {db} (data dir {data_dir})")
        else:
            drop_database(db, data_dir)
    passed, failed = judge_odoo_run(log, rc, addons)
    if timed_out:
        say(f"FAILURE: odoo was stopped after ODOO_TEST_TIMEOUT={timeout:.0f}s")
        failed += 1
    return passed, failed


# --- pytest suites ----------------------------------------------------------------------

PYTEST_COUNT_RE = re.compile(r"(\d+) (passed|failed|errors?|xpassed)\b")
# pytest's closing line: "7 passed, 3 warnings in 201.62s" — its last count may be any
# of these, warnings included (a line ending in warnings was once not recognised, and that
# suite's tests were left out of the total).
PYTEST_SUMMARY_RE = re.compile(
    r"(\d+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?)|no tests ran)"
    r" in [\d.]+s"
)


def run_pytest_suite(folder):
    """Return (passed, failed) for ``python3 -m pytest <folder> -q``."""
    say(f"== pytest {folder}/")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", folder, "-q"],
        cwd=REPO,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    summary = ""
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        say(f"   {line}")
        if PYTEST_SUMMARY_RE.search(line):
            summary = line
    rc = proc.wait()
    counts = {"passed": 0, "failed": 0, "error": 0, "xpassed": 0}
    for number, word in PYTEST_COUNT_RE.findall(summary):
        counts["error" if word.startswith("error") else word] += int(number)
    passed = counts["passed"] + counts["xpassed"]
    failed = counts["failed"] + counts["error"]
    if rc == 5:  # no tests collected: neither a pass nor a failure
        return passed, failed
    if rc not in (0, 1) or (rc == 1 and failed == 0):
        say(f"FAILURE: pytest {folder} exited with code {rc}")
        failed += 1
    return passed, failed


# --- main -------------------------------------------------------------------------------


# Checks that need no database: each is one test that passes or fails.
STATIC_CHECKS = [
    ("every addon's ru.po is complete", ["tools/check_i18n.py"]),
    ("every addon's README.rst is up to date", ["tools/gen_addon_readme.py", "--check"]),
]


def run_static_checks():
    passed = failed = 0
    say("== Static checks")
    for name, cmd in STATIC_CHECKS:
        proc = subprocess.run(
            [sys.executable, *cmd], cwd=REPO, capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            passed += 1
            say(f"ok: {name}")
        else:
            failed += 1
            say(f"FAILURE: {name}:")
            say((proc.stdout + proc.stderr).strip())
    return passed, failed


def main(argv):
    if "--list-addons" in argv:
        print(",".join(selected_addons()))
        return 0
    odoo, reason = import_odoo()
    if "--addons-path" in argv:
        if odoo is None:
            print(f"run_tests: {reason}", file=sys.stderr)
            return 1
        print(odoo_addons_path(odoo))
        return 0

    # SIGTERM (CI cancelling us) must still run the cleanup in `finally` blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    VAR.mkdir(exist_ok=True)
    passed, failed = run_static_checks()

    if odoo is None:
        say(f"FAILURE: {reason}: install Odoo 18.0 first (README prerequisites, or docker/).")
        failed += 1
    else:
        addons = selected_addons()
        if addons:
            p, f = run_odoo_suite(odoo, addons)
            passed, failed = passed + p, failed + f
        else:
            say(f"== Odoo tests: no installable addon in {addons_dir()}, nothing to run")

    for folder in ("devices", "tests"):
        if (REPO / folder).is_dir():
            p, f = run_pytest_suite(folder)
            passed, failed = passed + p, failed + f

    say(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        say("interrupted")
        say("0 passed, 1 failed")
        sys.exit(130)
