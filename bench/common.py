"""Shared helpers for the Multipas benchmarks.

- :func:`create_db` / :func:`drop_db`: a scratch database with ``multipas_cards``
  installed *without* demo data (``--without-demo=all``), built by a separate
  ``python3 -m odoo … --stop-after-init`` run, and dropped again afterwards.
- :func:`open_registry`: configure Odoo in this process and load the registry of
  a database, as an Odoo worker does.
- :func:`make_population`: schools, classes, cardholders (each gets its personal
  account) through the ORM, in batches.
- :func:`bulk_population_sql`: the same shape with plain SQL for large numbers
  (100k cardholders/accounts/cards in seconds), for read benchmarks.
- :func:`capture_queries`: record the SQL Odoo sends (Odoo's own ``query_hooks``),
  to EXPLAIN the exact statements and to split time between SQL and Python.
- :func:`machine_info`: what BENCHMARKS.md states about the machine.

Nothing here edits the addon; everything runs against scratch databases whose
name starts with ``bench_``.
"""

import collections
import contextlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADDONS_DIR = REPO / "addons"
MODULE = "multipas_cards"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def say(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pg_tool(name):
    """Path of a PostgreSQL client tool (pgbench, psql…)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = PG_BIN / name
    if candidate.exists():
        return str(candidate)
    raise SystemExit(f"{name} not found on PATH nor in {PG_BIN}")


def odoo_addons_path():
    """Odoo's own addons folders (source or packaged layout) plus ours."""
    import odoo  # noqa: PLC0415 - imported late so --help works without Odoo

    package = Path(odoo.__file__).resolve().parent
    paths = [p for p in (package / "addons", package.parent / "addons") if p.is_dir()]
    return ",".join(str(p) for p in [*paths, ADDONS_DIR])


def data_dir_for(db):
    return Path(tempfile.gettempdir()) / "multipas-bench-data" / db


def scratch_name(prefix):
    return f"bench_{prefix}_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- databases ------------------------------------------------------------------------


def pg_connect(dbname="postgres", autocommit=True):
    import psycopg2  # noqa: PLC0415

    cnx = psycopg2.connect(dbname=dbname)
    cnx.autocommit = autocommit
    return cnx


def drop_db(db):
    """Drop a scratch database (even with connections left open) and its filestore."""
    if not db.startswith("bench_"):
        raise ValueError(f"refusing to drop {db}: not a bench_ scratch database")
    cnx = pg_connect()
    try:
        with cnx.cursor() as cr:
            cr.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    finally:
        cnx.close()
    shutil.rmtree(data_dir_for(db), ignore_errors=True)


def create_plain_db(db):
    """An empty database (used for pgbench)."""
    cnx = pg_connect()
    try:
        with cnx.cursor() as cr:
            cr.execute(f'CREATE DATABASE "{db}"')
    finally:
        cnx.close()


def create_db(db, modules=(MODULE,), timeout=1800):
    """Create ``db`` and install ``modules`` without demo data, in a child Odoo.

    Returns the seconds it took. Raises SystemExit with Odoo's last log lines
    when the install fails.
    """
    data_dir = data_dir_for(db)
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "odoo",
        "-d", db,
        f"--addons-path={odoo_addons_path()}",
        f"--data-dir={data_dir}",
        "-i", ",".join(modules),
        "--without-demo=all",
        "--stop-after-init",
        "--workers=0",
        "--max-cron-threads=0",
        f"--http-port={free_port()}",
        "--log-level=warn",
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    elapsed = time.perf_counter() - started
    log = result.stdout + result.stderr
    lines = log.splitlines()
    bad = [i for i, line in enumerate(lines) if " ERROR " in line or " CRITICAL " in line]
    if result.returncode != 0 or bad:
        # from the first error on (with its traceback), at most 40 lines
        start = bad[0] if bad else max(0, len(lines) - 40)
        tail = "\n".join(lines[start : start + 40])
        raise SystemExit(f"installing {','.join(modules)} on {db} failed:\n{tail}")
    return elapsed


def open_registry(db):
    """Configure Odoo for ``db`` in this process and return its registry."""
    import odoo  # noqa: PLC0415

    odoo.tools.config.parse_config(
        [
            f"--addons-path={odoo_addons_path()}",
            f"--data-dir={data_dir_for(db)}",
            "-d",
            db,
            "--log-level=warn",
            "--max-cron-threads=0",
        ],  # fmt: skip
        setup_logging=True,
    )
    return odoo.modules.registry.Registry(db)


def superuser_env(cr):
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    return api.Environment(cr, SUPERUSER_ID, {})


# --- population -----------------------------------------------------------------------

QUIET_CTX = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
}


