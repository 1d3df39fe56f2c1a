#!/usr/bin/env python3
"""Balance read and card lookup latency at 10 thousand and 10 million ledger entries.

A scratch database with ``multipas_cards`` (no demo data) gets, with plain SQL,
``--schools`` schools and ``--accounts`` cardholders, each with a personal
account and an issued card. Then, for each size of ``--entries`` (ascending),
the ledger is filled up to that many entries with ``INSERT … SELECT
generate_series`` (entry g goes to account (g−1) mod A; per account the entries
alternate a top-up of +100 and a purchase of −60, so every ``balance_after``
follows from the previous one and the account's ``balance`` is its last
``balance_after`` = Σ amounts), the table is ANALYZEd, the consistency is checked
with SQL, and three reads are timed over ``--calls`` random accounts/cards, each
call in a fresh cursor and environment (so the ORM cache is empty and each call
is a real SELECT):

- balance read: ``env['multipas.account'].browse(id).read(['balance'])``
- card lookup: ``env['multipas.card']._find_by_uid(uid)`` (UIDs given as readers
  print them: half upper-case, half "04:a2:…")
- account history (not a target, shown for contrast): the 20 latest entries of an
  account with the model's default order, as the ledger view and statements read it

plus the same balance read as one raw psycopg2 SELECT (no ORM), which never
touches the ledger: it is the control for noise from other load on the machine.
At every size the exact SQL of each read is EXPLAIN (ANALYZE, BUFFERS)ed: the
buffer counts, unlike timings, don't depend on what else runs.

Loads of a million rows or more drop the ledger's secondary indexes and unique
constraint first and rebuild them afterwards from their own definitions
(``pg_get_indexdef``/``pg_get_constraintdef``), which is how bulk loads are done.

Loading: FK triggers are disabled during the bulk insert (``SET
session_replication_role = replica``); the data is consistent by construction
and an anti-join checks every entry's account afterwards.

Usage: python3 bench/balance_read.py [--entries 10000,10000000] [--json] [--keep]
"""

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TOPUP, PURCHASE = 100, -60


def balance_after_sql(k):
    """SQL expression: balance after the k-th (0-based) entry of an account."""
    return f"({TOPUP} * (({k}) / 2 + 1) + {PURCHASE} * ((({k}) + 1) / 2))"


