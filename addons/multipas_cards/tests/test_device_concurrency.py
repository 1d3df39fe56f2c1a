"""The device API's storage under real concurrency: threads with their own
committing cursors, as two Odoo workers serving the same box would be."""

import threading
import time
import uuid

import psycopg2.errors

from odoo import fields
from odoo.modules.registry import DummyRLock, Registry
from odoo.tests import BaseCase, get_db_name, tagged
from odoo.tools import SQL

from .test_ledger_concurrency import RETRYABLE, environment

THREADS = 6


def ingest_with_retry(registry, device_id, batch_uuid, events):
    """Store a batch in a transaction of its own, as the device's technical
    user, re-running it on a serialization failure as Odoo's HTTP layer does.
    Returns the results, or None for a replayed batch."""
    for _attempt in range(100):
        try:
            with environment(registry) as env:
                device = env["multipas.device"].browse(device_id)
                tech = device.user_id
                return (
                    env["multipas.device.event"]
                    .with_user(tech)
                    ._api_ingest(device.with_user(tech), batch_uuid, events)
                )
        except RETRYABLE:
            time.sleep(0.005)
    raise AssertionError("gave up after 100 serialization failures")


@tagged("post_install", "-at_install", "multipas_device")
class TestDeviceConcurrency(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tag = uuid.uuid4().hex[:8]
        cls.registry_ = Registry(get_db_name())
        with environment() as env:
            school = env["multipas.school"].create(
                {"name": f"Device race {cls.tag}", "code": f"DRACE-{cls.tag}"}
            )
            cards = env["multipas.card"].create(
                [
                    {
                        "number": f"DR-{cls.tag}-{i}",
                        "uid": f"0D{cls.tag[:6].upper()}{i:02X}",
                        "school_id": school.id,
                        "state": "stock",
                    }
                    for i in range(2)
                ]
            )
            device = env["multipas.device"].create({"name": "Race box", "school_id": school.id})
            cls.school_id, cls.card_ids, cls.device_id = school.id, cards.ids, device.id

    @classmethod
    def tearDownClass(cls):
        with environment() as env:
            env.cr.execute(
                SQL("DELETE FROM multipas_device_event WHERE device_id = %s", cls.device_id)
            )
            env["multipas.device"].browse(cls.device_id).unlink()
            env["multipas.card"].browse(cls.card_ids).unlink()
            env["multipas.school"].browse(cls.school_id).unlink()
        super().tearDownClass()

    def _events(self, count):
        return [
            {
                "uuid": str(uuid.uuid4()),
                "kind": "card_tap",
                "uid": "DEADBEEF",
                "at": fields.Datetime.now(),
                "reader": None,
                "data": {},
            }
            for _i in range(count)
        ]

    def _run(self, work):
        results, errors = [None] * THREADS, []
        barrier = threading.Barrier(THREADS)

        def target(index):
            try:
                barrier.wait()
                results[index] = work(index)
            except Exception as exc:  # noqa: BLE001 - surfaced in the main thread
                errors.append(exc)

        saved, Registry._lock = Registry._lock, DummyRLock()
        try:
            threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        finally:
            Registry._lock = saved
        self.assertFalse(errors, errors[:1])
        return results

    def _stored(self, uuids):
        with environment() as env:
            return env.execute_query(
                SQL(
                    "SELECT uuid, count(*) FROM multipas_device_event WHERE uuid IN %s GROUP BY uuid",
                    tuple(uuids),
                )
            )

    def test_same_batch_from_many_connections(self):
        """Test that the same batch sent at once over several connections is
        stored once: one answer with results, the others replayed (409)."""
        events = self._events(20)
        batch = str(uuid.uuid4())
        results = self._run(
            lambda i: ingest_with_retry(self.registry_, self.device_id, batch, events)
        )
        answered = [r for r in results if r is not None]
        self.assertEqual(len(answered), 1, results)
        self.assertEqual({status for _u, status in answered[0]}, {"accepted"})
        stored = self._stored([e["uuid"] for e in events])
        self.assertEqual(len(stored), 20)
        self.assertEqual({count for _u, count in stored}, {1})

    def test_same_events_in_different_batches(self):
        """Test that events re-sent in different batches at once are stored
        once and answered "accepted" exactly once each."""
        events = self._events(30)
        results = self._run(
            lambda i: ingest_with_retry(
                self.registry_, self.device_id, str(uuid.uuid4()), events[i % 3 :] + events[:1]
            )
        )
        accepted = [u for result in results for u, status in result if status == "accepted"]
        self.assertEqual(sorted(accepted), sorted(e["uuid"] for e in events))
        stored = self._stored([e["uuid"] for e in events])
        self.assertEqual(len(stored), 30)
        self.assertEqual({count for _u, count in stored}, {1})

    def test_allowlist_cursor_follows_commit_order(self):
        """Test that a change of a school's allow-list waits for an
        uncommitted change of the same school, so a device can't read the
        later cursor and skip the earlier one."""
        card_1, card_2 = self.card_ids
        with environment(self.registry_) as env_1:
            env_1["multipas.card"].browse(card_1).number = f"DR-{self.tag}-first"
            env_1.flush_all()
            done = threading.Event()

            def second_writer():
                with environment(self.registry_) as env_2:
                    env_2.cr.execute(SQL("SET LOCAL lock_timeout = '20s'"))
                    env_2["multipas.card"].browse(card_2).number = f"DR-{self.tag}-second"
                    env_2.flush_all()
                done.set()

            saved, Registry._lock = Registry._lock, DummyRLock()
            try:
                thread = threading.Thread(target=second_writer)
                thread.start()
                self.assertFalse(done.wait(1.0), "the second writer did not wait for the first")
                env_1.cr.commit()
                thread.join(timeout=30)
            finally:
                Registry._lock = saved
            self.assertTrue(done.is_set())
        with environment() as env:
            (seq_1,), (seq_2,) = env.execute_query(
                SQL(
                    "SELECT seq FROM multipas_allowlist_entry WHERE card_id IN %s ORDER BY card_id",
                    (card_1, card_2),
                )
            )
        self.assertLess(seq_1, seq_2)

    def test_other_school_does_not_wait(self):
        """Test that a change at another school does not wait for this one."""
        with environment(self.registry_) as env_1:
            env_1["multipas.card"].browse(self.card_ids[0]).number = f"DR-{self.tag}-x"
            env_1.flush_all()
            with environment(self.registry_) as env_2:
                env_2.cr.execute(SQL("SET LOCAL lock_timeout = '2s'"))
                other = env_2["multipas.school"].create(
                    {"name": f"Elsewhere {self.tag}", "code": f"DRX-{self.tag}"}
                )
                try:
                    env_2["multipas.card"].create(
                        {
                            "number": f"DRX-{self.tag}",
                            "uid": f"0E{self.tag.upper()}",
                            "school_id": other.id,
                        }
                    )
                    env_2.flush_all()
                except psycopg2.errors.LockNotAvailable:
                    self.fail("a change at another school waited for this school's lock")
                env_2.cr.rollback()
            env_1.cr.rollback()