def make_population(env, schools=1, holders_per_school=100, batch=500, credit_limits=(0.0,)):
    """Create schools, one class per school and cardholders through the ORM.

    Each cardholder gets its personal account (``multipas.cardholder.create``
    opens it). ``credit_limits`` is cycled over the accounts. Returns the list of
    account ids, in creation order (school by school).
    """
    env = env(context=dict(env.context, **QUIET_CTX))
    School = env["multipas.school"]
    Class = env["multipas.class"]
    Holder = env["multipas.cardholder"]
    account_ids = []
    first = School.with_context(active_test=False).search_count([]) + 1
    for s in range(first, first + schools):
        school = School.create({"name": f"Bench school {s}", "code": f"B{s:04d}", "tz": "UTC"})
        klass = Class.create({"school_id": school.id, "grade": 5, "letter": "A"})
        for start in range(0, holders_per_school, batch):
            count = min(batch, holders_per_school - start)
            holders = Holder.create(
                [
                    {
                        "last_name": f"Pupil{s:04d}",
                        "first_name": f"N{start + i + 1:06d}",
                        "school_id": school.id,
                        "class_id": klass.id,
                    }
                    for i in range(count)
                ]
            )
            accounts = holders.account_ids.sorted("id")
            account_ids.extend(accounts.ids)
    for limit in set(credit_limits):
        if limit:
            env["multipas.account"].browse(
                [
                    account_id
                    for index, account_id in enumerate(account_ids)
                    if credit_limits[index % len(credit_limits)] == limit
                ]
            ).write({"credit_limit": limit})
    env.flush_all()
    return account_ids


def table_columns(cr, table):
    cr.execute(
        "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_name = %s",
        [table],
    )
    return {name: (nullable == "YES", default) for name, nullable, default in cr.fetchall()}


def required_defaults(cr, model, table, given):
    """{column: value} for the NOT NULL columns of ``table`` without a database
    default that ``given`` leaves out, from the model's own defaults: the bulk
    loaders below keep working when a model gains a required field."""
    from odoo import SUPERUSER_ID, api  # noqa: PLC0415

    missing = [
        name
        for name, (nullable, default) in table_columns(cr, table).items()
        if not nullable and default is None and name not in given
    ]
    defaults = api.Environment(cr, SUPERUSER_ID, {})[model].default_get(missing)
    unknown = [name for name in missing if defaults.get(name) in (None, False)]
    if unknown:
        raise RuntimeError(f"{table}: no default for the required column(s) {unknown}")
    return {name: defaults[name] for name in missing}


def insert_select_sql(cr, model, table, columns, select):
    """(``INSERT INTO table (…) SELECT …`` text, its parameters): ``select``
    yields ``columns`` in order; every other required column of ``table`` gets
    the model's default (see :func:`required_defaults`)."""
    extra = required_defaults(cr, model, table, set(columns))
    params = {f"bulk_default_{name}": value for name, value in extra.items()}
    names = ", ".join([*columns, *extra])
    values = "".join(f", %(bulk_default_{name})s" for name in extra)
    return f"INSERT INTO {table} ({names}) SELECT q.*{values} FROM ({select}) q", params


