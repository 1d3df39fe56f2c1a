from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import MultipasCommon

BANK = "Bank: test, BIC 000000000, account 40817810000000000001"


@tagged("post_install", "-at_install", "multipas_leaving")
class LeavingCommon(MultipasCommon):
    """Pupil A1 (balance 414.50, guardian A with a portal login) has a
    sibling in class A2 with the same guardian."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sibling_a = cls.env["multipas.cardholder"].create(
            {
                "last_name": "Mptestov",
                "first_name": "Gleb",
                "school_id": cls.school_a.id,
                "class_id": cls.class_a2.id,
                "guardian_ids": [Command.set(cls.user_guardian_a.partner_id.ids)],
            }
        )
        cls.sibling_a.account_id.post(20.0, "topup", "mptest-topup-sibling")
        cls.Leaving = cls.env["multipas.leaving"]

    def report(self, holder, user=None, **vals):
        return (
            self.Leaving.with_user(user or self.user_coordinator)
            .create(dict({"holder_id": holder.id, "reason": "moved"}, **vals))
            .with_user(self.env.user)
        )

    def confirm(self, leaving, user=None, **kwargs):
        kwargs.setdefault("card_outcome", "returned")
        return leaving.with_user(user or self.user_clerk)._confirm(**kwargs)


@tagged("post_install", "-at_install", "multipas_leaving")
class TestLeavingReport(LeavingCommon):
    def test_coordinator_reports_own_pupil(self):
        """Test that a coordinator reports a pupil of their school and the
        request remembers who, when, the class and the account."""
        leaving = self.report(self.pupil_a1)
        self.assertEqual(leaving.state, "reported")
        self.assertEqual(leaving.reported_by_id, self.user_coordinator)
        self.assertTrue(leaving.reported_at)
        self.assertEqual(leaving.class_id, self.class_a1)
        self.assertEqual(leaving.account_id, self.account_a1)
        self.assertEqual(leaving.school_id, self.school_a)
        self.assertTrue(leaving.name.startswith("LV"))
        # Nothing happens to the person until the operator confirms.
        self.assertEqual(self.pupil_a1.state, "enrolled")
        self.assertEqual(self.card_a1.state, "issued")

    def test_coordinator_reports_through_the_form(self):
        """Test that the form view creates a request as a coordinator sends it."""
        with Form(self.Leaving.with_user(self.user_coordinator)) as form:
            form.holder_id = self.pupil_a2
            form.reason = "other"
            form.note = "moving abroad"
        leaving = form.save()
        self.assertEqual((leaving.state, leaving.holder_id), ("reported", self.pupil_a2))

    def test_coordinator_cannot_report_other_school(self):
        """Test that a coordinator can't report a pupil of another school."""
        with self.assertRaises(AccessError):
            self.report(self.pupil_b)
        self.assertFalse(self.Leaving.search([("holder_id", "=", self.pupil_b.id)]))

    def test_report_twice_refused(self):
        """Test that a person can't be reported twice, but can again after a cancellation."""
        first = self.report(self.pupil_a1)
        with self.assertRaisesRegex(UserError, "already reported"):
            self.report(self.pupil_a1)
        first.with_user(self.user_coordinator).action_cancel()
        self.assertEqual(first.state, "cancelled")
        self.assertEqual(self.report(self.pupil_a1).state, "reported")

    def test_cancel_only_reported(self):
        """Test that a cancelled or confirmed request can't be cancelled or confirmed again."""
        leaving = self.report(self.pupil_a1)
        leaving.with_user(self.user_coordinator).action_cancel()
        with self.assertRaisesRegex(UserError, "already"):
            leaving.with_user(self.user_coordinator).action_cancel()
        with self.assertRaisesRegex(UserError, "already"):
            self.confirm(leaving)

    def test_coordinator_corrects_request_while_reported(self):
        """Test that a coordinator may correct the reason and the date while
        the request waits, and nothing else."""
        leaving = self.report(self.pupil_a1)
        as_coordinator = leaving.with_user(self.user_coordinator)
        as_coordinator.write({"reason": "other", "note": "moving abroad"})
        self.assertEqual(leaving.reason, "other")
        for vals in (
            {"state": "confirmed"},
            {"refund_amount": 10.0},
            {"holder_id": self.pupil_a2.id},
            {"confirmed_by_id": self.user_coordinator.id},
        ):
            with self.subTest(vals=vals), self.assertRaises(UserError):
                as_coordinator.write(vals)
        self.assertEqual(leaving.state, "reported")

    def test_coordinator_cannot_create_outcome(self):
        """Test that a request can't be created already confirmed."""
        with self.assertRaises(UserError):
            self.Leaving.with_user(self.user_coordinator).create(
                {"holder_id": self.pupil_a1.id, "reason": "moved", "state": "confirmed"}
            )

    def test_coordinator_cannot_confirm(self):
        """Test that a coordinator can neither confirm nor open the confirmation."""
        leaving = self.report(self.pupil_a1)
        with self.assertRaises(AccessError):
            self.confirm(leaving, user=self.user_coordinator)
        with self.assertRaises(AccessError):
            leaving.with_user(self.user_coordinator).action_open_confirm_wizard()
        with self.assertRaises(AccessError):
            self.env["multipas.leaving.confirm.wizard"].with_user(self.user_coordinator).create(
                {"leaving_id": leaving.id}
            )
        self.assertEqual(leaving.state, "reported")
        self.assertEqual(self.pupil_a1.state, "enrolled")

    def test_coordinator_sees_own_school_requests_only(self):
        """Test that a coordinator finds their school's requests only."""
        mine = self.report(self.pupil_a1)
        other = self.report(self.pupil_b, user=self.user_clerk)
        found = self.Leaving.with_user(self.user_coordinator).search(
            [("id", "in", (mine | other).ids)]
        )
        self.assertEqual(found, mine)
        with self.assertRaises(AccessError):
            other.with_user(self.user_coordinator).read(["name"])

    def test_other_roles_have_no_access(self):
        """Test that teachers, cashiers, guardians and plain users can't read,
        create or cancel leaving requests."""
        leaving = self.report(self.pupil_a1)
        for user in (
            self.user_teacher,
            self.user_cashier,
            self.user_guardian_a,
            self.user_portal,
            self.user_internal,
        ):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    leaving.with_user(user).read(["name", "state"])
                with self.assertRaises(AccessError):
                    self.report(self.pupil_a2, user=user)
                with self.assertRaises(AccessError):
                    leaving.with_user(user).action_cancel()

    def test_report_left_person_refused(self):
        """Test that a person who has left can't be reported again."""
        self.confirm(
            self.report(self.pupil_a1),
            balance_action="refund",
            refund_partner=self.user_guardian_a.partner_id,
            bank_details=BANK,
        )
        with self.assertRaisesRegex(UserError, "already left"):
            self.report(self.pupil_a1, user=self.user_clerk)

    def test_report_button(self):
        """Test that the pupil form's button opens a new request for the pupil."""
        action = self.pupil_a1.with_user(self.user_coordinator).action_report_leaving()
        self.assertEqual(action["res_model"], "multipas.leaving")
        self.assertEqual(action["context"]["default_holder_id"], self.pupil_a1.id)


