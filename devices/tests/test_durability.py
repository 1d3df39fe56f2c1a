"""kill -9 in a loop: nothing acknowledged is lost, nothing is doubled.

1. A journal writer (a child process appending as fast as it can and printing ``ACK
   <uuid>`` after each append returned) is killed with SIGKILL at random moments, 30
   times, on the same journal. Every acknowledged event must be in the journal, once,
   in acknowledgement order.
2. The whole box (``multipas-box --foreground``, a simulated reader tapping every few ms,
   syncing to the fake server which is up, down or losing answers) is killed the same
   way; at the end every journaled event is at the server exactly once and in order.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import child_env, wait_for

from multipas_box.fakeserver import FakeDeviceServer
from multipas_box.journal import Journal

log = logging.getLogger(__name__)
HELPER = Path(__file__).parent / "helpers" / "journal_writer.py"
ROUNDS = 30


class LineReader(threading.Thread):
    """Collects a child's stdout lines (so a kill never loses what was already printed)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.lines: list[str] = []

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))


def test_kill_9_writer_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    rng = random.Random(1234)
    acked: list[str] = []
    for round_no in range(ROUNDS):
        proc = subprocess.Popen(
            [sys.executable, str(HELPER), str(path), f"round-{round_no}"],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        reader = LineReader(proc)
        reader.start()
        wait_for(lambda: "READY" in reader.lines, timeout=20)
        # let it write for a random while, then kill it in the middle of whatever it does
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        reader.join(10)
        acks = [line.split()[1] for line in reader.lines if line.startswith("ACK ")]
        assert acks, f"round {round_no}: the writer acknowledged nothing"
        acked.extend(acks)

    journal = Journal(path)
    try:
        rows = journal.rows()
    finally:
        journal.close()
    stored = [r["uuid"] for r in rows]
    assert len(stored) == len(set(stored)), "an event is stored twice"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost"
    # at most one event per round may be committed but not acknowledged (killed between)
    extra = set(stored) - set(acked)
    assert len(extra) <= ROUNDS
    # the journal keeps the order in which appends were acknowledged
    position = {uuid: i for i, uuid in enumerate(stored)}
    assert [position[u] for u in acked] == sorted(position[u] for u in acked)
    log.info(
        f"kill -9 x{ROUNDS}: {len(acked)} acknowledged, {len(stored)} stored, 0 lost, 0 doubled"
    )


def journal_count(path: Path) -> int:
    """Events in a journal another process is writing (read-only, 0 before it exists)."""
    if not path.exists():
        return 0
    try:
        cnx = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return int(cnx.execute("SELECT count(*) FROM event").fetchone()[0])
        finally:
            cnx.close()
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def _box_config(tmp_path: Path, server_url: str) -> Path:
    cfg = tmp_path / "box.toml"
    cfg.write_text(
        f"""
[box]
name = "kill-test"
data_dir = "{tmp_path / "data"}"
log_level = "INFO"

[server]
url = "{server_url}"
key = "test-key"
heartbeat_interval = 1.0
allowlist_interval = 1.0
backoff_min = 0.05
backoff_max = 0.3
batch_size = 50
timeout = 2.0

[local_api]
enabled = false

[[reader]]
name = "sim"
kind = "simulated"
role = "till"
debounce = 0.0
cards = ["04000001", "04000002", "04000003"]
interval = 0.005
""",
        encoding="utf-8",
    )
    return cfg


def test_kill_9_box_delivers_everything_once(tmp_path: Path, fake_server: FakeDeviceServer) -> None:
    rng = random.Random(99)
    config = _box_config(tmp_path, fake_server.url)
    cmd = [sys.executable, "-m", "multipas_box", "--foreground", "--config", str(config)]
    journal_path = tmp_path / "data" / "journal.sqlite3"
    for round_no in range(10):
        # the server is up, down, or processes batches but loses the answers
        mode = round_no % 3
        if mode == 1:
            fake_server.go_down()
        else:
            fake_server.go_up()
            fake_server.drop_answers = 2 if mode == 2 else 0
        before = journal_count(journal_path)
        proc = subprocess.Popen(cmd, env=child_env(), stderr=subprocess.DEVNULL)
        # once it taps (it is up), let it run a random while, then kill it mid-work
        wait_for(lambda: journal_count(journal_path) > before, timeout=60, interval=0.05)
        time.sleep(rng.uniform(0.1, 0.8))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    # last run: the server is fine; the box drains its journal and stops cleanly
    fake_server.go_up()
    fake_server.drop_answers = 0
    config.write_text(config.read_text().replace("interval = 0.005", "interval = 0.0"))
    beats = len(fake_server.heartbeats)
    proc = subprocess.Popen(cmd, env=child_env(), stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(fake_server.heartbeats) > beats, timeout=30)  # it runs

        def drained() -> bool:
            journal = Journal(journal_path)
            try:
                return journal.pending_count() == 0
            finally:
                journal.close()

        wait_for(drained, timeout=60, interval=0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0

    journal = Journal(journal_path)
    try:
        rows = journal.rows()
    finally:
        journal.close()
    uuids = [r["uuid"] for r in rows]
    assert len(uuids) > 50, "the box recorded too few taps for the test to mean anything"
    assert len(uuids) == len(set(uuids))
    assert all(r["state"] == "delivered" for r in rows)
    assert set(fake_server.events) == set(uuids), "lost or unknown events at the server"
    assert fake_server.order == uuids, "the server received events out of order"
    assert fake_server.replayed >= 1, "no lost answer was replayed: the 409 path was not exercised"
    log.info(
        f"box kill -9 x10: {len(uuids)} events, {fake_server.received} received by the server "
        f"({fake_server.received - len(uuids)} re-sent), {len(fake_server.events)} kept, 0 lost, 0 doubled"
    )