def bulk_population_sql(cr, schools, holders, cards=True):
    """Insert ``holders`` cardholders (partner + cardholder + account, and an
    issued card each when ``cards``) spread over ``schools`` schools with plain SQL.

    Meant for read benchmarks where the ORM would take minutes. Required columns
    are filled the way the ORM would; the account numbers follow the module's
    format only loosely (B + 9 digits, no Luhn digit: reads don't check it).
    Returns (first_account_id, last_account_id).
    """
    cr.execute("SELECT id, currency_id FROM res_company ORDER BY id LIMIT 1")
    company_id, currency_id = cr.fetchone()
    now = "now() AT TIME ZONE 'UTC'"
    audit = ("create_uid", "create_date", "write_uid", "write_date")
    audit_values = f"1, {now}, 1, {now}"

    def insert(model, table, columns, select, params, returning=False):
        sql, extra = insert_select_sql(cr, model, table, [*columns, *audit], select)
        if returning:
            sql = f"WITH ins AS ({sql} RETURNING id) SELECT min(id), max(id) FROM ins"
        cr.execute(sql, {**params, **extra})
        return cr.fetchone() if returning else None

    insert(
        "multipas.school",
        "multipas_school",
        ("name", "code", "active", "company_id", "tz", "reserve_min"),
        f"""SELECT 'Bulk school ' || s, 'BULK' || s, TRUE, %(company)s, 'Asia/Yekaterinburg',
                   10, {audit_values}
              FROM generate_series(1, %(schools)s) s""",
        {"company": company_id, "schools": schools},
    )
    cr.execute("SELECT id FROM multipas_school WHERE code LIKE 'BULK%%' ORDER BY id")
    school_ids = [r[0] for r in cr.fetchall()]
    insert(
        "multipas.class",
        "multipas_class",
        ("name", "school_id", "company_id", "grade", "letter", "school_year", "active"),
        f"""SELECT '5A', s.id, %(company)s, 5, 'A', '2026/2027', TRUE, {audit_values}
              FROM multipas_school s WHERE s.id = ANY(%(schools)s)""",
        {"company": company_id, "schools": school_ids},
    )
    # people: one row per cardholder, to carry the ids from insert to insert
    cr.execute(
        """
        CREATE TEMP TABLE bench_people ON COMMIT DROP AS
        SELECT g AS n,
               (%(schools)s)[1 + (g - 1) %% array_length(%(schools)s, 1)] AS school_id
          FROM generate_series(1, %(holders)s) g
        """,
        {"schools": school_ids, "holders": holders},
    )
    cr.execute(
        """
        ALTER TABLE bench_people ADD COLUMN partner_id int, ADD COLUMN holder_id int,
                                 ADD COLUMN class_id int
        """
    )
    cr.execute(
        """
        UPDATE bench_people p SET class_id = c.id
          FROM multipas_class c WHERE c.school_id = p.school_id
        """
    )
    pmin, _pmax = insert(
        "res.partner",
        "res_partner",
        ("name", "complete_name", "type", "active", "is_company", "lang"),
        f"""SELECT 'Bulk Pupil ' || n, 'Bulk Pupil ' || n, 'contact', TRUE, FALSE, 'en_US',
                   {audit_values}
              FROM bench_people ORDER BY n""",
        {},
        returning=True,
    )
    cr.execute("UPDATE bench_people SET partner_id = %s + n - 1", [pmin])
    hmin, _hmax = insert(
        "multipas.cardholder",
        "multipas_cardholder",
        (
            "partner_id",
            "last_name",
            "first_name",
            "kind",
            "school_id",
            "company_id",
            "class_id",
            "state",
        ),  # fmt: skip
        f"""SELECT partner_id, 'Pupil', 'N' || n, 'pupil', school_id, %(company)s, class_id,
                   'enrolled', {audit_values}
              FROM bench_people ORDER BY n""",
        {"company": company_id},
        returning=True,
    )
    cr.execute("UPDATE bench_people SET holder_id = %s + n - 1", [hmin])
    amin, amax = insert(
        "multipas.account",
        "multipas_account",
        (
            "number",
            "holder_id",
            "school_id",
            "company_id",
            "currency_id",
            "balance",
            "credit_limit",
            "daily_limit",
            "daily_spent",
            "low_balance_threshold",
            "state",
            # the posting's context, stored on the account (related fields)
            "class_id",
            "school_tz",
            "currency_rounding",
            "currency_decimal_places",
        ),  # fmt: skip
        f"""SELECT 'B' || lpad(n::text, 9, '0'), holder_id, p.school_id, %(company)s,
                   %(currency)s, 0, 0, 0, 0, 100, 'open', p.class_id, s.tz, c.rounding,
                   c.decimal_places, {audit_values}
              FROM bench_people p
              JOIN multipas_school s ON s.id = p.school_id
              JOIN res_currency c ON c.id = %(currency)s
             ORDER BY n""",
        {"company": company_id, "currency": currency_id},
        returning=True,
    )
    if cards:
        # UID: 7-byte MIFARE-like hex derived from n (unique), printed number C + n.
        insert(
            "multipas.card",
            "multipas_card",
            (
                "number",
                "uid",
                "technology",
                "state",
                "school_id",
                "company_id",
                "holder_id",
                "is_reserve",
                "issued_date",
            ),  # fmt: skip
            f"""SELECT 'C' || lpad(n::text, 9, '0'),
                       '04' || upper(lpad(to_hex(n * 2654435761 %% 4294967296), 8, '0'))
                            || upper(lpad(to_hex(n %% 65536), 4, '0')),
                       'mifare_classic', 'issued', school_id, %(company)s, holder_id, FALSE,
                       {now}, {audit_values}
                  FROM bench_people ORDER BY n""",
            {"company": company_id},
        )
    return amin, amax


CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- CPU accounting -----------------------------------------------------------------


def _proc_cpu():
    """{pid: (group, cpu seconds)} for every process on the machine."""
    snapshot = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                raw = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        snapshot[int(entry.name)] = (comm, cpu)
    return snapshot


def _pg_label(pid, db):
    """Which kind of PostgreSQL process ``pid`` is, from its command line
    ("postgres: 15/main: root <db> [local] idle", "…: walwriter", …)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return "postgres: gone"
    if "autovacuum worker" in cmdline:
        return "postgres: autovacuum"
    words = cmdline.split()
    # backends: "postgres: <cluster>: <user> <db> <host> <state>"
    if len(words) >= 5 and words[0] == "postgres:" and words[3] != "autovacuum":
        background = {"walwriter", "checkpointer", "background", "logical", "wal", "archiver"}
        if words[2] not in background and words[2].rstrip(":") not in background:
            if db and words[3] == db:
                return "postgres: this benchmark's backends"
            return "postgres: other databases' backends (other load)"
    return "postgres: background (WAL writer, checkpointer, …)"


class CpuSampler:
    """Samples /proc every ``interval`` seconds and reports, per process group,
    the CPU seconds spent between start() and stop(): ``own_pids`` ("bench
    clients"), this process ("bench parent"), PostgreSQL split by the command
    line of each process (backends of ``db``, of other databases, autovacuum,
    background processes), and anything else by its name (which shows other
    load on the machine)."""

    def __init__(self, own_pids=(), db=None, interval=0.25):
        self.own_pids = set(own_pids)
        self.db = db
        self.interval = interval
        self.first = {}
        self.last = {}
        self.labels = {}
        self._started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _label(self, pid, comm):
        if pid not in self.labels:
            if pid in self.own_pids:
                label = "bench clients (python)"
            elif pid == os.getpid():
                label = "bench parent"
            elif comm.startswith(("postgres", "postmaster")):
                label = _pg_label(pid, self.db)
            else:
                label = comm
            self.labels[pid] = label
        return self.labels[pid]

    def _sample(self):
        for pid, (comm, cpu) in _proc_cpu().items():
            if pid not in self.first:
                self.first[pid] = cpu if self._started else 0.0
                self._label(pid, comm)
            self.last[pid] = cpu

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    @staticmethod
    def _steal():
        """CPU seconds the hypervisor gave to other guests (all CPUs)."""
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                fields = fh.readline().split()
            return int(fields[8]) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return 0.0

    def start(self):
        self._steal0 = self._steal()
        self._started = True
        self._sample()
        self._started = False  # processes first seen later started inside the window
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.elapsed = time.perf_counter() - self.t0
        groups = collections.Counter()
        for pid, cpu in self.last.items():
            delta = cpu - self.first.get(pid, 0.0)
            if delta > 0:
                groups[self.labels.get(pid, "?")] += delta
        steal = self._steal() - self._steal0
        if steal > 0:
            groups["steal (hypervisor, other guests)"] = steal
        self.groups = {k: round(v, 2) for k, v in groups.most_common()}
        self.total = round(sum(groups.values()), 2)
        self.own = round(sum(v for k, v in groups.items() if self.is_own(k)), 2)
        self.other = round(sum(v for k, v in groups.items() if not self.is_own(k)), 2)
        return self

    @staticmethod
    def is_own(group):
        """CPU the benchmark itself causes: its clients, its backends, and
        PostgreSQL's shared background work (WAL writer, autovacuum…)."""
        return group.startswith(
            (
                "bench clients",
                "pgbench",
                "postgres: this",
                "postgres: background",
                "postgres: autovacuum",
            )
        )


# --- measuring ------------------------------------------------------------------------


@contextlib.contextmanager
def capture_queries():
    """Record (query, params, seconds) of every statement Odoo's cursors run in
    this thread, through the ``query_hooks`` that ``odoo.sql_db.Cursor.execute``
    calls."""
    thread = threading.current_thread()
    log = []

    def hook(cr, query, params, start, delay):
        log.append((query, params, delay))

    previous = getattr(thread, "query_hooks", None)
    thread.query_hooks = [*(previous or ()), hook]
    try:
        yield log
    finally:
        if previous is None:
            del thread.query_hooks
        else:
            thread.query_hooks = previous


class PostingStatement:
    """The statement(s) ``post()`` sends to PostgreSQL, captured from one real
    call, so that diagnosis runs can re-send the ledger's own SQL without the
    ORM around it, whatever the addon's current implementation is (a CTE, a
    PL/pgSQL function…).

    ``code``/``params`` is the posting statement (the one carrying the key);
    ``reads`` are the other statements of the call (ORM reads, flushes).
    :meth:`params_for` gives the parameters for another account and key (the
    amount, kind and timestamp stay those of the captured call: a top-up).
    """

    def __init__(self, env, account_id, amount=10.0, kind="topup"):
        import uuid  # noqa: PLC0415

        self.key = f"capture-{uuid.uuid4().hex}"
        self.account_id = account_id
        if account_id in (env.uid, env.company.id, env.company.currency_id.id):
            # params_for() swaps the account id by value: it must be unambiguous
            raise ValueError(f"capture on another account than {account_id}")
        with capture_queries() as log:
            env["multipas.account"].browse(account_id).post(amount, kind, self.key)
        posting = [(q, p) for q, p, _d in log if p and self.key in p]
        if len(posting) != 1:
            raise RuntimeError(f"expected one posting statement, captured {len(posting)}")
        self.code, self.params = posting[0][0], tuple(posting[0][1])
        if self.code.lstrip().upper().startswith("PREPARE"):
            # the session's first posting: "PREPARE …; EXECUTE …"
            self.code = self.code.rsplit(";", 1)[1].strip()
        self.reads = [
            (q, p)
            for q, p, _d in log
            if not (p and self.key in p) and not q.lstrip().upper().startswith("PREPARE")
        ]
        # post() may send its statement as EXECUTE of a statement it prepared
        # once per connection: ``setup`` prepares it on another connection, and
        # ``plain_code`` is the same call unprepared (parsed at every posting).
        self.setup, self.plain_code = (), self.code
        if self.code.lstrip().upper().startswith("EXECUTE"):
            from odoo.addons.multipas_cards.models import multipas_account  # noqa: PLC0415

            self.setup = (multipas_account.PREPARE_POST_SQL,)
            body = multipas_account.PREPARE_POST_SQL.split(" AS ", 1)[1]
            self.plain_code = re.sub(r"\$\d+", "%s", body)

    def prepare_on(self, cursor):
        """Run ``setup`` on ``cursor``'s connection (once per connection)."""
        for statement in self.setup:
            cursor.execute(statement)

    def params_for(self, account_id, key):
        return tuple(
            key if p == self.key else account_id if type(p) is int and p == self.account_id else p
            for p in self.params
        )

    def prepared(self, name):
        """(PREPARE statement, EXECUTE template) of the posting statement."""
        import datetime  # noqa: PLC0415

        types = []
        for p in self.params:
            if isinstance(p, bool):
                types.append("boolean")
            elif isinstance(p, int):
                types.append("integer")
            elif isinstance(p, float):
                types.append("numeric")
            elif isinstance(p, datetime.datetime):
                types.append("timestamp")
            else:
                types.append("varchar")
        parts = self.plain_code.split("%s")
        code = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
        prepare = f"PREPARE {name}({', '.join(types)}) AS {code}"
        execute = f"EXECUTE {name}({', '.join(['%s'] * len(self.params))})"
        return prepare, execute


def addon_fingerprint():
    """Which ledger code was measured: HEAD, whether the addon differs from it,
    and a hash of the ledger file as it was on disk."""
    import hashlib  # noqa: PLC0415

    ledger = ADDONS_DIR / MODULE / "models" / "multipas_account.py"

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "git_head": git("rev-parse", "--short", "HEAD"),
        "addon_uncommitted_changes": bool(
            git("status", "--porcelain", "--", str(ADDONS_DIR / MODULE))
        ),
        "multipas_account_py_sha1": hashlib.sha1(ledger.read_bytes()).hexdigest()[:12],
    }


