#!/usr/bin/env python3
"""Turnstile decision latency of the box at 100 000 cards, server up and server down.

The box (``devices/``, no Odoo) gets its allow-list from the fake device-API server
(``multipas_box.fakeserver``) through the real sync code: a snapshot of ``--cards``
cards in pages of 5 000. Then, for each server mode, ``--taps`` taps are made on a
turnstile reader (``Box.on_uid``, exactly what a reader thread calls) with random
UIDs: 90 % allowed cards, 5 % blocked, 5 % unknown. Two timings per tap:

- decision: the allow-list lookup alone (``Box.decide``) — the target, p99 ≤ 5 ms;
- tap → open: from the UID to the relay being asked to open, i.e. decision + the
  journal commit (WAL, synchronous=FULL: one fsync) that comes first + the output
  request; the event is then published and the sync thread woken.

Server up: the sync thread pushes every event as it comes and pulls allow-list
changes every 0.5 s while ``--churn`` cards per second change on the server (so the
allow-list is written to while decisions read it). Server down: connection refused,
the sync thread backs off and retries.

Usage: python3 bench/box_decision.py [--cards 100000] [--taps 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "devices" / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import box_machine, loadavg, percentiles  # noqa: E402
from multipas_box.box import Box  # noqa: E402
from multipas_box.config import from_dict  # noqa: E402
from multipas_box.fakeserver import FakeDeviceServer  # noqa: E402

TARGET_P99_MS = 5.0


def uid_of(i: int) -> str:
    return f"04{(i * 2654435761) % 2**32:08X}{i % 65536:04X}"


def run_mode(box: Box, server: FakeDeviceServer, mode: str, taps: int, cards: int,
             churn: int, rng: random.Random) -> dict[str, object]:  # fmt: skip
    reader = box.readers["gate-in"]
    stop = threading.Event()
    changed = 0

    def churner() -> None:
        nonlocal changed
        while not stop.wait(1.0 / churn):
            i = rng.randrange(1, cards + 1)
            server.set_card(uid_of(i), allow=rng.random() > 0.1, reason="blocked")
            changed += 1

    if mode == "up":
        server.go_up()
        churn_thread = threading.Thread(target=churner, daemon=True)
        churn_thread.start()
    else:
        server.go_down()
    time.sleep(1.0)  # let the sync thread settle into its mode
    decide_ms: list[float] = []
    open_ms: list[float] = []
    decisions = {"allow": 0, "deny": 0}
    pending_before = box.journal.pending_count()
    for _ in range(taps):
        roll = rng.random()
        if roll < 0.05:
            uid = f"0F{rng.randrange(2**32):08X}"  # unknown
        else:
            uid = uid_of(rng.randrange(1, cards + 1))
        t0 = time.perf_counter()
        decision = box.decide(uid)
        t1 = time.perf_counter()
        decide_ms.append((t1 - t0) * 1000)
        decisions["allow" if decision.allow else "deny"] += 1
        t0 = time.perf_counter()
        box.on_uid(reader, uid)
        open_ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.002)  # taps arrive one after another, not in a burst
    stop.set()
    result: dict[str, object] = {
        "mode": mode,
        "taps": taps,
        "decision_ms": percentiles(decide_ms),
        "tap_to_open_ms": percentiles(open_ms),
        "decisions": decisions,
        "sync_state": box.sync.state if box.sync else None,
        "queue_depth_after": box.journal.pending_count(),
        "queued_during_run": box.journal.pending_count() - pending_before,
        "allowlist_changes_on_server": changed,
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--taps", type=int, default=2000, help="taps per server mode")
    parser.add_argument("--churn", type=int, default=50, help="card changes per second (up)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the down mode's retry warnings are expected
    rng = random.Random(args.seed)

    server = FakeDeviceServer(key="bench-key")
    server.add_cards([uid_of(i) for i in range(1, args.cards + 1)])
    for i in range(1, args.cards + 1, 20):  # 5 % blocked
        server.set_card(uid_of(i), allow=False, reason="blocked")
    report: dict[str, object] = {"machine": box_machine(), "cards": args.cards, "runs": []}
    with tempfile.TemporaryDirectory(prefix="box-bench-") as tmp:
        cfg = from_dict(
            {
                "box": {"data_dir": tmp, "log_level": "WARNING"},
                "server": {
                    "url": server.url,
                    "key": "bench-key",
                    "heartbeat_interval": 2.0,
                    "allowlist_interval": 0.5,
                    "backoff_min": 0.5,
                    "backoff_max": 2.0,
                },
                "local_api": {"enabled": False},
                "reader": [
                    {"name": "gate-in", "kind": "simulated", "output": "gate", "debounce": 0}
                ],
                "output": [{"name": "gate", "kind": "simulated", "pulse": 0.01}],
            },
            "bench",
        )
        box = Box(cfg)
        assert box.sync is not None
        t0 = time.perf_counter()
        box.sync.heartbeat()
        box.sync.pull_allowlist()
        report["snapshot_seconds"] = round(time.perf_counter() - t0, 2)
        report["allowlist_cards"] = box.allowlist.count()
        box.start()
        try:
            for mode in ("up", "down"):
                report["runs"].append(  # type: ignore[union-attr]
                    run_mode(box, server, mode, args.taps, args.cards, args.churn, rng)
                )
        finally:
            box.stop()
            server.go_down()
    report["machine"]["loadavg_after"] = loadavg()  # type: ignore[index]
    runs = report["runs"]
    report["ok"] = all(r["decision_ms"]["p99"] <= TARGET_P99_MS for r in runs)  # type: ignore[index,union-attr]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"allow-list: {report['allowlist_cards']} cards, snapshot pulled in {report['snapshot_seconds']} s"
        )
        for r in runs:  # type: ignore[union-attr]
            d, o = r["decision_ms"], r["tap_to_open_ms"]
            print(
                f"server {r['mode']:>4}: decision p50 {d['p50']} ms p99 {d['p99']} ms max {d['max']} ms | "
                f"tap→open p50 {o['p50']} ms p99 {o['p99']} ms max {o['max']} ms | "
                f"{r['decisions']} sync={r['sync_state']} queue after={r['queue_depth_after']} "
                f"server changes={r['allowlist_changes_on_server']}"
            )
        print(f"target decision p99 <= {TARGET_P99_MS} ms: {'met' if report['ok'] else 'NOT met'}")
        print(
            f"load average before/after: {report['machine']['loadavg']} / {report['machine']['loadavg_after']}"
        )  # type: ignore[index]
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
