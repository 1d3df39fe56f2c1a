#!/usr/bin/env python3
"""Where the CPU of one posting goes: Python (ORM + addon) vs PostgreSQL, by part.

A diagnosis companion to ``ledger_post.py``. One client, one backend, no
concurrency: each variant below runs ``--iterations`` times and is charged
with the CPU time of this process (``time.process_time``) and of its
PostgreSQL backend (``/proc/<backend pid>/stat``), so the figures hold even on
a machine shared with other jobs (CPU time, unlike wall time, does not grow
when others compete for the cores). On 2 cores, throughput under 8 clients is
bounded by ≈ 2 s of CPU per second ÷ (client CPU + server CPU per posting).

The variants run interleaved in rounds and each figure is the median over
rounds, so a burst of other load hits them all alike.

Variants (each commits every posting, like the benchmark):

- ``post()``: ``env['multipas.account'].browse(id).post(...)`` through
  ``odoo.service.model.retrying`` in a new Environment: the real thing;
- ``orm_reads``: only the other statements ``post()`` sends besides its
  posting statement (captured from a real call: ORM reads), re-sent as they were;
- ``post_sql``: the ledger's posting statement alone (captured from a real
  ``post()`` call, whatever its current form) through the Odoo cursor;
- ``post_sql_prepared``: the same statement as a server-side prepared statement
  (PREPARE once, EXECUTE per posting): what parsing + planning cost;
- ``post_sql_no_fk``: the posting statement with FK triggers off
  (``session_replication_role = replica``): what the FK checks cost;
- ``select_1_commit``: ``SELECT 1`` + COMMIT: the floor of one round trip and
  one (read-only) commit;
- ``pgbench_like``: pgbench -N's transaction (UPDATE + SELECT + INSERT) on
  pgbench-like tables in the same database, for scale.

Usage: python3 bench/post_breakdown.py [--iterations 3000] [--json] [--keep]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def backend_cpu(pid):
    """CPU seconds of process ``pid``: /proc/<pid>/schedstat (nanoseconds) when
    the kernel has it, else utime + stime from /proc/<pid>/stat (clock ticks)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode()
        fields = raw[raw.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / common.CLK_TCK


def measure(variants, iterations, rounds, backend_pid, warmup=100):
    """Run every variant ``iterations`` times in total, interleaved in
    ``rounds`` rounds (so that changes in the machine's load hit all variants
    alike), and return, per variant, the median over rounds of the CPU per
    call of this process and of its backend."""
    per_round = max(1, iterations // rounds)
    samples = {name: [] for name, *_ in variants}
    counter = 0
    for _name, fn, before, after in variants:
        before()
        for _ in range(warmup):
            counter += 1
            fn(counter)
        after()
    for _round in range(rounds):
        for name, fn, before, after in variants:
            before()
            c0, s0, w0 = time.process_time(), backend_cpu(backend_pid), time.perf_counter()
            for _ in range(per_round):
                counter += 1
                fn(counter)
            c1, s1, w1 = time.process_time(), backend_cpu(backend_pid), time.perf_counter()
            after()
            samples[name].append(((c1 - c0), (s1 - s0), (w1 - w0)))
    results = []
    for name, rows in samples.items():
        results.append(
            {
                "variant": name,
                "client_cpu_ms": round(statistics.median(r[0] for r in rows) / per_round * 1000, 3),
                "server_cpu_ms": round(statistics.median(r[1] for r in rows) / per_round * 1000, 3),
                "wall_ms": round(statistics.median(r[2] for r in rows) / per_round * 1000, 3),
                "calls": per_round * rounds,
            }
        )
    return results


def run(registry, account_ids, iterations, rounds):
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415
    from odoo.service.model import retrying  # noqa: PLC0415

    tag = str(int(time.time()))
    cr = registry.cursor()
    cr.execute("SELECT pg_backend_pid()")
    pid = cr.fetchone()[0]
    cr.rollback()
    n = len(account_ids)

    def nothing():
        pass

    def post(i):
        env = api.Environment(cr, SUPERUSER_ID, {})

        def call():
            api.Environment(cr, SUPERUSER_ID, {})["multipas.account"].browse(
                account_ids[i % n]
            ).post(10.0, "topup", f"bd-post-{tag}-{i}")

        retrying(call, env)

    # what post() sends: the posting statement and the other statements
    statement = common.PostingStatement(api.Environment(cr, SUPERUSER_ID, {}), account_ids[-1])
    cr.commit()
    sent = [cr.mogrify(q, p).decode() for q, p in statement.reads]

    def orm_reads(i):
        for query in sent:
            cr.execute(query)
            if cr.description:
                cr.fetchall()
        cr.commit()

    def post_sql(i):
        cr.execute(
            statement.plain_code, statement.params_for(account_ids[i % n], f"bd-sql-{tag}-{i}")
        )
        cr.fetchall()
        cr.commit()

    prepare, execute = statement.prepared("bench_post")
    cr.execute(prepare)
    cr.commit()

    def post_sql_prepared(i):
        cr.execute(execute, statement.params_for(account_ids[i % n], f"bd-prep-{tag}-{i}"))
        cr.fetchall()
        cr.commit()

    def fk_off():
        cr.execute("SET session_replication_role = replica")
        cr.commit()

    def fk_on():
        cr.execute("SET session_replication_role = DEFAULT")
        cr.commit()

    def post_sql_no_fk(i):
        cr.execute(
            statement.plain_code, statement.params_for(account_ids[i % n], f"bd-nofk-{tag}-{i}")
        )
        cr.fetchall()
        cr.commit()

    def select_1(i):
        cr.execute("SELECT 1")
        cr.fetchall()
        cr.commit()

    # pgbench's own tables and transaction (-N: no branch/teller updates)
    cr.execute(
        """
        CREATE TABLE bench_pgb_accounts (aid int PRIMARY KEY, bid int, abalance int,
                                         filler char(84));
        INSERT INTO bench_pgb_accounts SELECT g, 1, 0, '' FROM generate_series(1, 100000) g;
        CREATE TABLE bench_pgb_history (tid int, bid int, aid int, delta int,
                                        mtime timestamp, filler char(22));
        """
    )
    cr.commit()
    cr.execute("ANALYZE bench_pgb_accounts")
    cr.commit()

    def pgbench_like(i):
        aid = (i * 7919) % 100000 + 1
        cr.execute(
            "UPDATE bench_pgb_accounts SET abalance = abalance + %s WHERE aid = %s", [5, aid]
        )
        cr.execute("SELECT abalance FROM bench_pgb_accounts WHERE aid = %s", [aid])
        cr.fetchall()
        cr.execute(
            "INSERT INTO bench_pgb_history (tid, bid, aid, delta, mtime) "
            "VALUES (1, 1, %s, 5, CURRENT_TIMESTAMP)",
            [aid],
        )
        cr.commit()

    variants = [
        ("post()", post, nothing, nothing),
        ("orm_reads", orm_reads, nothing, nothing),
        ("post_sql", post_sql, nothing, nothing),
        ("post_sql_prepared", post_sql_prepared, nothing, nothing),
        ("post_sql_no_fk", post_sql_no_fk, fk_off, fk_on),
        ("select_1_commit", select_1, nothing, nothing),
        ("pgbench_like", pgbench_like, nothing, nothing),
    ]
    results = measure(variants, iterations, rounds, pid)
    for r in results:
        if r["variant"] == "orm_reads":
            r["statements"] = [q.split(" FROM ")[0][:90] + " …" for q in sent]
    cr.execute("DEALLOCATE bench_post")
    cr.execute("DROP TABLE bench_pgb_accounts, bench_pgb_history")
    cr.commit()
    cr.close()
    return results, statement.code.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=4000, help="calls per variant (4000)")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds (20)")
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--db", help="reuse this bench_ database (multipas_cards installed)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    report = {"benchmark": "post_breakdown", "argv": sys.argv[1:], "machine": common.machine_info()}
    db = args.db or common.scratch_name("breakdown")
    created = not args.db
    try:
        if created:
            common.say(f"creating {db} with {common.MODULE} (no demo data)")
            common.create_db(db)
        registry = common.open_registry(db)
        with registry.cursor() as cr:
            env = common.superuser_env(cr)
            account_ids = common.make_population(env, holders_per_school=args.accounts)
        common.say(f"{args.iterations} iterations per variant, one client")
        report["results"], report["posting_statement"] = run(
            registry, account_ids, args.iterations, args.rounds
        )
    finally:
        import odoo  # noqa: PLC0415

        odoo.sql_db.close_all()
        if created and not args.keep:
            common.drop_db(db)
    report["machine"]["loadavg_after"] = common.loadavg()
    by = {r["variant"]: r for r in report["results"]}
    post, sql = by["post()"], by["post_sql"]
    report["derived_ms_per_posting"] = {
        "python_orm_and_addon (client CPU, post() - post_sql)": round(
            post["client_cpu_ms"] - sql["client_cpu_ms"], 3
        ),
        "server: post()'s other statements (orm_reads)": by["orm_reads"]["server_cpu_ms"],
        "server: parse + plan of the posting statement (post_sql - prepared)": round(
            sql["server_cpu_ms"] - by["post_sql_prepared"]["server_cpu_ms"], 3
        ),
        "server: FK checks (post_sql - no_fk)": round(
            sql["server_cpu_ms"] - by["post_sql_no_fk"]["server_cpu_ms"], 3
        ),
        "total CPU post() (client + server)": round(
            post["client_cpu_ms"] + post["server_cpu_ms"], 3
        ),
        "total CPU pgbench_like (client + server)": round(
            by["pgbench_like"]["client_cpu_ms"] + by["pgbench_like"]["server_cpu_ms"], 3
        ),
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        m = report["machine"]
        print(f"load average before / after: {m['loadavg']} / {m['loadavg_after']}")
        print(f"{'variant':<20} {'client CPU ms':>14} {'server CPU ms':>14} {'wall ms':>9}")
        for r in report["results"]:
            print(
                f"{r['variant']:<20} {r['client_cpu_ms']:>14} {r['server_cpu_ms']:>14} "
                f"{r['wall_ms']:>9}"
            )
        for r in report["results"]:
            if "statements" in r:
                print(f"orm_reads = {r['statements']}")
        print(f"\nposting statement: {report['posting_statement']}")
        print("\nderived, ms per posting:")
        for k, v in report["derived_ms_per_posting"].items():
            print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
