#!/usr/bin/env python3
"""The device API behind two Odoo workers on one database (DESIGN.md §12).

1. A scratch database ``bench_devapi_…`` with ``multipas_cards`` (no demo
   data): ``--schools`` schools, each with ``--cards`` issued cards, and
   ``--clients`` devices spread over the schools, each with its key.
2. Odoo serves it with ``--workers=2`` (prefork: two HTTP worker processes
   sharing the database) on a free port.
3. ``--clients`` client threads, one device each, push ``--batches`` event
   batches of ``--batch-size`` card taps in total, over plain HTTP as the box
   does. Every batch also carries ``--repeat`` events of the thread's previous
   batch (a box re-sending what it was not sure of: answered "duplicate"),
   every 10th batch is sent a second time with the same batch_id (answered 409
   replayed_batch), and ``--races`` times two threads send the very same batch
   at the same moment (so two workers race on it: one 200, one 409). Between
   batches each client sends a heartbeat and reads its allow-list delta now
   and then, as a box does.
4. Afterwards, plain SQL: the events stored for the bench devices must be
   exactly the distinct UUIDs sent (0 lost, 0 doubled), every UUID answered
   "accepted" once and only once, no 5xx; and the Odoo log must show both
   worker processes serving /events.

Reports throughput (events/s and batches/s accepted, wall clock of the push
phase), latency percentiles per batch, the answers by status, the workers'
share of requests, and the CPU per process group (the machine is shared).

Usage: python3 bench/device_api_workers.py [--batches 400] [--batch-size 25]
       [--clients 8] [--json] [--keep]
"""

import argparse
import collections
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

API = "/multipas/device/v1"
REQUEST_LOG_RE = re.compile(
    r"^\S+ \S+ (?P<pid>\d+) INFO \S+ werkzeug: .*\"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.[01]\" (?P<status>\d{3})"
)


def setup_population(db, schools, cards, clients):
    """Schools, issued cards and devices with keys; returns [(device_id, key)]."""
    registry = common.open_registry(db)
    with registry.cursor() as cr:
        env = common.superuser_env(cr)(context=common.QUIET_CTX)
        common.make_population(env, schools=schools, holders_per_school=cards)
        School = env["multipas.school"]
        all_schools = School.search([("code", "like", "B%")], order="id")
        Card = env["multipas.card"]
        serial = 0
        for school in all_schools:
            holders = env["multipas.cardholder"].search([("school_id", "=", school.id)])
            vals = []
            for holder in holders:
                serial += 1
                vals.append(
                    {
                        "number": f"BENCH{serial:07d}",
                        "uid": f"04{serial:012X}",
                        "school_id": school.id,
                        "holder_id": holder.id,
                        "state": "stock",
                    }
                )
            Card.create(vals).action_issue()
        admin = env.ref("base.user_admin")
        devices = []
        for index in range(clients):
            school = all_schools[index % len(all_schools)]
            device = env["multipas.device"].create(
                {"name": f"Bench device {index}", "school_id": school.id, "kind": "turnstile"}
            )
            key = device.with_user(admin).action_generate_key()["context"]["default_key"]
            uids = school.cardholder_ids.card_ids.mapped("uid")
            devices.append({"id": device.id, "key": key, "uids": uids})
        cr.commit()
    return devices


def start_odoo(db, port, log_path):
    cmd = [
        sys.executable, "-m", "odoo",
        "-d", db,
        f"--addons-path={common.odoo_addons_path()}",
        f"--data-dir={common.data_dir_for(db)}",
        f"--db-filter=^{db}$",
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        f"--gevent-port={common.free_port()}",
        "--workers=2",
        "--max-cron-threads=0",
        "--limit-time-real=600",
        "--limit-time-cpu=300",
        "--log-level=info",
        f"--logfile={log_path}",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=common.REPO / "var", stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"odoo exited with {proc.returncode}; see {log_path}")
        try:
            if requests.get(f"{base}{API}/openapi.json", timeout=10).status_code == 200:
                return proc, base
        except requests.RequestException:
            pass
        time.sleep(1)
    proc.terminate()
    raise SystemExit(f"odoo did not answer within 180 s; see {log_path}")


