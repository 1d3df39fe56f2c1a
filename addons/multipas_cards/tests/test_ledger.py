from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import SQL, mute_logger


@tagged("post_install", "-at_install")
class TestLedger(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.school = cls.env["multipas.school"].create(
            {"name": "Ledger school", "code": "LEDGER1", "tz": "Asia/Yekaterinburg"}
        )
        cls.holder = cls.env["multipas.cardholder"].create(
            {"last_name": "Смирнова", "first_name": "Ольга", "school_id": cls.school.id}
        )
        cls.account = cls.holder.account_id
        cls.clerk = new_test_user(
            cls.env, login="ledger_clerk", groups="multipas_cards.group_operator_clerk"
        )
        cls.manager = new_test_user(
            cls.env, login="ledger_manager", groups="multipas_cards.group_operator_manager"
        )

    def _entry_count(self, account=None):
        return self.env["multipas.account.entry"].search_count(
            [("account_id", "=", (account or self.account).id)]
        )

    def assertRefused(self, amount, kind, key, message_part):
        """Assert a posting is refused with a message and changes nothing."""
        balance, count = self.account.balance, self._entry_count()
        with self.assertRaisesRegex(UserError, message_part):
            self.account.post(amount, kind, key)
        self.account.invalidate_recordset()
        self.assertEqual(self.account.balance, balance)
        self.assertEqual(self._entry_count(), count)

    def test_account_opened_with_holder(self):
        """Test that each cardholder gets one open account with a Luhn-checked number."""
        self.assertEqual(len(self.holder.account_ids), 1)
        self.assertEqual(self.account.state, "open")
        self.assertEqual(self.account.balance, 0)
        number = self.account.number
        self.assertTrue(number.isdigit() and len(number) == 10)
        from ..models.multipas_account import luhn_digit

        self.assertEqual(luhn_digit(number[:-1]), number[-1])

    def test_credit_and_debit(self):
        """Test that a credit then a debit move the balance and write one entry each."""
        entry = self.account.post(500, "topup", "t-1", origin="payment.transaction,7", note="Bank")
        self.assertEqual(entry.amount, 500)
        self.assertEqual(entry.balance_after, 500)
        self.assertEqual(entry.kind, "topup")
        self.assertEqual(entry.origin, "payment.transaction,7")
        self.assertEqual(entry.amount_in, 500)
        self.assertEqual(entry.amount_out, 0)
        self.assertEqual(entry.school_id, self.school)
        self.assertEqual(entry.user_id, self.env.user)
        self.assertEqual(self.account.balance, 500)
        debit = self.account.post(-120.5, "purchase", "p-1")
        self.assertEqual(debit.balance_after, 379.5)
        self.assertEqual(debit.amount_out, 120.5)
        self.assertEqual(self.account.balance, 379.5)
        self.assertEqual(self._entry_count(), 2)

    def test_entry_keeps_class_at_posting(self):
        """Test that an entry keeps the school and class of its holder at the
        time of posting, for reports, after the holder moves to another class."""
        class_5a, class_6a = self.env["multipas.class"].create(
            [
                {"school_id": self.school.id, "grade": 5, "letter": "А"},
                {"school_id": self.school.id, "grade": 6, "letter": "А"},
            ]
        )
        self.holder.class_id = class_5a
        before = self.account.post(100, "topup", "class-1")
        self.holder.class_id = class_6a
        after = self.account.post(-30, "purchase", "class-2")
        self.assertEqual((before.class_id, after.class_id), (class_5a, class_6a))
        Entry = self.env["multipas.account.entry"]
        self.assertEqual(Entry.search([("class_id", "=", class_5a.id)]), before)
        self.assertEqual(Entry.search([("class_id", "in", class_6a.ids)]), after)
        self.assertEqual(Entry.search([("school_id", "=", self.school.id)]), before | after)
        groups = self.env["multipas.account.entry.report"]._read_group(
            [("account_id", "=", self.account.id)],
            ["class_id"],
            ["amount_in:sum", "amount_out:sum"],
        )
        self.assertEqual(
            sorted((cls.name, money_in, money_out) for cls, money_in, money_out in groups),
            [(class_5a.name, 100, 0), (class_6a.name, 0, 30)],
        )

    def test_same_key_posts_once(self):
        """Test that posting the same key again returns the first entry and changes nothing."""
        first = self.account.post(300, "topup", "same-key")
        again = self.account.post(300, "topup", "same-key")
        self.assertEqual(first, again)
        self.assertEqual(self.account.balance, 300)
        self.assertEqual(self._entry_count(), 1)

    def test_replay_of_unrounded_amount(self):
        """Test that a replay with the same unrounded amount returns the first entry."""
        first = self.account.post(10.004, "topup", "unrounded")
        self.assertEqual(self.account.post(10.004, "topup", "unrounded"), first)
        self.assertEqual(self.account.balance, 10.0)

    def test_same_key_other_posting_refused(self):
        """Test that reusing a key for a different amount is refused, not silently merged."""
        self.account.post(300, "topup", "reused")
        self.assertRefused(200, "topup", "reused", "already used")

    def test_key_is_per_account(self):
        """Test that two accounts may use the same key independently."""
        other = (
            self.env["multipas.cardholder"]
            .create({"last_name": "Кузнецов", "first_name": "Пётр", "school_id": self.school.id})
            .account_id
        )
        self.account.post(10, "topup", "shared")
        other.post(10, "topup", "shared")
        self.assertEqual(self.account.balance, 10)
        self.assertEqual(other.balance, 10)

    def test_insufficient_funds(self):
        """Test that a debit beyond balance and credit limit is refused with the reason."""
        self.account.post(100, "topup", "t")
        self.assertRefused(-100.01, "purchase", "p", "Insufficient funds")

    def test_credit_limit(self):
        """Test that the credit limit lets the balance go that far below zero and no further."""
        self.account.credit_limit = 50
        self.account.post(-50, "purchase", "p1")
        self.assertEqual(self.account.balance, -50)
        self.assertRefused(-1, "purchase", "p2", "Insufficient funds")

    def test_credit_limit_below_debt_refused(self):
        """Test that the credit limit can't be lowered below the current debt."""
        self.account.credit_limit = 50
        self.account.post(-40, "purchase", "p1")
        with self.assertRaises(ValidationError):
            self.account.credit_limit = 30
        self.account.credit_limit = 40

    @freeze_time("2026-11-25 10:00:00")
    def test_daily_limit(self):
        """Test that purchases stop at the daily limit and refunds give the room back."""
        self.account.post(1000, "topup", "t")
        self.account.daily_limit = 200
        self.account.post(-150, "purchase", "p1")
        self.assertRefused(-60, "purchase", "p2", "Daily limit")
        # Fees and other debits don't count against the spending limit.
        self.account.post(-60, "fee", "f1")
        self.account.post(50, "refund", "r1")
        self.account.post(-100, "purchase", "p3")
        self.assertEqual(self.account.spent_today, 200)

    def test_daily_limit_counts_the_school_day(self):
        """Test that the daily limit resets at midnight in the school's time zone, not UTC."""
        self.account.post(1000, "topup", "t")
        self.account.daily_limit = 100
        # 18:30 UTC is 23:30 in Perm (UTC+5): still the 25th there.
        with freeze_time("2026-11-25 18:30:00"):
            self.account.post(-100, "purchase", "late")
            self.assertRefused(-10, "purchase", "later", "Daily limit")
        # 19:30 UTC is 00:30 on the 26th in Perm, though still the 25th in UTC.
        with freeze_time("2026-11-25 19:30:00"):
            self.account.post(-100, "purchase", "next-day")
        self.assertEqual(self.account.balance, 800)

    def test_daily_limit_follows_a_time_zone_change(self):
        """Test that a school's new time zone moves the day boundary of its
        accounts' daily limits (the posting reads the zone from the account)."""
        self.account.post(1000, "topup", "t")
        self.account.daily_limit = 100
        self.school.tz = "Europe/Moscow"
        self.assertEqual(self.account.school_tz, "Europe/Moscow")
        with freeze_time("2026-11-25 18:30:00"):
            self.account.post(-100, "purchase", "late")
        # 19:30 UTC: already the 26th in Perm, but 22:30 on the 25th in Moscow.
        with freeze_time("2026-11-25 19:30:00"):
            self.assertRefused(-10, "purchase", "later", "Daily limit")
        with freeze_time("2026-11-25 21:30:00"):
            self.account.post(-100, "purchase", "next-day")

    def test_frozen_account(self):
        """Test that a frozen account refuses debits but still accepts credits."""
        self.account.post(100, "topup", "t1")
        self.account.with_user(self.manager).action_freeze()
        self.assertRefused(-10, "purchase", "p", "frozen")
        self.account.post(50, "topup", "t2")
        self.assertEqual(self.account.balance, 150)

    def test_closed_account(self):
        """Test that a closed account refuses every posting and closing needs a zero balance."""
        self.account.post(100, "topup", "t1")
        with self.assertRaisesRegex(UserError, "still holds"):
            self.account.with_user(self.manager).action_close()
        self.account.post(-100, "closing", "close")
        self.account.with_user(self.manager).action_close()
        self.assertRefused(10, "topup", "t2", "closed")

    def test_state_changes_need_manager(self):
        """Test that a clerk can't freeze or close accounts."""
        with self.assertRaises(AccessError):
            self.account.with_user(self.clerk).action_freeze()
        with self.assertRaises(AccessError):
            self.account.with_user(self.clerk).action_close()

    def test_bad_arguments(self):
        """Test that malformed postings are refused with a message and change nothing."""
        self.account.post(100, "topup", "t")
        self.assertRefused(10, "gift", "k1", "Unknown kind")
        self.assertRefused(0, "topup", "k2", "zero")
        self.assertRefused(0.001, "topup", "k3", "zero")
        self.assertRefused(-10, "topup", "k4", "credit")
        self.assertRefused(10, "purchase", "k5", "debit")
        self.assertRefused(10, "topup", "", "idempotency key")
        self.assertRefused(10, "topup", "x" * 129, "idempotency key")
        self.assertRefused(10, "topup", None, "idempotency key")
        self.assertRefused(10_000_000, "topup", "k6", "more than")
        self.assertRefused("10", "topup", "k7", "number")
        self.assertRefused(True, "topup", "k8", "number")
        self.assertRefused(float("nan"), "topup", "k9", "number")
        self.assertRefused(float("inf"), "topup", "k10", "number")

    def test_amount_rounded_to_currency(self):
        """Test that amounts are rounded to the currency's precision."""
        entry = self.account.post(10.004, "topup", "t")
        self.assertEqual(entry.amount, 10.0)

    def test_balance_protected(self):
        """Test that the balance can't be written through the ORM, even by a manager."""
        with self.assertRaises(UserError):
            self.account.with_user(self.manager).write({"balance": 1000})
        with self.assertRaises(UserError):
            self.account.sudo().write({"daily_spent": 0})

    def test_entries_immutable(self):
        """Test that ledger entries can't be created, changed or deleted through the ORM."""
        entry = self.account.post(100, "topup", "t")
        with self.assertRaises(UserError):
            entry.sudo().write({"amount": 1000})
        with self.assertRaises(UserError):
            entry.sudo().unlink()
        with self.assertRaises(UserError):
            self.env["multipas.account.entry"].sudo().create(
                {"account_id": self.account.id, "amount": 5, "kind": "topup"}
            )
        with self.assertRaises(UserError):
            self.account.sudo().unlink()

    def test_post_rights(self):
        """Test that operator staff may post and others may not."""
        self.account.with_user(self.clerk).post(100, "topup", "by-clerk")
        coordinator = new_test_user(
            self.env, login="ledger_coord", groups="multipas_cards.group_school_coordinator"
        )
        self.school.user_ids = coordinator
        with self.assertRaises(AccessError):
            self.account.with_user(coordinator).post(100, "topup", "by-coordinator")
        self.assertEqual(self.account.balance, 100)

    def test_wizard_posts_once(self):
        """Test that the posting wizard posts once even when confirmed twice."""
        wizard = (
            self.env["multipas.account.post.wizard"]
            .with_user(self.clerk)
            .create(
                {
                    "account_id": self.account.id,
                    "kind": "topup",
                    "amount": 250,
                    "reference": "ПП 12",
                }
            )
        )
        wizard.action_post()
        wizard.action_post()
        self.assertEqual(self.account.balance, 250)
        self.assertEqual(self._entry_count(), 1)

    def test_wizard_adjustment_needs_manager(self):
        """Test that only a manager may post an adjustment, and that a debit adjustment debits."""
        values = {
            "account_id": self.account.id,
            "kind": "adjustment",
            "direction": "debit",
            "amount": 20,
            "reference": "correction",
        }
        self.account.post(100, "topup", "t")
        with self.assertRaises(AccessError):
            self.env["multipas.account.post.wizard"].with_user(self.clerk).create(
                values
            ).action_post()
        self.env["multipas.account.post.wizard"].with_user(self.manager).create(
            values
        ).action_post()
        self.assertEqual(self.account.balance, 80)

    def test_wizard_rejects_bad_amount(self):
        """Test that the wizard refuses a negative amount and a missing reference."""
        wizard = self.env["multipas.account.post.wizard"].create(
            {"account_id": self.account.id, "kind": "topup", "amount": -5, "reference": "x"}
        )
        with self.assertRaises(UserError):
            wizard.action_post()
        wizard.write({"amount": 5, "reference": False})
        with self.assertRaises(UserError):
            wizard.action_post()
        self.assertEqual(self._entry_count(), 0)

    def test_posting_is_one_statement(self):
        """Test that a posting sends one statement, prepared once per connection."""
        self.account.post(10, "topup", "warm-up")
        self.env.invalidate_all()
        with self.assertQueryCount(1):
            self.account.post(10, "topup", "one-statement")

    def test_posting_survives_function_upgrade(self):
        """Test that the prepared posting still works after the function is
        re-created on the same connection (a module upgrade) and after a
        rolled-back posting."""
        self.account.post(100, "topup", "before-upgrade")
        self.env["multipas.account"].init()
        self.account.post(-30, "purchase", "after-upgrade")
        with self.assertRaises(UserError):
            self.account.post(-500, "purchase", "refused")
        self.account.post(5, "topup", "after-refusal")
        self.assertEqual(self.account.balance, 75)
        self.assertEqual(self._entry_count(), 3)

    def test_cached_account_fresh_after_posting(self):
        """Test that the account's cached figures follow a posting without
        an explicit re-read (balance, today's spending, entries)."""
        self.account.post(200, "topup", "c-1")
        self.assertEqual(
            (self.account.balance, self.account.spent_today, self.account.entry_count),
            (200, 0, 1),
        )
        self.account.post(-50, "purchase", "c-2")
        self.assertEqual(
            (self.account.balance, self.account.spent_today, self.account.entry_count),
            (150, 50, 2),
        )
        self.assertEqual(len(self.account.entry_ids), 2)

    def test_balance_read_is_one_query(self):
        """Test that reading a balance reads the account row only, whatever the history."""
        for i in range(30):
            self.account.post(10, "topup", f"t{i}")
        self.env.invalidate_all()
        with self.assertQueryCount(1):
            self.assertEqual(self.account.balance, 300)


@tagged("post_install", "-at_install")
class TestLedgerIntegrity(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.school = cls.env["multipas.school"].create(
            {"name": "Integrity school", "code": "INTEG1"}
        )
        cls.holders = cls.env["multipas.cardholder"].create(
            [
                {"last_name": "Орлов", "first_name": "Илья", "school_id": cls.school.id},
                {"last_name": "Орлова", "first_name": "Ира", "school_id": cls.school.id},
            ]
        )
        for holder in cls.holders:
            holder.account_id.post(100, "topup", "t1")
            holder.account_id.post(-30, "purchase", "p1")
        cls.activity_type = cls.env.ref("multipas_cards.mail_activity_ledger_mismatch")

    def _mine(self, problems):
        return {k: v for k, v in problems.items() if k in self.holders.account_ids.ids}

    def test_consistent_ledger(self):
        """Test that an untouched ledger passes the check."""
        self.assertEqual(self._mine(self.env["multipas.account"]._find_inconsistent_accounts()), {})

    @mute_logger("odoo.addons.multipas_cards.models.multipas_account")
    def test_tampered_balance_caught(self):
        """Test that a balance changed behind the ledger's back raises one activity."""
        account = self.holders[0].account_id
        self.env.cr.execute(
            SQL("UPDATE multipas_account SET balance = balance + 1000 WHERE id = %s", account.id)
        )
        problems = self._mine(self.env["multipas.account"]._find_inconsistent_accounts())
        self.assertEqual(list(problems), [account.id])
        self.env["multipas.account"]._cron_check_integrity()
        self.env["multipas.account"]._cron_check_integrity()
        activities = account.activity_ids.filtered(
            lambda a: a.activity_type_id == self.activity_type
        )
        self.assertEqual(len(activities), 1, "one activity while the mismatch stays open")
        self.assertFalse(self.holders[1].account_id.activity_ids)

    def test_tampered_chain_caught(self):
        """Test that an entry whose amount was changed breaks the chain and is caught."""
        account = self.holders[1].account_id
        first = account.entry_ids.sorted("id")[0]
        self.env.cr.execute(
            SQL("UPDATE multipas_account_entry SET amount = 90 WHERE id = %s", first.id)
        )
        problems = self._mine(self.env["multipas.account"]._find_inconsistent_accounts())
        self.assertIn(account.id, problems)