def percentiles(samples_ms, points=(50, 95, 99)):
    if not samples_ms:
        return {f"p{p}": None for p in points}
    ordered = sorted(samples_ms)
    result = {}
    for p in points:
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        result[f"p{p}"] = round(ordered[index], 3)
    result["mean"] = round(statistics.fmean(ordered), 3)
    result["max"] = round(ordered[-1], 3)
    return result


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info():
    info = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["memory"] = (
            subprocess.run(["free", "-h"], capture_output=True, text=True, check=False)
            .stdout.splitlines()[1]
            .split()[1]
        )
    except (OSError, IndexError):
        pass
    cnx = pg_connect()
    try:
        with cnx.cursor() as cr:
            cr.execute("SHOW server_version")
            info["postgresql"] = cr.fetchone()[0]
            cr.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name IN "
                "('shared_buffers', 'max_connections', 'work_mem', 'synchronous_commit', "
                "'fsync', 'wal_level', 'max_wal_size', 'effective_cache_size', "
                "'maintenance_work_mem', 'default_transaction_isolation', 'checkpoint_timeout')"
            )
            info["pg_settings"] = {
                name: f"{setting}{' ' + unit if unit else ''}"
                for name, setting, unit in cr.fetchall()
            }
    finally:
        cnx.close()
    import odoo  # noqa: PLC0415

    info["odoo"] = odoo.release.version
    info["addon"] = addon_fingerprint()
    info["loadavg"] = loadavg()
    info["oldest_transaction"] = oldest_transaction()
    return info


