#!/usr/bin/env python3
"""Offline journal of the box: 10 000 events delivered after the server comes back,
and a kill -9 loop.

1. Delivery after reconnect. The box's sync thread runs against the fake device-API
   server (``multipas_box.fakeserver``: dedups by event uuid, answers 409 to a replayed
   batch) while the server is down; ``--events`` taps are journaled one by one (each its
   own commit, as the box does). The server comes back; timed: from the server being
   up again to the last event acknowledged (this includes the wait until the box's next
   retry, bounded by its back-off: ``--backoff-max``), and from the first accepted batch
   to the last. Checked: every event at the server exactly once (0 lost, 0 doubled) and
   in journal order. ``--lost-answers N`` makes the server process N batches and hang up
   without answering, so the box re-sends them and must take the 409 as delivered.

2. kill -9 loop. A child process appends events and prints each acknowledged uuid; it
   is SIGKILLed at a random moment, ``--kill-rounds`` times over the same journal; then
   every acknowledged uuid must be in the journal, once.

Usage: python3 bench/box_offline_sync.py [--events 10000] [--kill-rounds 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "devices" / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import box_machine, loadavg  # noqa: E402
from multipas_box.allowlist import AllowList  # noqa: E402
from multipas_box.config import from_dict  # noqa: E402
from multipas_box.events import Event  # noqa: E402
from multipas_box.fakeserver import FakeDeviceServer  # noqa: E402
from multipas_box.journal import Journal  # noqa: E402
from multipas_box.sync import SyncWorker  # noqa: E402

TARGET_SECONDS = 10.0


def delivery(events: int, backoff_max: float, lost_answers: int) -> dict[str, object]:
    server = FakeDeviceServer(key="bench-key")
    server.go_down()
    with tempfile.TemporaryDirectory(prefix="box-bench-") as tmp:
        cfg = from_dict(
            {
                "box": {"data_dir": tmp},
                "server": {
                    "url": server.url,
                    "key": "bench-key",
                    "backoff_min": 0.5,
                    "backoff_max": backoff_max,
                    "heartbeat_interval": 30.0,
                    "allowlist_interval": 60.0,
                },
            },
            "bench",
        )
        journal = Journal(Path(tmp) / "journal.sqlite3")
        allowlist = AllowList(Path(tmp) / "allowlist.sqlite3")
        worker = SyncWorker(cfg, journal, allowlist)
        worker.start()
        t0 = time.perf_counter()
        uuids = []
        for i in range(events):
            event = Event(kind="card_tap", uid=f"04{i:08X}", reader="till-1")
            journal.append(event)
            uuids.append(event.uuid)
            worker.wake()
        fill = time.perf_counter() - t0
        failures_while_down = worker.backoff.failures
        server.drop_answers = lost_answers
        server.go_up()
        up_at = time.perf_counter()
        first_post = None
        while journal.pending_count():
            if first_post is None and server.posts:
                first_post = time.perf_counter()
            time.sleep(0.01)
        done = time.perf_counter()
        first_post = first_post or done
        worker.stop()
        worker.join(5)
        rows = journal.rows()
        journal.close()
        allowlist.close()
    server.go_down()
    kept = set(server.events)
    return {
        "events": events,
        "fill_seconds": round(fill, 2),
        "fill_per_event_ms": round(fill / events * 1000, 3),
        "sync_failures_while_down": failures_while_down,
        "up_to_all_delivered_seconds": round(done - up_at, 2),
        "first_batch_to_last_seconds": round(done - first_post, 2),
        "batches_accepted": server.posts,
        "replayed_409": server.replayed,
        "received_by_server": server.received,
        "kept_by_server": len(kept),
        "lost": len(set(uuids) - kept),
        "doubled": len(server.order) - len(set(server.order)),
        "in_order": server.order == uuids,
        "journal_delivered": sum(1 for r in rows if r["state"] == "delivered"),
        "ok": kept == set(uuids) and server.order == uuids and done - up_at <= TARGET_SECONDS,
    }


def writer(path: str) -> None:
    """Child process of the kill loop."""
    journal = Journal(path)
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    i = 0
    while True:
        i += 1
        event = Event(kind="card_tap", uid=f"{i:08X}", reader="kill")
        journal.append(event)
        out.write(f"ACK {event.uuid}\n")
        out.flush()


def kill_loop(rounds: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    acked: list[str] = []
    with tempfile.TemporaryDirectory(prefix="box-kill-") as tmp:
        path = str(Path(tmp) / "journal.sqlite3")
        for _ in range(rounds):
            proc = subprocess.Popen(
                [sys.executable, __file__, "--writer", path],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(SRC)},
            )
            lines: list[str] = []
            pump = threading.Thread(target=lambda p=proc: lines.extend(p.stdout), daemon=True)
            pump.start()
            deadline = time.monotonic() + 30
            while "READY\n" not in lines and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.05, 0.4))  # a random while of writes, then the kill
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            pump.join(10)
            acked.extend(line.split()[1] for line in lines if line.startswith("ACK "))
        journal = Journal(path)
        stored = [r["uuid"] for r in journal.rows()]
        journal.close()
    return {
        "rounds": rounds,
        "acknowledged": len(acked),
        "stored": len(stored),
        "lost": len(set(acked) - set(stored)),
        "doubled": len(stored) - len(set(stored)),
        "ok": not (set(acked) - set(stored)) and len(stored) == len(set(stored)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--backoff-max", type=float, default=2.0)
    parser.add_argument("--lost-answers", type=int, default=2)
    parser.add_argument("--kill-rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--writer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer(args.writer)
        return 0
    logging.basicConfig(level=logging.ERROR)
    report: dict[str, object] = {"machine": box_machine()}
    report["delivery"] = delivery(args.events, args.backoff_max, args.lost_answers)
    report["kill_loop"] = kill_loop(args.kill_rounds, args.seed) if args.kill_rounds else None
    report["machine"]["loadavg_after"] = loadavg()  # type: ignore[index]
    report["ok"] = report["delivery"]["ok"] and (  # type: ignore[index]
        report["kill_loop"] is None or report["kill_loop"]["ok"]  # type: ignore[index]
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        d = report["delivery"]
        print(
            f"journaled {d['events']} events while the server was down: {d['fill_seconds']} s "
            f"({d['fill_per_event_ms']} ms per event, one commit each); "
            f"{d['sync_failures_while_down']} failed sync attempts meanwhile"
        )
        print(
            f"server back -> all delivered: {d['up_to_all_delivered_seconds']} s "
            f"(first batch -> last: {d['first_batch_to_last_seconds']} s), "
            f"{d['batches_accepted']} batches, {d['replayed_409']} replayed (409), "
            f"received {d['received_by_server']}, kept {d['kept_by_server']}, "
            f"lost {d['lost']}, doubled {d['doubled']}, in order: {d['in_order']}"
        )
        k = report["kill_loop"]
        if k:
            print(
                f"kill -9 x{k['rounds']}: {k['acknowledged']} acknowledged, {k['stored']} stored, "
                f"lost {k['lost']}, doubled {k['doubled']}"
            )
        print(
            f"target <= {TARGET_SECONDS} s, 0 lost, 0 doubled: {'met' if report['ok'] else 'NOT met'}"
        )
        print(
            f"load average before/after: {report['machine']['loadavg']} / {report['machine']['loadavg_after']}"
        )  # type: ignore[index]
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
