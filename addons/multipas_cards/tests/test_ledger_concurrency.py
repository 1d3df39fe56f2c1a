"""The ledger under real concurrency: threads with their own committing
cursors, as Odoo workers serving several tills would be (the pattern of
base's test_ir_sequence). A TransactionCase shares one cursor and could not
show a lost update or an overspend."""

import random
import threading
import time
import uuid
from contextlib import contextmanager

import psycopg2.errors

from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError
from odoo.modules.registry import DummyRLock, Registry
from odoo.tests import BaseCase, get_db_name, tagged
from odoo.tools import SQL

THREADS = 8
RETRYABLE = (
    psycopg2.errors.SerializationFailure,
    psycopg2.errors.DeadlockDetected,
    psycopg2.errors.LockNotAvailable,
)


@contextmanager
def environment(registry=None):
    """A new cursor on the test database, committed and closed afterwards.

    Threads must be handed the registry: looking it up takes the registry
    lock, which the test runner's thread holds while tests run."""
    with (registry or Registry(get_db_name())).cursor() as cr:
        yield api.Environment(cr, SUPERUSER_ID, {})


def post_with_retry(registry, account_id, amount, kind, key):
    """Post in a transaction of its own and commit, re-running the whole
    transaction on a serialization failure the way Odoo's RPC layer does.

    Returns (entry_id, refused)."""
    for _attempt in range(100):
        try:
            with environment(registry) as env:
                try:
                    entry = env["multipas.account"].browse(account_id).post(amount, kind, key)
                except UserError:
                    env.cr.rollback()
                    return None, True
                return entry.id, False
        except RETRYABLE:
            time.sleep(random.uniform(0, 0.01))
    raise AssertionError(f"gave up posting {key} after 100 serialization failures")