def worker_pids(proc):
    """The pids of the prefork HTTP workers (children of the main process)."""
    try:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children", encoding="ascii") as fh:
            return [int(pid) for pid in fh.read().split()]
    except OSError:
        return []


class Client(threading.Thread):
    """One box: pushes its share of batches, re-sends, heartbeats, syncs."""

    def __init__(self, index, device, base, batches, batch_size, repeat):
        super().__init__(name=f"client-{index}", daemon=True)
        self.index = index
        self.device = device
        self.base = base
        self.batches = batches
        self.batch_size = batch_size
        self.repeat = repeat
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {device['key']}"
        self.sent = set()  # every event uuid this client sent
        self.accepted = collections.Counter()  # uuid -> times answered "accepted"
        self.statuses = collections.Counter()  # (route, status)
        self.latencies = []  # ms per event batch
        self.errors = []
        self.cursor = 0

    def _post(self, path, body):
        started = time.perf_counter()
        response = self.session.post(f"{self.base}{API}{path}", json=body, timeout=120)
        elapsed = (time.perf_counter() - started) * 1000
        self.statuses[(path, response.status_code)] += 1
        if response.status_code >= 500:
            self.errors.append(f"{path} {response.status_code}: {response.text[:200]}")
        return response, elapsed

    def _push(self, body, expect):
        response, elapsed = self._post("/events", body)
        self.latencies.append(elapsed)
        self.sent.update(e["uuid"] for e in body["events"])
        if response.status_code == 200:
            for result in response.json()["results"]:
                if result["status"] == "accepted":
                    self.accepted[result["uuid"]] += 1
        elif response.status_code != 409 or expect != "409-ok":
            self.errors.append(f"/events {response.status_code}: {response.text[:200]}")
        return response.status_code

    def _event(self, uids, n):
        return {
            "uuid": str(uuid.uuid4()),
            "kind": "card_tap",
            "uid": uids[(self.index * 7919 + n) % len(uids)],
            "at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "reader": "bench-0",
            "data": {},
        }

    def run(self):
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - reported, not swallowed
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _run(self):
        uids = self.device["uids"]
        previous = []
        counter = 0
        for number in range(self.batches):
            events = []
            for _i in range(self.batch_size):
                counter += 1
                events.append(self._event(uids, counter))
            events += previous[: self.repeat]
            body = {"batch_id": str(uuid.uuid4()), "events": events}
            self._push(body, expect="200")
            if number % 10 == 0:
                # The answer was lost: the same batch again.
                if self._push(body, expect="409-ok") != 409:
                    self.errors.append("a replayed batch was not answered 409")
            previous = events[: self.batch_size]
            if number % 5 == 0:
                self._post("/heartbeat", {"version": "bench", "queue_depth": self.batches - number})
            if number % 20 == 0:
                response = self.session.get(
                    f"{self.base}{API}/allowlist", params={"since": self.cursor}, timeout=120
                )
                self.statuses[("/allowlist", response.status_code)] += 1
                if response.status_code == 200:
                    self.cursor = response.json()["cursor"]
                else:
                    self.errors.append(f"/allowlist {response.status_code}")