def drop_secondary_indexes(cr):
    """Drop the ledger's indexes and unique constraints but the primary key,
    and return how to recreate them exactly (their own definitions): a bulk
    load then builds each index once instead of inserting 10M keys at random
    places."""
    cr.execute(
        """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'multipas_account_entry'::regclass AND contype = 'u'
        """
    )
    constraints = cr.fetchall()
    cr.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
          FROM pg_index i
         WHERE i.indrelid = 'multipas_account_entry'::regclass AND NOT i.indisprimary
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """
    )
    indexes = cr.fetchall()
    for name, _definition in constraints:
        cr.execute(f'ALTER TABLE multipas_account_entry DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        cr.execute(f"DROP INDEX {name}")
    cr.commit()
    return [
        *(f'ALTER TABLE multipas_account_entry ADD CONSTRAINT "{n}" {d}' for n, d in constraints),
        *(d for _n, d in indexes),
    ]


def recreate_indexes(cr, statements):
    cr.execute("SET maintenance_work_mem = '512MB'")  # this session only
    for statement in statements:
        cr.execute(statement)
    cr.commit()
    cr.execute("RESET maintenance_work_mem")


def load_entries(cr, first_account, n_accounts, upto, horizon, chunk):
    """Append entries until the ledger holds ``upto`` rows (g = count+1 … upto)."""
    cr.execute("SELECT count(*) FROM multipas_account_entry")
    have = cr.fetchone()[0]
    if have >= upto:
        return 0.0
    started = time.perf_counter()
    rebuilt = drop_secondary_indexes(cr) if upto - have >= 1_000_000 else []
    cr.execute("SET session_replication_role = replica")  # skip FK triggers
    g = have + 1
    while g <= upto:
        last = min(upto, g + chunk - 1)
        cr.execute(
            f"""
            INSERT INTO multipas_account_entry (
                account_id, date, amount, balance_after, kind,
                idempotency_key, origin, school_ref, class_ref, user_ref)
            SELECT a.id,
                   timestamp '2023-09-01' + (g * (94608000.0 / %(horizon)s)) * interval '1 second',
                   CASE WHEN k %% 2 = 0 THEN {TOPUP} ELSE {PURCHASE} END,
                   {balance_after_sql("k")},
                   CASE WHEN k %% 2 = 0 THEN 'topup' ELSE 'purchase' END,
                   'hist-' || g, 'bench,' || g,
                   a.school_id, h.class_id, 1
              FROM (SELECT g, (g - 1) / %(n)s AS k, %(first)s + (g - 1) %% %(n)s AS account_id
                      FROM generate_series(%(g0)s::bigint, %(g1)s::bigint) g) s
              JOIN multipas_account a ON a.id = s.account_id
              JOIN multipas_cardholder h ON h.id = a.holder_id
             ORDER BY g
            """,
            {"horizon": horizon, "n": n_accounts, "first": first_account, "g0": g, "g1": last},
        )
        cr.commit()
        common.say(f"  entries {last:,} / {upto:,} ({time.perf_counter() - started:.0f}s)")
        g = last + 1
    cr.execute("SET session_replication_role = DEFAULT")
    if rebuilt:
        t0 = time.perf_counter()
        recreate_indexes(cr, rebuilt)
        common.say(f"  {len(rebuilt)} indexes rebuilt in {time.perf_counter() - t0:.0f}s")
    # balance = last balance_after = Σ amounts, from the number of entries per account
    cr.execute(
        f"""
        UPDATE multipas_account a
           SET balance = CASE WHEN s.n = 0 THEN 0 ELSE {balance_after_sql("s.n - 1")} END
          FROM (SELECT id, %(upto)s / %(cnt)s + CASE WHEN id - %(first)s < %(upto)s %% %(cnt)s
                                                     THEN 1 ELSE 0 END AS n
                  FROM multipas_account WHERE id BETWEEN %(first)s AND %(first)s + %(cnt)s - 1) s
         WHERE a.id = s.id
        """,
        {"upto": upto, "cnt": n_accounts, "first": first_account},
    )
    cr.commit()
    t0 = time.perf_counter()
    cr.execute("ANALYZE multipas_account_entry")
    cr.execute("ANALYZE multipas_account")
    cr.execute("ANALYZE multipas_card")
    cr.commit()
    common.say(f"  ANALYZE {time.perf_counter() - t0:.1f}s")
    return time.perf_counter() - started


def verify(cr, sample_accounts):
    """Consistency of the loaded ledger: every account's balance is Σ amounts,
    every entry points to an account, the chain of balance_after holds on a
    sample of accounts."""
    checks = {}
    t0 = time.perf_counter()
    cr.execute(
        """
        SELECT count(*) FROM multipas_account a
          LEFT JOIN (SELECT account_id, sum(amount) s FROM multipas_account_entry
                      GROUP BY account_id) e ON e.account_id = a.id
         WHERE a.balance IS DISTINCT FROM COALESCE(e.s, 0)
        """
    )
    checks["balance_not_sum_of_entries"] = cr.fetchone()[0]
    cr.execute(
        """
        SELECT count(*) FROM multipas_account_entry e
         WHERE NOT EXISTS (SELECT 1 FROM multipas_account a WHERE a.id = e.account_id)
        """
    )
    checks["entries_without_account"] = cr.fetchone()[0]
    cr.execute(
        """
        SELECT count(*) FROM (
            SELECT amount, balance_after,
                   lag(balance_after) OVER (PARTITION BY account_id ORDER BY id) prev
              FROM multipas_account_entry WHERE account_id = ANY(%s)) c
         WHERE balance_after != COALESCE(prev, 0) + amount
        """,
        [sample_accounts],
    )
    checks["broken_chain_in_sample"] = cr.fetchone()[0]
    checks["chain_sample_accounts"] = len(sample_accounts)
    checks["seconds"] = round(time.perf_counter() - t0, 1)
    return checks


def reader_uid(uid, rng):
    """The UID as some reader prints it."""
    if rng.random() < 0.5:
        return uid
    return ":".join(uid[i : i + 2] for i in range(0, len(uid), 2)).lower()


def time_reads(registry, account_ids, card_uids, calls, seed):
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    rng = random.Random(seed)
    accounts = [rng.choice(account_ids) for _ in range(calls)]
    uids = [reader_uid(rng.choice(card_uids), rng) for _ in range(calls)]
    history_accounts = [rng.choice(account_ids) for _ in range(calls)]

    def fresh(fn, arg):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            t0 = time.perf_counter()
            value = fn(env, arg)
            elapsed = (time.perf_counter() - t0) * 1000
        return elapsed, value

    def balance(env, account_id):
        return env["multipas.account"].browse(account_id).read(["balance"])[0]["balance"]

    def lookup(env, uid):
        card = env["multipas.card"]._find_by_uid(uid)
        return card.id

    def history(env, account_id):
        return env["multipas.account.entry"].search_read(
            [("account_id", "=", account_id)], ["amount", "balance_after", "kind", "date"], limit=20
        )

    results = {}
    for name, fn, args in (
        ("balance_read", balance, accounts),
        ("card_lookup", lookup, uids),
        ("account_history_20", history, history_accounts),
    ):
        for arg in args[:200]:  # warm-up: connection pool, ORM code paths
            fresh(fn, arg)
        samples = []
        misses = 0
        for arg in args:
            elapsed, value = fresh(fn, arg)
            samples.append(elapsed)
            if not value and name == "card_lookup":
                misses += 1
        results[name] = common.percentiles(samples)
        results[name]["calls"] = len(samples)
        if name == "card_lookup":
            results[name]["not_found"] = misses

    # the same balance read without the ORM, for reference
    import psycopg2  # noqa: PLC0415

    cnx = psycopg2.connect(dbname=registry.db_name)
    samples = []
    with cnx.cursor() as pcr:
        for account_id in accounts:
            t0 = time.perf_counter()
            pcr.execute("SELECT balance FROM multipas_account WHERE id = %s", [account_id])
            pcr.fetchone()
            samples.append((time.perf_counter() - t0) * 1000)
            cnx.rollback()
    cnx.close()
    results["raw_sql_balance"] = common.percentiles(samples)
    results["raw_sql_balance"]["calls"] = len(samples)
    return results


def explain_reads(registry, account_id, uid):
    """EXPLAIN (ANALYZE, BUFFERS) of the exact statements the ORM sends."""
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    plans = {}
    for name, call in (
        ("balance_read", lambda env: env["multipas.account"].browse(account_id).read(["balance"])),
        ("card_lookup", lambda env: env["multipas.card"]._find_by_uid(uid).id),
        (
            "account_history_20",
            lambda env: env["multipas.account.entry"].search_read(
                [("account_id", "=", account_id)],
                ["amount", "balance_after", "kind", "date"],
                limit=20,
            ),
        ),
    ):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            with common.capture_queries() as log:
                call(env)
            statements = []
            for query, params, _delay in log:
                sql = cr.mogrify(query, params).decode()
                cr.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                statements.append({"sql": sql, "plan": [row[0] for row in cr.fetchall()]})
            cr.rollback()
        plans[name] = statements
    return plans


def table_sizes(cr):
    cr.execute(
        """
        SELECT relname, pg_size_pretty(pg_total_relation_size(oid)), reltuples::bigint
          FROM pg_class
         WHERE relname IN ('multipas_account_entry', 'multipas_account', 'multipas_card')
        """
    )
    return {
        name: {"total_size": size, "estimated_rows": rows} for name, size, rows in cr.fetchall()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", default="10000,10000000", help="ledger sizes, comma separated")
    parser.add_argument(
        "--accounts", type=int, default=100_000, help="accounts = cardholders = cards (100000)"
    )
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument(
        "--calls", type=int, default=2000, help="timed calls per read and size (2000)"
    )
    parser.add_argument(
        "--chunk", type=int, default=1_000_000, help="rows per INSERT while loading"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="reuse this bench_ database (must hold the bulk population)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="LOAD",
        help="first wait (up to 10 min) until the 1-min load average is below LOAD",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.entries.split(",") if s.strip())

    common.wait_quiet(args.wait_quiet, 600)
    report = {"benchmark": "balance_read", "argv": sys.argv[1:], "machine": common.machine_info()}
    report["disk_free_before"] = subprocess.run(
        ["df", "-h", "--output=avail", "/var/lib/postgresql"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()[-1:]
    db = args.db or common.scratch_name("read")
    created = not args.db
    try:
        if created:
            common.say(f"creating {db} with {common.MODULE} (no demo data)")
            report["install_seconds"] = round(common.create_db(db), 1)
        registry = common.open_registry(db)
        with registry.cursor() as cr:
            cr.execute("SELECT min(id), max(id), count(*) FROM multipas_account")
            amin, amax, count = cr.fetchone()
            if not count:
                t0 = time.perf_counter()
                common.say(
                    f"population: {args.schools} schools, {args.accounts:,} cardholders/accounts/cards (SQL)"
                )
                amin, amax = common.bulk_population_sql(cr, args.schools, args.accounts)
                cr.commit()
                cr.execute("ANALYZE")
                report["population_seconds"] = round(time.perf_counter() - t0, 1)
                count = amax - amin + 1
            if amax - amin + 1 != count:
                raise SystemExit("account ids are not contiguous; use a fresh database")
            cr.execute("SELECT uid FROM multipas_card WHERE state != 'retired'")
            card_uids = [r[0] for r in cr.fetchall()]
        account_ids = list(range(amin, amax + 1))
        report["accounts"] = count
        report["cards"] = len(card_uids)
        horizon = max(sizes)
        report["sizes"] = {}
        rng = random.Random(args.seed)
        for size in sizes:
            common.say(f"ledger up to {size:,} entries")
            with registry.cursor() as cr:
                load_seconds = load_entries(cr, amin, count, size, horizon, args.chunk)
                checks = verify(cr, rng.sample(account_ids, min(1000, count)))
                sizes_now = table_sizes(cr)
                cr.execute("SELECT count(*) FROM multipas_account_entry")
                rows = cr.fetchone()[0]
            common.say(f"  checks {checks}; timing {args.calls} calls per read")
            sampler = common.CpuSampler(db=db).start()
            timings = time_reads(registry, account_ids, card_uids, args.calls, args.seed + size)
            sampler.stop()
            explain = explain_reads(
                registry, rng.choice(account_ids), reader_uid(rng.choice(card_uids), rng)
            )
            report["sizes"][size] = {
                "entries": rows,
                "load_seconds": round(load_seconds, 1),
                "checks": checks,
                "tables": sizes_now,
                "latency_ms": timings,
                "explain": explain,
                "loadavg_after_timing": common.loadavg(),
                # CPU seconds per process group while timing: "bench parent" is
                # this process; anything but it and postgres is other load
                "cpu_seconds_while_timing": sampler.groups,
                "timing_wall_seconds": round(sampler.elapsed, 1),
            }
            common.say(
                "  balance p50/p95/p99 {p50}/{p95}/{p99} ms".format(**timings["balance_read"])
                + "; card lookup {p50}/{p95}/{p99} ms".format(**timings["card_lookup"])
            )
    finally:
        import odoo  # noqa: PLC0415

        odoo.sql_db.close_all()
        if created and not args.keep:
            common.drop_db(db)
        elif created:
            report["kept_database"] = db

    bad = {
        size: {
            k: v
            for k, v in data["checks"].items()
            if k.startswith(("balance_", "entries_", "broken_")) and v
        }
        for size, data in report["sizes"].items()
    }
    report["ok"] = not any(bad.values())
    return common.finish(report, args, print_report)


def print_report(r):
    common.print_machine(r["machine"])
    print(f"{r['accounts']:,} accounts, {r['cards']:,} cards")
    header = f"{'entries':>12} {'read':<20} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean':>8} {'max':>8}"
    print("\n" + header)
    for data in r["sizes"].values():
        for name, lat in data["latency_ms"].items():
            print(
                f"{data['entries']:>12,} {name:<20} {lat['p50']:>8} {lat['p95']:>8} {lat['p99']:>8} "
                f"{lat['mean']:>8} {lat['max']:>8}"
            )
        print(f"{'':>12} load {data['load_seconds']} s, tables {data['tables']}")
        print(f"{'':>12} checks {data['checks']}")
        print(
            f"{'':>12} CPU s while timing ({data['timing_wall_seconds']} s): {data['cpu_seconds_while_timing']}"
        )
    for data in r["sizes"].values():
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) at {data['entries']:,} entries:")
        for name, statements in data["explain"].items():
            for st in statements:
                print(f"\n-- {name}\n{st['sql'].strip()}")
                print("\n".join("   " + line for line in st["plan"]))
    print(f"\n{'OK' if r['ok'] else 'FAILED: inconsistent ledger'}")


if __name__ == "__main__":
    sys.exit(main())
