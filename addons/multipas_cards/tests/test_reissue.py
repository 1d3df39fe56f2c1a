from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import MultipasCommon


@tagged("post_install", "-at_install")
class TestReissue(MultipasCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tariff = cls.env.ref("multipas_cards.product_card_reissue")
        cls.tariff.list_price = 150.0

    def _wizard(self, user, holder, **values):
        form = Form(
            self.env["multipas.card.reissue.wizard"]
            .with_user(user)
            .with_context(default_holder_id=holder.id)
        )
        for name, value in values.items():
            setattr(form, name, value)
        return form.save()

    def test_reissue_in_one_step(self):
        """Test that a reissue blocks the old card, issues the reserve card,
        posts the tariff's fee and keeps the rest of the balance."""
        balance = self.account_a1.balance
        wizard = self._wizard(self.user_coordinator, self.pupil_a1, new_card_id=self.reserve_a)
        self.assertEqual(wizard.old_card_id, self.card_a1)
        self.assertEqual(wizard.fee, 150.0)
        wizard.action_reissue()
        self.assertEqual((self.card_a1.state, self.card_a1.block_reason), ("blocked", "lost"))
        self.assertEqual(
            (self.reserve_a.state, self.reserve_a.holder_id), ("issued", self.pupil_a1)
        )
        self.assertEqual(self.pupil_a1.card_id, self.reserve_a)
        self.assertEqual(self.account_a1.balance, balance - 150.0)
        reissue = self.env["multipas.card.reissue"].search(
            [("new_card_id", "=", self.reserve_a.id)]
        )
        self.assertEqual(reissue.entry_id.amount, -150.0)
        self.assertEqual(reissue.entry_id.kind, "fee")
        self.assertTrue(reissue.within_a_day)

    def test_second_click_changes_nothing(self):
        """Test that confirming the same wizard twice reissues and charges once."""
        wizard = self._wizard(self.user_coordinator, self.pupil_a1, new_card_id=self.reserve_a)
        wizard.action_reissue()
        balance = self.account_a1.balance
        wizard.action_reissue()
        self.assertEqual(self.account_a1.balance, balance)
        self.assertEqual(
            self.env["multipas.card.reissue"].search_count([("holder_id", "=", self.pupil_a1.id)]),
            1,
        )

    def test_waived_fee(self):
        """Test that a waived fee posts nothing and needs a reason."""
        balance = self.account_a1.balance
        wizard = self._wizard(
            self.user_coordinator,
            self.pupil_a1,
            new_card_id=self.reserve_a,
            waive_fee=True,
            waive_reason="Брак карты",
        )
        wizard.waive_reason = False
        with self.assertRaisesRegex(UserError, "why"):
            wizard.action_reissue()
        self.assertEqual(self.card_a1.state, "issued")
        wizard.waive_reason = "Брак карты"
        wizard.action_reissue()
        self.assertEqual(self.account_a1.balance, balance)
        self.assertEqual(self.pupil_a1.card_id, self.reserve_a)

    def test_time_to_issue_measured(self):
        """Test that the time from the report to the new card is kept."""
        requested = fields.Datetime.now() - timedelta(hours=30)
        self._wizard(
            self.user_coordinator, self.pupil_a1, new_card_id=self.reserve_a, requested_at=requested
        ).action_reissue()
        reissue = self.env["multipas.card.reissue"].search(
            [("new_card_id", "=", self.reserve_a.id)]
        )
        self.assertAlmostEqual(reissue.hours_to_issue, 30, delta=0.1)
        self.assertFalse(reissue.within_a_day)

    def test_reserve_card_of_other_school_refused(self):
        """Test that only a reserve card of the holder's school can be issued."""
        wizard = self._wizard(self.user_manager, self.pupil_a1, new_card_id=self.reserve_b)
        with self.assertRaisesRegex(UserError, "reserve card"):
            wizard.action_reissue()
        self.assertEqual(self.card_a1.state, "issued")
        self.assertEqual(self.reserve_b.state, "stock")

    def test_insufficient_funds_changes_nothing(self):
        """Test that a fee the account can't pay stops the reissue, changing nothing."""
        self.account_a2.sudo().post(-self.account_a2.balance, "purchase", "drain")
        wizard = self._wizard(self.user_manager, self.pupil_a2, new_card_id=self.reserve_a)
        with self.assertRaisesRegex(UserError, "Insufficient funds"), self.env.cr.savepoint():
            wizard.action_reissue()
        self.assertEqual(self.card_a2.state, "issued")
        self.assertEqual(self.reserve_a.state, "stock")

    def test_coordinator_of_other_school_refused(self):
        """Test that a coordinator can't reissue the card of another school's pupil."""
        with self.assertRaises(AccessError):
            self._wizard(
                self.user_coordinator, self.pupil_b, new_card_id=self.reserve_b
            ).action_reissue()
        self.assertEqual(self.card_b.state, "issued")

    def test_teacher_cannot_reissue(self):
        """Test that a class teacher has no access to the reissue wizard."""
        with self.assertRaises(AccessError):
            self.env["multipas.card.reissue.wizard"].with_user(self.user_teacher).create(
                {"holder_id": self.pupil_a1.id, "new_card_id": self.reserve_a.id}
            )

    def test_leaver_gets_no_card(self):
        """Test that no card is reissued to someone who has left."""
        self.pupil_a1.state = "left"
        wizard = self._wizard(self.user_manager, self.pupil_a1, new_card_id=self.reserve_a)
        with self.assertRaisesRegex(UserError, "has left"):
            wizard.action_reissue()

    def test_reserve_below_minimum_warns_operator(self):
        """Test that issuing the last reserve cards below the minimum raises one
        activity for the operator on the school, and the count is shown."""
        activity_type = self.env.ref("multipas_cards.mail_activity_reserve_low")
        # Setting up the world issued cards under the default minimum of 10.
        self.assertTrue(self.school_a.activity_ids)
        self.school_a.activity_ids.unlink()
        self.school_a.reserve_min = 1
        self.assertEqual(self.school_a.reserve_count, 1)
        self.school_a._check_reserve_levels()
        self.assertFalse(self.school_a.activity_ids)
        self._wizard(
            self.user_coordinator, self.pupil_a1, new_card_id=self.reserve_a
        ).action_reissue()
        self.school_a.invalidate_recordset(["reserve_count"])
        self.assertEqual(self.school_a.reserve_count, 0)
        self.env["multipas.school"]._cron_check_reserve_levels()
        activities = self.school_a.activity_ids.filtered(
            lambda a: a.activity_type_id == activity_type
        )
        self.assertEqual(len(activities), 1)
        self.assertIn("0", activities.note)
        self.env["multipas.card"].create(
            {"number": "MP-RESTOCK", "uid": "04AA00000000FF", "school_id": self.school_a.id}
        ).action_to_stock()
        self.assertFalse(
            self.school_a.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)
        )