class Race(threading.Thread):
    """One box sends the same batch over two connections at the same moment
    (e.g. a retry fired while the first request is still running): the two
    requests land on different workers; one must store it, the other get 409."""

    def __init__(self, index, device, base, batch_size):
        super().__init__(name=f"race-{index}", daemon=True)
        self.index = index
        self.base = base
        self.key = device["key"]
        uids = device["uids"]
        self.body = {
            "batch_id": str(uuid.uuid4()),
            "events": [
                {
                    "uuid": str(uuid.uuid4()),
                    "kind": "card_tap",
                    "uid": uids[i % len(uids)],
                    "at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "data": {},
                }
                for i in range(batch_size)
            ],
        }
        self.sent = {e["uuid"] for e in self.body["events"]}
        self.accepted = collections.Counter()
        self.outcome = []
        self.errors = []

    def _send(self, barrier):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.key}"
        barrier.wait(timeout=60)
        response = session.post(f"{self.base}{API}/events", json=self.body, timeout=120)
        self.outcome.append(response.status_code)
        if response.status_code == 200:
            for result in response.json()["results"]:
                if result["status"] == "accepted":
                    self.accepted[result["uuid"]] += 1
        elif response.status_code != 409:
            self.errors.append(f"race /events {response.status_code}: {response.text[:200]}")

    def run(self):
        # Spread the races over the push phase.
        time.sleep(1.5 * self.index)
        barrier = threading.Barrier(2)
        pair = [threading.Thread(target=self._send, args=(barrier,)) for _i in range(2)]
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join()


def run(args):
    db = common.scratch_name("devapi")
    report = {"ok": False, "db": db, "params": vars(args).copy()}
    common.say(f"creating {db}")
    report["install_seconds"] = round(common.create_db(db), 1)
    proc = None
    log_path = common.REPO / "var" / "log" / f"{db}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        devices = setup_population(db, args.schools, args.cards, args.clients)
        common.wait_quiet(args.wait_quiet, 600)
        report["machine"] = common.machine_info()
        port = common.free_port()
        proc, base = start_odoo(db, port, log_path)
        workers = worker_pids(proc)
        report["odoo_workers"] = workers
        common.say(f"odoo on {base}: main pid {proc.pid}, HTTP workers {workers}")

        per_client = args.batches // args.clients
        clients = [
            Client(index, devices[index], base, per_client, args.batch_size, args.repeat)
            for index in range(args.clients)
        ]
        racers = [
            Race(k, devices[k % len(devices)], base, args.batch_size) for k in range(args.races)
        ]
        sampler = common.CpuSampler(db=db).start()
        started = time.perf_counter()
        for thread in [*clients, *racers]:
            thread.start()
        for thread in [*clients, *racers]:
            thread.join()
        elapsed = time.perf_counter() - started
        sampler.stop()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    report["push_seconds"] = round(elapsed, 2)
    report["cpu_seconds"] = sampler.groups
    verify(report, db, devices, clients, racers, log_path)
    if args.keep:
        common.say(f"--keep: kept {db}")
    else:
        common.drop_db(db)
    return report