def oldest_transaction():
    """(seconds, database) of the oldest open transaction in the whole cluster
    that holds back the xmin horizon, or (0, None).

    Such a transaction, in ANY database (an Odoo test run keeps one open for
    its whole suite), holds back every snapshot's xmin, so PostgreSQL can't
    prune dead row versions anywhere: account updates stop being HOT, pages
    fill with dead rows and the ledger benchmark measures that instead.
    """
    cnx = pg_connect()
    try:
        with cnx.cursor() as cr:
            cr.execute(
                """
                SELECT EXTRACT(EPOCH FROM now() - xact_start), datname
                  FROM pg_stat_activity
                 WHERE pid != pg_backend_pid() AND xact_start IS NOT NULL
                   AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)
                 ORDER BY xact_start LIMIT 1
                """
            )
            row = cr.fetchone()
    finally:
        cnx.close()
    return (round(float(row[0]), 1), row[1]) if row else (0.0, None)


def box_machine():
    """What the box benchmarks record of the machine (they need neither
    PostgreSQL nor Odoo, unlike :func:`machine_info`)."""
    import sqlite3  # noqa: PLC0415 - only the box benchmarks need it

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    return {
        "lscpu": "\n".join(lscpu.splitlines()[:15]),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "loadavg": loadavg(),
    }


def wait_quiet(max_load, timeout, max_xact_age=10):
    """Wait until the 1-minute load average drops below ``max_load`` and no
    transaction older than ``max_xact_age`` seconds is open in the cluster
    (other jobs on a shared machine skew every figure; see
    :func:`oldest_transaction`); give up after ``timeout`` seconds."""
    if not max_load:
        return None
    deadline = time.time() + timeout
    while time.time() < deadline:
        age, db = oldest_transaction()
        if os.getloadavg()[0] < max_load and age <= max_xact_age:
            break
        say(
            f"load average {os.getloadavg()[0]:.2f} (want < {max_load}), oldest open "
            f"transaction {age:.0f} s in {db} (want <= {max_xact_age} s): waiting"
        )
        time.sleep(15)
    return loadavg()


def finish(report, args, print_report):
    """Close a benchmark: stamp the load average, print JSON or the readable
    report, and return the exit code (1 when a correctness check failed)."""
    import json  # noqa: PLC0415 - only the report needs it

    report["machine"]["loadavg_after"] = loadavg()
    report["machine"]["oldest_transaction_after"] = oldest_transaction()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    return 0 if report["ok"] else 1


def print_machine(m):
    """The two lines every readable report starts with."""
    print(
        f"machine: {m.get('cpu')} × {m['nproc']}, {m.get('memory')} RAM, "
        f"PostgreSQL {m['postgresql']}, Odoo {m['odoo']}"
    )
    print(f"load average before / after: {m['loadavg']} / {m['loadavg_after']}")
    before, after = m.get("oldest_transaction"), m.get("oldest_transaction_after")
    if before and after:
        print(
            f"oldest open transaction in the cluster before / after: {before[0]} s ({before[1]})"
            f" / {after[0]} s ({after[1]})"
        )