@tagged("post_install", "-at_install", "multipas_leaving")
class TestLeavingConfirm(LeavingCommon):
    def test_confirm_with_refund(self):
        """Test that a confirmation with a refund retires the returned card,
        pays the balance out with a closing entry keyed by the request,
        closes the account, marks the person left and erases the name."""
        leaving = self.report(self.pupil_a1)
        guardian = self.user_guardian_a.partner_id
        log = self.confirm(
            leaving, balance_action="refund", refund_partner=guardian, bank_details=BANK
        )
        self.assertEqual(leaving.state, "confirmed")
        self.assertEqual(leaving.confirmed_by_id, self.user_clerk)
        self.assertTrue(leaving.confirmed_at)
        self.assertEqual(self.card_a1.state, "retired")
        self.assertEqual(leaving.card_outcome, "returned")
        self.assertEqual(leaving.card_id, self.card_a1)
        entry = leaving.refund_entry_id
        self.assertEqual(entry.kind, "closing")
        self.assertEqual(entry.amount, -414.5)
        self.assertEqual(entry.idempotency_key, f"leaving-{leaving.id}-refund")
        self.assertEqual(entry.origin, f"multipas.leaving,{leaving.id}")
        self.assertEqual(leaving.refund_amount, 414.5)
        self.assertEqual(leaving.refund_partner_id, guardian)
        self.assertEqual(leaving.sudo().refund_bank_details, BANK)
        self.assertEqual(self.account_a1.balance, 0)
        self.assertEqual(self.account_a1.state, "closed")
        self.assertEqual(self.pupil_a1.state, "left")
        self.assertFalse(self.pupil_a1.class_id)
        self.assertEqual(self.pupil_a1.name, f"Former pupil #{self.pupil_a1.id}")
        self.assertEqual(leaving.erasure_log_id, log)
        # The ledger is intact: the entries stay, linked to the anonymous holder.
        self.assertEqual(self.entry_a1.account_id.holder_id, self.pupil_a1)
        self.assertFalse(self.env["multipas.account"]._find_inconsistent_accounts())

    def test_confirm_twice_refused(self):
        """Test that a confirmed request can't be confirmed again."""
        leaving = self.report(self.pupil_a1)
        self.confirm(
            leaving,
            balance_action="refund",
            refund_partner=self.user_guardian_a.partner_id,
            bank_details=BANK,
        )
        with self.assertRaisesRegex(UserError, "already"):
            self.confirm(leaving, balance_action="none")
        with self.assertRaisesRegex(UserError, "already"):
            leaving.with_user(self.user_clerk).action_open_confirm_wizard()

    def test_post_to_closed_account_refused(self):
        """Test that nothing can be posted to a leaver's closed account."""
        self.confirm(
            self.report(self.pupil_a1),
            balance_action="refund",
            refund_partner=self.user_guardian_a.partner_id,
            bank_details=BANK,
        )
        with self.assertRaisesRegex(UserError, "closed"):
            self.account_a1.post(100.0, "topup", "after-leaving")
        self.assertEqual(self.account_a1.balance, 0)

    def test_leaver_card_cannot_be_issued(self):
        """Test that no card can be issued to a person who has left: neither
        the old one nor a new one."""
        self.confirm(
            self.report(self.pupil_a1),
            card_outcome="not_returned",
            block_reason="lost",
            balance_action="refund",
            refund_partner=self.user_guardian_a.partner_id,
            bank_details=BANK,
        )
        self.assertEqual(self.card_a1.state, "blocked")
        self.assertEqual(self.card_a1.block_reason, "lost")
        with self.assertRaises(UserError):
            self.card_a1.action_issue()
        self.reserve_a.holder_id = self.pupil_a1
        with self.assertRaisesRegex(UserError, "left the school"):
            self.reserve_a.action_issue()
        self.assertEqual(self.reserve_a.state, "stock")

    def test_card_outcome_required(self):
        """Test that the operator must say whether the issued card came back."""
        leaving = self.report(self.pupil_a1)
        with self.assertRaisesRegex(UserError, "handed in"):
            self.confirm(
                leaving,
                card_outcome=None,
                balance_action="refund",
                refund_partner=self.user_guardian_a.partner_id,
                bank_details=BANK,
            )
        self.assertEqual(self.card_a1.state, "issued")
        self.assertEqual(leaving.state, "reported")

    def test_personal_cards_never_issued_are_retired(self):
        """Test that cards made for the leaver but still in stock go out of circulation."""
        spare = self.env["multipas.card"].create(
            {
                "number": "MPTST-0201",
                "uid": "A1B2C3D421",
                "school_id": self.school_a.id,
                "holder_id": self.pupil_a1.id,
                "state": "stock",
            }
        )
        self.confirm(
            self.report(self.pupil_a1),
            balance_action="refund",
            refund_partner=self.user_guardian_a.partner_id,
            bank_details=BANK,
        )
        self.assertEqual(spare.state, "retired")

    def test_transfer_to_sibling(self):
        """Test that the balance can move to a sibling's account: two transfer
        entries, keyed by the request, and the sibling keeps the money."""
        leaving = self.report(self.pupil_a1)
        self.assertEqual(leaving._allowed_siblings(), self.sibling_a)
        self.confirm(leaving, balance_action="transfer", sibling=self.sibling_a)
        out, entry_in = leaving.transfer_out_entry_id, leaving.transfer_in_entry_id
        self.assertEqual((out.kind, out.amount), ("transfer", -414.5))
        self.assertEqual((entry_in.kind, entry_in.amount), ("transfer", 414.5))
        self.assertEqual(out.idempotency_key, f"leaving-{leaving.id}-transfer-out")
        self.assertEqual(entry_in.idempotency_key, f"leaving-{leaving.id}-transfer-in")
        self.assertEqual(entry_in.account_id, self.sibling_a.account_id)
        self.assertEqual(self.sibling_a.account_id.balance, 434.5)
        self.assertEqual(self.account_a1.state, "closed")
        self.assertEqual(leaving.sibling_id, self.sibling_a)
        self.assertEqual(leaving.transfer_amount, 414.5)

    def test_transfer_to_stranger_refused(self):
        """Test that the balance can't move to a child of other guardians,
        and that the refusal changes nothing."""
        leaving = self.report(self.pupil_a1)
        with self.assertRaisesRegex(UserError, "brother or sister"):
            self.confirm(leaving, balance_action="transfer", sibling=self.pupil_a2)
        self.assertEqual(leaving.state, "reported")
        self.assertEqual(self.account_a1.balance, 414.5)
        self.assertEqual(self.pupil_a2.account_id.balance, 300)
        self.assertEqual(self.card_a1.state, "issued")

    def test_refund_needs_a_guardian_and_bank_details(self):
        """Test that a refund goes to one of the guardians, with bank details."""
        leaving = self.report(self.pupil_a1)
        with self.assertRaisesRegex(UserError, "guardian"):
            self.confirm(
                leaving, balance_action="refund", refund_partner=self.guardian_a2, bank_details=BANK
            )
        with self.assertRaisesRegex(UserError, "bank details"):
            self.confirm(
                leaving,
                balance_action="refund",
                refund_partner=self.user_guardian_a.partner_id,
                bank_details="  ",
            )
        with self.assertRaisesRegex(UserError, "holds"):
            self.confirm(leaving, balance_action="none")
        self.assertEqual(self.account_a1.balance, 414.5)
        self.assertEqual(leaving.state, "reported")

    def test_zero_balance_needs_nothing(self):
        """Test that an account at zero closes with no money movement."""
        self.account_a2.post(-300.0, "purchase", "spend-all")
        leaving = self.report(self.pupil_a2)
        entries = self.account_a2.entry_ids
        self.confirm(leaving, balance_action="none")
        self.assertEqual(leaving.balance_action, "none")
        self.assertEqual(self.account_a2.entry_ids, entries)
        self.assertEqual(self.account_a2.state, "closed")

    def test_debt_must_be_settled_or_written_off(self):
        """Test that a debt blocks the confirmation until it is repaid or an
        operator manager writes it off (a clerk may not)."""
        self.account_a2.with_user(self.user_manager).credit_limit = 200
        self.account_a2.post(-400.0, "purchase", "debt")
        leaving = self.report(self.pupil_a2)
        with self.assertRaisesRegex(UserError, "owes"):
            self.confirm(leaving, balance_action="none")
        with self.assertRaises(AccessError):
            self.confirm(leaving, balance_action="writeoff")
        self.assertEqual(self.account_a2.balance, -100)
        self.assertEqual(leaving.state, "reported")
        self.confirm(leaving, user=self.user_manager, balance_action="writeoff")
        entry = leaving.writeoff_entry_id
        self.assertEqual((entry.kind, entry.amount), ("adjustment", 100))
        self.assertEqual(entry.idempotency_key, f"leaving-{leaving.id}-writeoff")
        self.assertEqual(leaving.writeoff_amount, 100)
        self.assertEqual(self.account_a2.state, "closed")

    def test_settled_debt_allows_confirmation(self):
        """Test that once the guardians repay the debt, the clerk confirms."""
        self.account_a2.with_user(self.user_manager).credit_limit = 200
        self.account_a2.post(-400.0, "purchase", "debt")
        leaving = self.report(self.pupil_a2)
        self.account_a2.post(100.0, "topup", "repay")
        self.confirm(leaving, balance_action="none")
        self.assertEqual(leaving.state, "confirmed")

    def test_frozen_account_refused(self):
        """Test that a frozen account's balance isn't paid out until a manager unfreezes it."""
        self.account_a1.with_user(self.user_manager).action_freeze()
        leaving = self.report(self.pupil_a1)
        with self.assertRaisesRegex(UserError, "frozen"):
            self.confirm(
                leaving,
                balance_action="refund",
                refund_partner=self.user_guardian_a.partner_id,
                bank_details=BANK,
            )
        self.assertEqual(self.account_a1.state, "frozen")
        self.assertEqual(leaving.state, "reported")

    def test_portal_access_removed_without_other_child(self):
        """Test that a guardian whose last enrolled child leaves loses the portal."""
        guardian_user = self.user_guardian_a
        self.sibling_a.with_user(self.user_clerk).write(
            {"guardian_ids": [Command.unlink(guardian_user.partner_id.id)]}
        )
        leaving = self.report(self.pupil_a1)
        self.confirm(
            leaving,
            balance_action="refund",
            refund_partner=guardian_user.partner_id,
            bank_details=BANK,
        )
        self.assertEqual(leaving.portal_access_removed, 1)
        self.assertFalse(guardian_user.active)
        self.assertFalse(guardian_user.has_group("base.group_portal"))
        self.assertTrue(guardian_user.has_group("base.group_public"))
        # The guardian stays: the refund is owed to them.
        self.assertTrue(guardian_user.partner_id.exists())

    def test_portal_access_kept_with_other_child(self):
        """Test that a guardian keeps the portal while another child is enrolled,
        and no longer sees the child who left."""
        guardian_user = self.user_guardian_a
        leaving = self.report(self.pupil_a1)
        self.confirm(leaving, balance_action="transfer", sibling=self.sibling_a)
        self.assertEqual(leaving.portal_access_removed, 0)
        self.assertTrue(guardian_user.active)
        self.assertTrue(guardian_user.has_group("base.group_portal"))
        visible = self.env["multipas.cardholder"].with_user(guardian_user).search([])
        self.assertEqual(visible, self.sibling_a)

    def test_wizard_confirms(self):
        """Test the confirmation wizard from the operator's side: it proposes
        a refund for a positive balance and the only guardian."""
        leaving = self.report(self.pupil_a1)
        self.sibling_a.with_user(self.user_clerk).write(
            {"guardian_ids": [Command.unlink(self.user_guardian_a.partner_id.id)]}
        )
        action = leaving.with_user(self.user_clerk).action_open_confirm_wizard()
        Wizard = self.env[action["res_model"]].with_user(self.user_clerk)
        with Form(Wizard.with_context(**action["context"])) as form:
            self.assertEqual(form.balance, 414.5)
            self.assertEqual(form.balance_action, "refund")
            self.assertEqual(form.card_id, self.card_a1)
            self.assertEqual(form.refund_partner_id, self.user_guardian_a.partner_id)
            form.bank_details = BANK
        wizard = form.save()
        wizard.action_confirm()
        self.assertEqual(leaving.state, "confirmed")
        self.assertEqual(leaving.refund_amount, 414.5)

    def test_wizard_refuses_changed_balance(self):
        """Test that the wizard refuses when the balance moved after it opened."""
        leaving = self.report(self.pupil_a1)
        wizard = (
            self.env["multipas.leaving.confirm.wizard"]
            .with_user(self.user_clerk)
            .with_context(default_leaving_id=leaving.id)
            .create(
                {
                    "refund_partner_id": self.user_guardian_a.partner_id.id,
                    "bank_details": BANK,
                }
            )
        )
        self.account_a1.post(-14.5, "purchase", "lunch-meanwhile")
        with self.assertRaisesRegex(UserError, "changed"):
            wizard.action_confirm()
        self.assertEqual(leaving.state, "reported")

    def test_erasure_log_for_managers_only(self):
        """Test that the erasure log says who erased what without personal
        data, that only managers read it and nobody changes it."""
        leaving = self.report(self.pupil_a1)
        log = self.confirm(
            leaving,
            balance_action="refund",
            refund_partner=self.user_guardian_a.partner_id,
            bank_details=BANK,
        )
        self.assertEqual(log.user_id, self.user_clerk)
        self.assertEqual((log.res_model, log.res_id), ("multipas.cardholder", self.pupil_a1.id))
        self.assertEqual(log.leaving_id, leaving)
        categories = set(log.line_ids.mapped("category"))
        self.assertTrue({"name", "health", "guardians"} <= categories, categories)
        as_manager = log.with_user(self.user_manager)
        as_manager.read(["date", "user_id", "line_ids"])
        for user in (self.user_clerk, self.user_coordinator, self.user_teacher):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                log.with_user(user).read(["date"])
        with self.assertRaises(UserError):
            as_manager.write({"res_id": 1})
        with self.assertRaises(UserError):
            as_manager.sudo().unlink()
        # The coordinator sees the request but not the log behind it.
        self.assertFalse(
            "erasure_log_id"
            in leaving.with_user(self.user_coordinator).fields_get(attributes=["type"])
        )