def verify(report, db, devices, clients, racers, log_path):
    sent = set().union(*(c.sent for c in clients), *(r.sent for r in racers))
    accepted = collections.Counter()
    for client in clients:
        accepted.update(client.accepted)
    for racer in racers:
        accepted.update(racer.accepted)
    statuses = collections.Counter()
    for client in clients:
        statuses.update(client.statuses)
    cnx = common.pg_connect(db)
    try:
        with cnx.cursor() as cr:
            cr.execute(
                "SELECT uuid FROM multipas_device_event WHERE device_id = ANY(%s)",
                [[d["id"] for d in devices]],
            )
            stored_rows = [row[0] for row in cr.fetchall()]
            cr.execute(
                "SELECT count(*) FROM multipas_device_event WHERE device_id = ANY(%s) "
                "AND (state != 'done' OR card_id IS NULL)",
                [[d["id"] for d in devices]],
            )
            unprocessed = cr.fetchone()[0]
    finally:
        cnx.close()
    stored = set(stored_rows)
    lost = sent - stored
    doubled = len(stored_rows) - len(stored)
    accepted_twice = sum(1 for n in accepted.values() if n > 1)
    never_accepted = stored - set(accepted)
    served = collections.Counter()
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = REQUEST_LOG_RE.match(line)
        if match and match["path"].startswith(API):
            served[(int(match["pid"]), match["path"].split("?")[0])] += 1
    events_pids = {pid for (pid, path) in served if path.endswith("/events")}
    errors = [e for c in clients for e in c.errors] + [e for r in racers for e in r.errors]
    race_outcomes = collections.Counter(tuple(sorted(r.outcome)) for r in racers)
    latencies = [ms for c in clients for ms in c.latencies]
    events_accepted = sum(accepted.values())
    report.update(
        {
            "events_sent_distinct": len(sent),
            "events_stored": len(stored_rows),
            "events_accepted_answers": events_accepted,
            "lost": len(lost),
            "doubled": doubled,
            "accepted_twice": accepted_twice,
            "stored_but_never_accepted": len(never_accepted),
            "unprocessed_or_unlinked": unprocessed,
            "status_counts": {
                f"{path} {status}": n for (path, status), n in sorted(statuses.items())
            },
            "server_errors": sum(n for (_p, s), n in statuses.items() if s >= 500),
            "client_errors": errors[:20],
            "requests_per_worker": {
                f"{pid} {path}": n for (pid, path), n in sorted(served.items())
            },
            "workers_serving_events": sorted(events_pids),
            "throughput_events_per_s": round(events_accepted / report["push_seconds"], 1),
            "throughput_batches_per_s": round(
                sum(n for (p, s), n in statuses.items() if p == "/events") / report["push_seconds"],
                1,
            ),
            "batch_latency_ms": common.percentiles(latencies),
            "race_outcomes": {str(list(k)): n for k, n in race_outcomes.items()},
        }
    )
    report["ok"] = (
        not lost
        and not doubled
        and not accepted_twice
        and not never_accepted
        and not unprocessed
        and not errors
        and report["server_errors"] == 0
        and len(events_pids) >= 2
        and all(tuple(sorted(r.outcome)) == (200, 409) for r in racers)
    )


def print_report(report):
    common.print_machine(report["machine"])
    p = report["params"]
    print(
        f"database {report['db']} (install {report['install_seconds']} s); Odoo --workers=2, "
        f"HTTP workers {report['odoo_workers']}"
    )
    print(
        f"{p['clients']} clients, {p['batches']} batches × {p['batch_size']} events "
        f"(+{p['repeat']} repeated events per batch, every 10th batch sent twice, "
        f"{p['races']} batches raced by two clients)"
    )
    print(
        f"push phase {report['push_seconds']} s: {report['throughput_events_per_s']} events/s "
        f"accepted, {report['throughput_batches_per_s']} POST /events per s"
    )
    print(f"batch latency ms: {report['batch_latency_ms']}")
    print(
        f"events: {report['events_sent_distinct']} distinct sent, {report['events_stored']} "
        f"stored, {report['events_accepted_answers']} 'accepted' answers; lost "
        f"{report['lost']}, doubled {report['doubled']}, accepted twice "
        f"{report['accepted_twice']}, stored but never accepted "
        f"{report['stored_but_never_accepted']}, unprocessed {report['unprocessed_or_unlinked']}"
    )
    print(f"answers: {report['status_counts']}")
    print(f"raced batches (two connections, same batch): {report['race_outcomes']}")
    print(f"requests per worker pid: {report['requests_per_worker']}")
    print(f"CPU seconds: {report['cpu_seconds']}")
    if report["client_errors"]:
        print(f"client errors: {report['client_errors']}")
    print("OK" if report["ok"] else "FAILED")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schools", type=int, default=2)
    parser.add_argument("--cards", type=int, default=200, help="issued cards per school")
    parser.add_argument("--clients", type=int, default=8, help="client threads = devices")
    parser.add_argument("--batches", type=int, default=400, help="event batches, all clients")
    parser.add_argument("--batch-size", type=int, default=25, help="new events per batch")
    parser.add_argument("--repeat", type=int, default=5, help="events re-sent per batch")
    parser.add_argument("--races", type=int, default=4, help="batches two clients race on")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="LOAD")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    report = run(args)
    return common.finish(report, args, print_report)


if __name__ == "__main__":
    sys.exit(main())