@tagged("post_install", "-at_install")
class TestLedgerConcurrency(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tag = uuid.uuid4().hex[:8]
        cls.race_registry = Registry(get_db_name())
        with environment() as env:
            school = env["multipas.school"].create(
                {"name": f"Race school {cls.tag}", "code": f"RACE-{cls.tag}"}
            )
            holders = env["multipas.cardholder"].create(
                [
                    {"last_name": "Гонкин", "first_name": f"№{i}", "school_id": school.id}
                    for i in range(THREADS)
                ]
            )
            cls.school_id = school.id
            cls.holder_ids = holders.ids
            cls.account_ids = holders.account_ids.ids
            for account in holders.account_ids:
                account.post(100, "topup", "seed")
            # One account may go 30 below zero: the limit must hold under races too.
            holders.account_ids[0].credit_limit = 30

    @classmethod
    def tearDownClass(cls):
        # Entries are immutable to the ORM; only a test may remove its own.
        with environment() as env:
            env.cr.execute(
                SQL(
                    "DELETE FROM multipas_account_entry WHERE account_id IN %s",
                    tuple(cls.account_ids),
                )
            )
            env.cr.execute(
                SQL("DELETE FROM multipas_account WHERE id IN %s", tuple(cls.account_ids))
            )
            env["multipas.cardholder"].browse(cls.holder_ids).unlink()
            env["multipas.school"].browse(cls.school_id).unlink()
        super().tearDownClass()

    @contextmanager
    def _registry_unlocked(self):
        """Let worker threads build environments.

        The test runner's thread holds the registry lock for the whole test
        run, and every new Environment looks the registry up under it; the
        HTTP test mode lifts it the same way while browser tests run."""
        saved = Registry._lock
        Registry._lock = DummyRLock()
        try:
            yield
        finally:
            Registry._lock = saved

    def _run_threads(self, work):
        """Run work(thread_index) in THREADS threads started together."""
        with self._registry_unlocked():
            self._run_threads_unlocked(work)

    def _run_threads_unlocked(self, work):
        barrier = threading.Barrier(THREADS)
        errors = []

        def target(index):
            try:
                barrier.wait()
                work(index)
            except Exception as exc:  # noqa: BLE001 - surfaced in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 300
        for thread in threads:
            thread.join(timeout=max(0, deadline - time.monotonic()))
        self.assertFalse(any(t.is_alive() for t in threads), "threads still running after 300 s")
        self.assertFalse(errors, errors[:1])

    def test_posting_locks_stay_on_the_fast_path(self):
        """Test that a posting takes few enough relation locks for PostgreSQL's
        per-backend fast path: past 16 relations a transaction's locks go to
        the shared lock table, which concurrent tills then contend for."""
        with environment() as env:
            env["multipas.account"].browse(self.account_ids[1]).post(1, "topup", "fast-path")
            rows = env.execute_query(
                SQL(
                    "SELECT relation::regclass::text, fastpath FROM pg_locks"
                    " WHERE pid = pg_backend_pid() AND locktype = 'relation'"
                    " AND relation <> 'pg_locks'::regclass"
                )
            )
            env.cr.rollback()
        self.assertIn(("multipas_account_entry", True), rows)
        self.assertEqual([row for row in rows if not row[1]], [])

    def _assert_ledger_sound(self):
        with environment() as env:
            rows = env.execute_query(
                SQL(
                    """
                    SELECT a.id, a.balance, a.credit_limit, COALESCE(SUM(e.amount), 0),
                           COUNT(e.id), COUNT(DISTINCT e.idempotency_key)
                      FROM multipas_account a
                      LEFT JOIN multipas_account_entry e ON e.account_id = a.id
                     WHERE a.id IN %s
                     GROUP BY a.id
                    """,
                    tuple(self.account_ids),
                )
            )
            for account_id, balance, credit_limit, total, count, distinct_keys in rows:
                self.assertEqual(balance, total, f"lost update on account {account_id}")
                self.assertGreaterEqual(balance, -credit_limit, f"overspend on {account_id}")
                self.assertEqual(count, distinct_keys, f"a key posted twice on {account_id}")
            problems = env["multipas.account"]._find_inconsistent_accounts()
            self.assertFalse(set(problems) & set(self.account_ids))

    def test_race_on_one_account(self):
        """Test that 8 threads debiting and crediting one account lose nothing and never overspend."""
        account_id = self.account_ids[0]
        with environment() as env:
            before = env["multipas.account"].browse(account_id).balance
        applied = []

        def work(index):
            rnd = random.Random(index)
            for op in range(15):
                if rnd.random() < 0.7:
                    amount, kind = -round(rnd.uniform(5, 25), 2), "purchase"
                else:
                    amount, kind = round(rnd.uniform(5, 25), 2), "topup"
                entry_id, refused = post_with_retry(
                    self.race_registry, account_id, amount, kind, f"one-{index}-{op}"
                )
                if not refused:
                    applied.append(amount)

        self._run_threads(work)
        self._assert_ledger_sound()
        with environment() as env:
            balance = env["multipas.account"].browse(account_id).balance
        self.assertAlmostEqual(balance, before + sum(applied), places=2)

    def test_race_on_many_accounts(self):
        """Test that 8 threads posting on all accounts at random keep every account sound."""

        def work(index):
            rnd = random.Random(100 + index)
            for op in range(20):
                account_id = rnd.choice(self.account_ids)
                if rnd.random() < 0.6:
                    post_with_retry(
                        self.race_registry,
                        account_id,
                        -round(rnd.uniform(1, 40), 2),
                        "purchase",
                        f"many-{index}-{op}",
                    )
                else:
                    post_with_retry(
                        self.race_registry,
                        account_id,
                        round(rnd.uniform(1, 40), 2),
                        "topup",
                        f"many-{index}-{op}",
                    )

        self._run_threads(work)
        self._assert_ledger_sound()

    def test_same_key_from_all_threads(self):
        """Test that one key posted by 8 threads at once makes one entry and one balance change."""
        account_id = self.account_ids[1]
        with environment() as env:
            before = env["multipas.account"].browse(account_id).balance
        results = []

        def work(index):
            results.append(
                post_with_retry(self.race_registry, account_id, 42, "topup", "the-one-key")
            )

        self._run_threads(work)
        self.assertEqual(len({entry_id for entry_id, _refused in results}), 1)
        with environment() as env:
            account = env["multipas.account"].browse(account_id)
            self.assertAlmostEqual(account.balance, before + 42, places=2)
            self.assertEqual(
                env["multipas.account.entry"].search_count(
                    [("account_id", "=", account_id), ("idempotency_key", "=", "the-one-key")]
                ),
                1,
            )
        self._assert_ledger_sound()

    def test_retry_in_the_same_session(self):
        """Test that a posting that failed on a concurrent update is re-run on
        the same cursor (as Odoo's retrying() does) and posts exactly once,
        whether or not its session had the posting statement prepared."""
        account_id = self.account_ids[2]
        registry = Registry(get_db_name())
        with registry.cursor() as till, environment() as other:
            till_env = api.Environment(till, SUPERUSER_ID, {})
            for attempt in range(2):
                # the till's snapshot is taken, then another till posts
                till.execute(SQL("SELECT 1"))
                other["multipas.account"].browse(account_id).post(1, "topup", f"other-{attempt}")
                other.cr.commit()
                with self.assertRaises(psycopg2.errors.SerializationFailure):
                    till_env["multipas.account"].browse(account_id).post(
                        5, "topup", f"retried-{attempt}"
                    )
                till.rollback()
                entry = (
                    till_env["multipas.account"]
                    .browse(account_id)
                    .post(5, "topup", f"retried-{attempt}")
                )
                till.commit()
                self.assertTrue(till._multipas_post_prepared)
                self.assertEqual(entry.balance_after, entry.account_id.balance)
        with environment() as env:
            self.assertEqual(
                env["multipas.account.entry"].search_count(
                    [("account_id", "=", account_id), ("idempotency_key", "like", "retried-%")]
                ),
                2,
            )
        self._assert_ledger_sound()
