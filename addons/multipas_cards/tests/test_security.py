from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import MultipasCommon

# What a refused change of money or history may raise: AccessError where the
# ACL or a rights check stops it, UserError where the model itself refuses.
# AccessError is a UserError, and Odoo's assertRaises takes one class only.
REFUSED = UserError


@tagged("post_install", "-at_install", "multipas_security")
class MultipasSecurityCommon(MultipasCommon):
    """Helpers shared by the security tests."""

    def assertSearchSees(self, user, universe, expected):
        """Search ``universe``'s model as ``user`` among ``universe`` only (demo
        data may add records of its own) and compare with ``expected``."""
        found = self.env[universe._name].with_user(user).search([("id", "in", universe.ids)])
        self.assertEqual(
            found,
            expected,
            f"{user.login} should see {expected.ids} among {universe._name} {universe.ids}, "
            f"sees {found.ids}",
        )

    def assertCannotRead(self, user, records, fields=("display_name",)):
        for record in records:
            with self.subTest(user=user.login, record=record):
                with self.assertRaises(AccessError):
                    record.with_user(user).read(list(fields))


@tagged("post_install", "-at_install", "multipas_security")
class TestSchoolAccess(MultipasSecurityCommon):
    def test_coordinator_sees_only_own_school(self):
        """Test that a coordinator finds only the schools listed on them."""
        self.assertSearchSees(self.user_coordinator, self.schools, self.school_a)

    def test_coordinator_cannot_read_other_school(self):
        """Test that a coordinator can't read a school they don't serve."""
        self.assertCannotRead(self.user_coordinator, self.school_b, ["name", "code"])

    def test_coordinator_cannot_write_own_school(self):
        """Test that a coordinator can't change even their own school."""
        with self.assertRaises(AccessError):
            self.school_a.with_user(self.user_coordinator).write({"name": "Renamed"})

    def test_coordinator_cannot_join_other_school(self):
        """Test that a coordinator can't add themselves to another school's staff."""
        with self.assertRaises(AccessError):
            self.school_b.with_user(self.user_coordinator).write(
                {"user_ids": [Command.link(self.user_coordinator.id)]}
            )
        with self.assertRaises(AccessError):
            self.user_coordinator.with_user(self.user_coordinator).write(
                {"multipas_school_ids": [Command.link(self.school_b.id)]}
            )

    def test_teacher_sees_only_school_where_they_teach(self):
        """Test that a class teacher finds only the school of their class."""
        self.assertSearchSees(self.user_teacher, self.schools, self.school_a)

    def test_cashier_sees_only_own_school(self):
        """Test that a cashier finds only the schools listed on them."""
        self.assertSearchSees(self.user_cashier, self.schools, self.school_a)
        self.assertCannotRead(self.user_cashier, self.school_b)

    def test_guardian_sees_only_child_school(self):
        """Test that a portal guardian finds only their child's school."""
        self.assertSearchSees(self.user_guardian_a, self.schools, self.school_a)
        self.assertSearchSees(self.user_guardian_b, self.schools, self.school_b)
        self.assertCannotRead(self.user_guardian_a, self.school_b)

    def test_plain_portal_sees_no_school(self):
        """Test that a portal user without children finds no school."""
        self.assertSearchSees(self.user_portal, self.schools, self.env["multipas.school"])

    def test_plain_internal_user_cannot_read_schools(self):
        """Test that an internal user without a Multipas role can't read schools."""
        with self.assertRaises(AccessError):
            self.env["multipas.school"].with_user(self.user_internal).search([])
        self.assertCannotRead(self.user_internal, self.school_a)

    def test_clerk_sees_every_school(self):
        """Test that an operator clerk reads every school of their company."""
        # The rule "Schools: operator" needs an ACL line to go with it: without
        # one a clerk can't pick a school on a card or a pupil, nor open one.
        self.assertSearchSees(self.user_clerk, self.schools, self.schools)
        School = self.env["multipas.school"].with_user(self.user_clerk)
        self.assertIn(self.school_b.id, [id_ for id_, _name in School.name_search("Test school")])

    def test_clerk_cannot_create_or_delete_school(self):
        """Test that only an operator manager configures schools, not a clerk."""
        with self.assertRaises(AccessError):
            self.env["multipas.school"].with_user(self.user_clerk).create(
                {"name": "Clerk school", "code": "MPTST-C"}
            )
        with self.assertRaises(AccessError):
            self.school_b.with_user(self.user_clerk).unlink()

    def test_manager_configures_schools(self):
        """Test that an operator manager creates and edits schools."""
        school = (
            self.env["multipas.school"]
            .with_user(self.user_manager)
            .create({"name": "Manager school", "code": "MPTST-M"})
        )
        school.write({"user_ids": [Command.link(self.user_coordinator.id)]})
        self.assertEqual(school.coordinator_ids, self.user_coordinator)


@tagged("post_install", "-at_install", "multipas_security")
class TestClassAccess(MultipasSecurityCommon):
    def test_teacher_sees_only_own_class(self):
        """Test that a class teacher finds their class, not the other classes
        of the same school."""
        self.assertSearchSees(self.user_teacher, self.classes, self.class_a1)
        self.assertCannotRead(self.user_teacher, self.class_a2 | self.class_b1)

    def test_teacher_cannot_take_another_class(self):
        """Test that a class teacher can't make themselves the teacher of a class."""
        with self.assertRaises(AccessError):
            self.class_a2.with_user(self.user_teacher).write({"teacher_id": self.user_teacher.id})

    def test_coordinator_sees_classes_of_own_school(self):
        """Test that a coordinator finds the classes of their school only."""
        self.assertSearchSees(self.user_coordinator, self.classes, self.class_a1 | self.class_a2)
        self.assertCannotRead(self.user_coordinator, self.class_b1)

    def test_coordinator_creates_class_only_at_own_school(self):
        """Test that a coordinator opens classes at their school but not elsewhere."""
        Class = self.env["multipas.class"].with_user(self.user_coordinator)
        year = self.class_a1.school_year
        Class.create(
            {"school_id": self.school_a.id, "grade": 7, "letter": "V", "school_year": year}
        )
        with self.assertRaises(AccessError):
            Class.create(
                {"school_id": self.school_b.id, "grade": 7, "letter": "V", "school_year": year}
            )

    def test_coordinator_cannot_edit_or_delete_other_school_class(self):
        """Test that a coordinator can't edit another school's class, nor
        delete classes at all."""
        with self.assertRaises(AccessError):
            self.class_b1.with_user(self.user_coordinator).write({"letter": "Z"})
        with self.assertRaises(AccessError):
            self.class_a2.with_user(self.user_coordinator).unlink()

    def test_cashier_sees_classes_of_own_school_read_only(self):
        """Test that a cashier finds their school's classes and can't change them."""
        self.assertSearchSees(self.user_cashier, self.classes, self.class_a1 | self.class_a2)
        with self.assertRaises(AccessError):
            self.class_a1.with_user(self.user_cashier).write({"letter": "Z"})

    def test_guardian_sees_only_child_class(self):
        """Test that a portal guardian finds only their child's class."""
        self.assertSearchSees(self.user_guardian_a, self.classes, self.class_a1)
        self.assertCannotRead(self.user_guardian_a, self.class_a2 | self.class_b1)

    def test_plain_users_see_no_class(self):
        """Test that users without a Multipas role find no class."""
        self.assertSearchSees(self.user_portal, self.classes, self.env["multipas.class"])
        with self.assertRaises(AccessError):
            self.env["multipas.class"].with_user(self.user_internal).search([])


@tagged("post_install", "-at_install", "multipas_security")
class TestCardholderAccess(MultipasSecurityCommon):
    def test_teacher_sees_only_own_class_pupils(self):
        """Test that a class teacher finds the pupils of their class only, not
        those of another class of the same school."""
        self.assertSearchSees(self.user_teacher, self.pupils, self.pupil_a1)
        self.assertCannotRead(self.user_teacher, self.pupil_a2 | self.pupil_b, ["name"])

    def test_teacher_cannot_edit_pupil(self):
        """Test that a class teacher reads their pupils but can't change them."""
        pupil = self.pupil_a1.with_user(self.user_teacher)
        self.assertEqual(pupil.allergies, "peanuts")
        with self.assertRaises(AccessError):
            pupil.write({"allergies": "none"})

    def test_coordinator_sees_only_own_school_pupils(self):
        """Test that a coordinator finds every pupil of their school and none elsewhere."""
        self.assertSearchSees(self.user_coordinator, self.pupils, self.pupil_a1 | self.pupil_a2)
        self.assertCannotRead(self.user_coordinator, self.pupil_b, ["name", "allergies"])

    def test_coordinator_edits_own_pupil_only(self):
        """Test that a coordinator updates their school's pupils, not another school's."""
        self.pupil_a2.with_user(self.user_coordinator).write({"diet": "vegetarian"})
        self.assertEqual(self.pupil_a2.diet, "vegetarian")
        with self.assertRaises(AccessError):
            self.pupil_b.with_user(self.user_coordinator).write({"diet": "vegetarian"})

    def test_coordinator_registers_pupil_at_own_school(self):
        """Test that a coordinator can register a pupil at their own school
        (the ACL grants it; the delegated partner must not stop it)."""
        pupil = (
            self.env["multipas.cardholder"]
            .with_user(self.user_coordinator)
            .create(
                {
                    "last_name": "Newcomer",
                    "first_name": "Nina",
                    "school_id": self.school_a.id,
                    "class_id": self.class_a2.id,
                }
            )
        )
        self.assertTrue(pupil.account_id)

    def test_clerk_registers_pupil(self):
        """Test that an operator clerk can register a pupil at any school."""
        pupil = (
            self.env["multipas.cardholder"]
            .with_user(self.user_clerk)
            .create({"last_name": "Newcomer", "first_name": "Oleg", "school_id": self.school_b.id})
        )
        self.assertTrue(pupil.account_id)

    def test_coordinator_corrects_pupil_name_and_contact(self):
        """Test that a coordinator can correct their pupil's name and contact
        (fields the cardholder form lets them edit)."""
        self.pupil_a2.with_user(self.user_coordinator).write(
            {"first_name": "Borislav", "phone": "+7 900 000-00-00"}
        )
        self.assertEqual(self.pupil_a2.partner_id.name, "Mptestov Borislav")

    def test_coordinator_cannot_create_pupil_at_other_school(self):
        """Test that a coordinator can't register a pupil at a school they don't serve."""
        with self.assertRaises(AccessError):
            self.env["multipas.cardholder"].with_user(self.user_coordinator).create(
                {"last_name": "Intruder", "first_name": "Ivan", "school_id": self.school_b.id}
            )

    def test_coordinator_cannot_move_pupil_to_other_school(self):
        """Test that a coordinator can't push a pupil into a school they don't serve."""
        with self.assertRaises(AccessError):
            self.pupil_a2.with_user(self.user_coordinator).write(
                {"school_id": self.school_b.id, "class_id": False}
            )

    def test_coordinator_cannot_delete_pupil(self):
        """Test that a coordinator can't delete a pupil (leavers are reported, not deleted)."""
        with self.assertRaises(AccessError):
            self.pupil_a2.with_user(self.user_coordinator).unlink()

    def test_cashier_sees_own_school_pupils_and_balances(self):
        """Test that a cashier finds their school's pupils with balance and allergies."""
        self.assertSearchSees(self.user_cashier, self.pupils, self.pupil_a1 | self.pupil_a2)
        pupil = self.pupil_a1.with_user(self.user_cashier)
        values = pupil.read(["balance", "allergies", "card_id"])[0]
        self.assertEqual(values["balance"], 414.5)
        self.assertEqual(values["allergies"], "peanuts")
        self.assertEqual(values["card_id"][0], self.card_a1.id)
        self.assertCannotRead(self.user_cashier, self.pupil_b, ["name"])

    def test_cashier_cannot_edit_pupil(self):
        """Test that a cashier can't change a pupil's record."""
        with self.assertRaises(AccessError):
            self.pupil_a1.with_user(self.user_cashier).write({"allergies": "none"})

    def test_guardian_sees_only_own_child(self):
        """Test that a portal guardian finds their child, not other children of
        the same school nor of another school."""
        self.assertSearchSees(self.user_guardian_a, self.pupils, self.pupil_a1)
        self.assertSearchSees(self.user_guardian_b, self.pupils, self.pupil_b)
        values = self.pupil_a1.with_user(self.user_guardian_a).read(["name", "balance"])[0]
        self.assertEqual(values["name"], "Mptestova Alisa")
        self.assertEqual(values["balance"], 414.5)
        self.assertCannotRead(self.user_guardian_a, self.pupil_a2 | self.pupil_b, ["name"])

    def test_guardian_cannot_edit_child(self):
        """Test that a portal guardian can't write their child's record directly."""
        with self.assertRaises(AccessError):
            self.pupil_a1.with_user(self.user_guardian_a).write({"allergies": "none"})

    def test_plain_internal_user_cannot_read_cardholders(self):
        """Test that an internal user without a Multipas role can't search or
        read cardholders at all."""
        Holder = self.env["multipas.cardholder"].with_user(self.user_internal)
        with self.assertRaises(AccessError):
            Holder.search([])
        self.assertCannotRead(self.user_internal, self.pupils, ["name"])

    def test_plain_portal_sees_no_cardholder(self):
        """Test that a portal user without children finds no cardholder."""
        self.assertSearchSees(self.user_portal, self.pupils, self.env["multipas.cardholder"])
        self.assertCannotRead(self.user_portal, self.pupil_a1, ["name"])

    def test_clerk_sees_every_pupil_but_cannot_delete(self):
        """Test that an operator clerk sees every school's pupils but can't delete one."""
        self.assertSearchSees(self.user_clerk, self.pupils, self.pupils)
        with self.assertRaises(AccessError):
            self.pupil_b.with_user(self.user_clerk).unlink()


@tagged("post_install", "-at_install", "multipas_security")
class TestCardAccess(MultipasSecurityCommon):
    def test_teacher_sees_only_own_class_cards(self):
        """Test that a class teacher finds the cards of their pupils only, not
        the reserve stock nor other classes' cards."""
        self.assertSearchSees(self.user_teacher, self.cards, self.card_a1)
        self.assertCannotRead(self.user_teacher, self.card_a2 | self.reserve_a, ["number", "uid"])

    def test_teacher_cannot_block_card(self):
        """Test that a class teacher can't block a card."""
        with self.assertRaises(AccessError):
            self.card_a1.with_user(self.user_teacher).action_block("lost")

    def test_coordinator_sees_own_school_cards_and_reserve(self):
        """Test that a coordinator finds every card of their school, reserve included."""
        self.assertSearchSees(
            self.user_coordinator, self.cards, self.card_a1 | self.card_a2 | self.reserve_a
        )
        self.assertCannotRead(self.user_coordinator, self.card_b | self.reserve_b, ["uid"])

    def test_coordinator_blocks_own_school_card_only(self):
        """Test that a coordinator blocks their school's cards, not another school's."""
        self.card_a2.with_user(self.user_coordinator).action_block("lost", "reported by phone")
        self.assertEqual(self.card_a2.state, "blocked")
        with self.assertRaises(AccessError):
            self.card_b.with_user(self.user_coordinator).action_block("lost")

    def test_coordinator_cannot_move_card_to_other_school(self):
        """Test that a coordinator can't send a reserve card to a school they don't serve."""
        with self.assertRaises(AccessError):
            self.reserve_a.with_user(self.user_coordinator).write({"school_id": self.school_b.id})

    def test_coordinator_cannot_create_or_delete_card(self):
        """Test that cards are made by the operator, not by a coordinator."""
        Card = self.env["multipas.card"].with_user(self.user_coordinator)
        with self.assertRaises(AccessError):
            Card.create(
                {"number": "MPTST-0900", "uid": "A1B2C3D490", "school_id": self.school_a.id}
            )
        with self.assertRaises(AccessError):
            self.reserve_a.with_user(self.user_coordinator).unlink()

    def test_cashier_sees_own_school_cards_read_only(self):
        """Test that a cashier finds their school's cards and can't block them."""
        self.assertSearchSees(
            self.user_cashier, self.cards, self.card_a1 | self.card_a2 | self.reserve_a
        )
        with self.assertRaises(AccessError):
            self.card_a1.with_user(self.user_cashier).action_block("lost")

    def test_guardian_sees_only_child_card(self):
        """Test that a portal guardian finds their child's card only."""
        self.assertSearchSees(self.user_guardian_a, self.cards, self.card_a1)
        self.assertCannotRead(self.user_guardian_a, self.card_a2 | self.card_b | self.reserve_a)

    def test_guardian_cannot_block_card_directly(self):
        """Test that a portal guardian can't write the card (blocking goes
        through a checked portal route, not the ORM)."""
        with self.assertRaises(AccessError):
            self.card_a1.with_user(self.user_guardian_a).action_block("lost")

    def test_plain_users_see_no_card(self):
        """Test that users without a Multipas role find no card."""
        self.assertSearchSees(self.user_portal, self.cards, self.env["multipas.card"])
        with self.assertRaises(AccessError):
            self.env["multipas.card"].with_user(self.user_internal).search([])


@tagged("post_install", "-at_install", "multipas_security")
class TestAccountAccess(MultipasSecurityCommon):
    def _all_users(self):
        return (
            self.user_manager
            | self.user_clerk
            | self.user_coordinator
            | self.user_teacher
            | self.user_cashier
            | self.user_guardian_a
            | self.user_guardian_b
            | self.user_portal
            | self.user_internal
        )

    def test_balance_write_refused_for_everyone(self):
        """Test that nobody, not even the operator manager or the superuser,
        can write a balance directly."""
        for user in self._all_users():
            with self.subTest(user=user.login), self.assertRaises(REFUSED):
                self.account_a1.with_user(user).write({"balance": 1_000_000})
        with self.assertRaises(UserError):
            self.account_a1.write({"balance": 1_000_000})
        self.assertEqual(self.account_a1.balance, 414.5)

    def test_guardian_cannot_post(self):
        """Test that a portal guardian can't post to their child's account."""
        account = self.account_a1.with_user(self.user_guardian_a)
        with self.assertRaises(AccessError):
            account.post(1000.0, "topup", "mptest-guardian-free-money")
        self.assertEqual(self.account_a1.balance, 414.5)

    def test_school_staff_cannot_post(self):
        """Test that a coordinator, a class teacher or a cashier can't post to
        an account they can read."""
        for user in self.user_coordinator | self.user_teacher | self.user_cashier:
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.account_a1.with_user(user).post(10.0, "topup", f"mptest-{user.login}")
        self.assertEqual(self.account_a1.balance, 414.5)

    def test_plain_internal_user_cannot_post(self):
        """Test that an internal user without a Multipas role can't post."""
        with self.assertRaises(AccessError):
            self.account_a1.with_user(self.user_internal).post(10.0, "topup", "mptest-internal")

    def test_clerk_posts(self):
        """Test that the operator's clerk may post (the rights check isn't a wall for all)."""
        entry = self.account_b.with_user(self.user_clerk).post(50.0, "topup", "mptest-clerk")
        self.assertEqual(entry.balance_after, 250.0)

    def test_school_staff_cannot_open_post_wizard(self):
        """Test that school staff can't use the manual posting wizard."""
        for user in self.user_coordinator | self.user_teacher | self.user_cashier:
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.env["multipas.account.post.wizard"].with_user(user).create(
                    {"account_id": self.account_a1.id, "amount": 10.0, "reference": "x"}
                )

    def test_clerk_cannot_post_adjustment(self):
        """Test that adjustments through the wizard are for operator managers only."""
        wizard = (
            self.env["multipas.account.post.wizard"]
            .with_user(self.user_clerk)
            .create(
                {
                    "account_id": self.account_a1.id,
                    "kind": "adjustment",
                    "direction": "credit",
                    "amount": 100.0,
                    "reference": "mptest correction",
                }
            )
        )
        with self.assertRaises(AccessError):
            wizard.action_post()
        self.assertEqual(self.account_a1.balance, 414.5)

    def test_only_manager_freezes(self):
        """Test that a clerk, a coordinator, a cashier or a guardian can't
        freeze an account; a manager can."""
        for user in (
            self.user_clerk | self.user_coordinator | self.user_cashier | self.user_guardian_a
        ):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.account_a1.with_user(user).action_freeze()
        self.account_a1.with_user(self.user_manager).action_freeze()
        self.assertEqual(self.account_a1.state, "frozen")

    def test_limits_not_writable_by_school_staff_or_guardian(self):
        """Test that coordinators, teachers, cashiers and guardians can't raise
        a credit limit."""
        for user in (
            self.user_coordinator | self.user_teacher | self.user_cashier | self.user_guardian_a
        ):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.account_a1.with_user(user).write({"credit_limit": 10_000})

    def test_nobody_deletes_account(self):
        """Test that even an operator manager can't delete a personal account."""
        with self.assertRaises(REFUSED):
            self.account_b.with_user(self.user_manager).unlink()
        with self.assertRaises(UserError):
            self.account_b.unlink()

    def test_teacher_sees_only_own_class_accounts(self):
        """Test that a class teacher finds the accounts of their pupils only."""
        self.assertSearchSees(self.user_teacher, self.accounts, self.account_a1)
        self.assertCannotRead(self.user_teacher, self.account_a2 | self.account_b, ["balance"])

    def test_cashier_sees_own_school_balances(self):
        """Test that a cashier reads the balances of their school's accounts only."""
        self.assertSearchSees(self.user_cashier, self.accounts, self.account_a1 | self.account_a2)
        self.assertEqual(self.account_a2.with_user(self.user_cashier).balance, 300.0)
        self.assertCannotRead(self.user_cashier, self.account_b, ["balance"])

    def test_coordinator_sees_own_school_accounts(self):
        """Test that a coordinator finds the accounts of their school only."""
        self.assertSearchSees(
            self.user_coordinator, self.accounts, self.account_a1 | self.account_a2
        )
        self.assertCannotRead(self.user_coordinator, self.account_b, ["balance"])

    def test_guardian_sees_only_child_account(self):
        """Test that a portal guardian reads their child's balance and no other."""
        self.assertSearchSees(self.user_guardian_a, self.accounts, self.account_a1)
        self.assertEqual(self.account_a1.with_user(self.user_guardian_a).balance, 414.5)
        self.assertCannotRead(self.user_guardian_a, self.account_a2 | self.account_b, ["balance"])

    def test_plain_users_see_no_account(self):
        """Test that users without a Multipas role find no account."""
        self.assertSearchSees(self.user_portal, self.accounts, self.env["multipas.account"])
        with self.assertRaises(AccessError):
            self.env["multipas.account"].with_user(self.user_internal).search([])


@tagged("post_install", "-at_install", "multipas_security")
class TestLedgerEntryAccess(MultipasSecurityCommon):
    def test_nobody_writes_entry(self):
        """Test that nobody, not even the operator manager or the superuser,
        can change a ledger entry."""
        for user in self.user_manager | self.user_clerk | self.user_coordinator:
            with self.subTest(user=user.login), self.assertRaises(REFUSED):
                self.entry_a1.with_user(user).write({"amount": 5000.0})
        with self.assertRaises(UserError):
            self.entry_a1.write({"amount": 5000.0})
        self.assertEqual(self.entry_a1.amount, 500.0)

    def test_nobody_deletes_entry(self):
        """Test that nobody, not even the operator manager or the superuser,
        can delete a ledger entry."""
        for user in self.user_manager | self.user_clerk | self.user_coordinator:
            with self.subTest(user=user.login), self.assertRaises(REFUSED):
                self.entry_a1_purchase.with_user(user).unlink()
        with self.assertRaises(UserError):
            self.entry_a1_purchase.unlink()
        self.assertTrue(self.entry_a1_purchase.exists())

    def test_nobody_creates_entry_directly(self):
        """Test that a ledger entry can't be created except by posting."""
        vals = {
            "account_id": self.account_a1.id,
            "date": "2026-01-01 10:00:00",
            "amount": 100.0,
            "balance_after": 514.5,
            "kind": "topup",
            "idempotency_key": "mptest-forged",
            "school_ref": self.school_a.id,
        }
        with self.assertRaises(REFUSED):
            self.env["multipas.account.entry"].with_user(self.user_manager).create(vals)
        with self.assertRaises(UserError):
            self.env["multipas.account.entry"].create(vals)

    def test_cashier_cannot_read_entries(self):
        """Test that a cashier sees balances but not the ledger behind them."""
        with self.assertRaises(AccessError):
            self.env["multipas.account.entry"].with_user(self.user_cashier).search([])
        self.assertCannotRead(self.user_cashier, self.entry_a1, ["amount"])

    def test_teacher_cannot_read_entries(self):
        """Test that a class teacher can't read the ledger."""
        with self.assertRaises(AccessError):
            self.env["multipas.account.entry"].with_user(self.user_teacher).search([])

    def test_coordinator_sees_own_school_entries(self):
        """Test that a coordinator finds the ledger entries of their school only."""
        self.assertSearchSees(
            self.user_coordinator,
            self.entries,
            self.entry_a1 | self.entry_a1_purchase | self.entry_a2,
        )
        self.assertCannotRead(self.user_coordinator, self.entry_b, ["amount"])

    def test_guardian_sees_only_child_entries(self):
        """Test that a portal guardian finds their child's ledger entries only."""
        self.assertSearchSees(
            self.user_guardian_a, self.entries, self.entry_a1 | self.entry_a1_purchase
        )
        self.assertCannotRead(self.user_guardian_a, self.entry_a2 | self.entry_b, ["amount"])

    def test_plain_users_see_no_entry(self):
        """Test that users without a Multipas role find no ledger entry."""
        self.assertSearchSees(self.user_portal, self.entries, self.env["multipas.account.entry"])
        with self.assertRaises(AccessError):
            self.env["multipas.account.entry"].with_user(self.user_internal).search([])

    def test_money_report_by_school(self):
        """Test that the money-in-and-out report shows a coordinator their
        school's entries only, and nothing to a cashier, a class teacher or a
        portal guardian."""
        Report = self.env["multipas.account.entry.report"]
        rows = Report.with_user(self.user_coordinator).search(
            [("entry_id", "in", self.entries.ids)]
        )
        self.assertEqual(rows.entry_id, self.entry_a1 | self.entry_a1_purchase | self.entry_a2)
        self.assertEqual(rows.school_id, self.school_a)
        manager_rows = Report.with_user(self.user_manager).search(
            [("entry_id", "in", self.entries.ids)]
        )
        self.assertEqual(manager_rows.entry_id, self.entries)
        for user in self.user_cashier | self.user_teacher | self.user_guardian_a:
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                Report.with_user(user).search([])


@tagged("post_install", "-at_install", "multipas_security")
class TestChildPartnerAccess(MultipasSecurityCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.child_partners = cls.pupils.partner_id

    def test_plain_internal_user_cannot_find_child_partner(self):
        """Test that an internal user without a Multipas role can't find a
        child's partner by the child's name."""
        Partner = self.env["res.partner"].with_user(self.user_internal)
        self.assertFalse(Partner.search([("name", "ilike", "Mptestova")]))
        self.assertFalse(Partner.name_search("Mptestov"))
        self.assertFalse(Partner.search([("id", "in", self.child_partners.ids)]))

    def test_plain_internal_user_cannot_read_child_partner(self):
        """Test that an internal user without a Multipas role can't read a
        child's partner by its id."""
        self.assertCannotRead(self.user_internal, self.child_partners, ["name", "email"])

    def test_plain_internal_user_still_reads_other_partners(self):
        """Test that the child rule leaves ordinary partners (the company, a
        supplier) readable by every internal user."""
        Partner = self.env["res.partner"].with_user(self.user_internal)
        supplier = self.env["res.partner"].create({"name": "Mptest Supplier"})
        self.assertEqual(Partner.search([("name", "=", "Mptest Supplier")]), supplier)
        Partner.browse(self.company.partner_id.id).read(["name"])

    def test_guardians_hidden_outside_their_schools(self):
        """Test that a guardian's contact is seen by the staff of their
        child's school, not by other internal users."""
        Partner = self.env["res.partner"]
        self.assertCannotRead(self.user_internal, self.guardian_a2, ["name", "phone"])
        self.assertFalse(
            Partner.with_user(self.user_internal).search([("name", "=", "Mptest Guardian Of A2")])
        )
        self.assertEqual(
            Partner.with_user(self.user_coordinator).search(
                [("name", "=", "Mptest Guardian Of A2")]
            ),
            self.guardian_a2,
        )

    def test_archived_child_partner_stays_hidden(self):
        """Test that archiving a cardholder doesn't expose the child's partner
        to internal users without a Multipas role."""
        self.pupil_a2.action_archive()
        self.assertFalse(self.pupil_a2.partner_id.active)
        self.assertCannotRead(self.user_internal, self.pupil_a2.partner_id, ["name"])
        found = (
            self.env["res.partner"]
            .with_user(self.user_internal)
            .search_read([("active", "=", False), ("name", "ilike", "Mptestov")], ["name"])
        )
        self.assertFalse(found, "an archived child's name is listed to a plain internal user")

    def test_teacher_reads_only_own_pupils_partners(self):
        """Test that a class teacher reads the partners of their pupils only."""
        Partner = self.env["res.partner"].with_user(self.user_teacher)
        self.assertEqual(
            Partner.search([("id", "in", self.child_partners.ids)]), self.pupil_a1.partner_id
        )
        self.assertCannotRead(self.user_teacher, (self.pupil_a2 | self.pupil_b).partner_id)

    def test_school_staff_read_only_own_school_children(self):
        """Test that a coordinator or cashier reads the partners of their
        school's children, not another school's."""
        for user in self.user_coordinator | self.user_cashier:
            with self.subTest(user=user.login):
                found = (
                    self.env["res.partner"]
                    .with_user(user)
                    .search([("id", "in", self.child_partners.ids)])
                )
                self.assertEqual(found, (self.pupil_a1 | self.pupil_a2).partner_id)
                self.assertCannotRead(user, self.pupil_b.partner_id)

    def test_helpdesk_agent_cannot_read_children_partners(self):
        """Test that a helpdesk agent of a school, who may not read its
        cardholders, can't read its children's partners either."""
        agent = self._new_user(
            "mp_helpdesk",
            "multipas_cards.group_helpdesk_agent",
            multipas_school_ids=[Command.set(self.school_a.ids)],
        )
        with self.assertRaises(AccessError):
            self.env["multipas.cardholder"].with_user(agent).search([])
        # Being listed on the school is not enough: only the roles that may
        # read its cardholders may read the children's partners (name,
        # contacts, photo).
        self.assertFalse(
            self.env["res.partner"].with_user(agent).search([("id", "in", self.child_partners.ids)])
        )
        self.assertCannotRead(agent, self.pupil_a1.partner_id, ["name", "image_128"])

    def test_guardian_reads_only_own_child_partner(self):
        """Test that a portal guardian reads their child's partner and no other child's."""
        Partner = self.env["res.partner"].with_user(self.user_guardian_a)
        self.assertEqual(
            Partner.search([("id", "in", self.child_partners.ids)]), self.pupil_a1.partner_id
        )
        self.assertCannotRead(self.user_guardian_a, (self.pupil_a2 | self.pupil_b).partner_id)

    def test_guardian_cannot_edit_child_partner(self):
        """Test that a portal guardian can't write their child's partner."""
        with self.assertRaises(AccessError):
            self.pupil_a1.partner_id.with_user(self.user_guardian_a).write({"name": "Renamed"})

    def test_guardian_still_reads_own_partner(self):
        """Test that the child rule doesn't hide a guardian's own partner from them."""
        Partner = self.env["res.partner"].with_user(self.user_guardian_a)
        Partner.browse(self.user_guardian_a.partner_id.id).read(["name", "email"])

    def test_plain_portal_cannot_read_child_partner(self):
        """Test that a portal user without children can't read any child's partner."""
        self.assertFalse(
            self.env["res.partner"]
            .with_user(self.user_portal)
            .search([("id", "in", self.child_partners.ids)])
        )
        self.assertCannotRead(self.user_portal, self.child_partners)


@tagged("post_install", "-at_install", "multipas_security")
class TestMultiCompany(MultipasSecurityCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_2 = cls.env["res.company"].create({"name": "Mptest operator 2"})
        env_2 = cls.env(context=dict(cls.env.context, allowed_company_ids=cls.company_2.ids))
        cls.school_c2 = env_2["multipas.school"].create(
            {
                "name": "Test school of company 2",
                "code": "MPTST-C2",
                "company_id": cls.company_2.id,
                "user_ids": [Command.link(cls.user_coordinator.id)],
            }
        )
        cls.class_c2 = env_2["multipas.class"].create(
            {
                "school_id": cls.school_c2.id,
                "grade": 1,
                "letter": "A",
                "school_year": cls.class_a1.school_year,
            }
        )
        # Registered by someone who works for both companies with the first
        # one current, as an operator manager of both would in the web client.
        env_both = cls.env(
            context=dict(cls.env.context, allowed_company_ids=(cls.company | cls.company_2).ids)
        )
        cls.pupil_c2 = env_both["multipas.cardholder"].create(
            {
                "last_name": "Mptestcompany",
                "first_name": "Gleb",
                "school_id": cls.school_c2.id,
                "class_id": cls.class_c2.id,
            }
        )

    def test_coordinator_of_first_company_cannot_see_second_company_school(self):
        """Test that a coordinator of the first company doesn't see a second
        company's school, even when listed on it by mistake."""
        self.assertSearchSees(self.user_coordinator, self.schools | self.school_c2, self.school_a)
        self.assertCannotRead(self.user_coordinator, self.school_c2)
        self.assertCannotRead(self.user_coordinator, self.pupil_c2, ["name"])

    def test_manager_of_first_company_cannot_see_second_company_school(self):
        """Test that an operator manager of the first company only doesn't see
        the second company's school."""
        self.assertSearchSees(self.user_manager, self.schools | self.school_c2, self.schools)
        self.assertCannotRead(self.user_manager, self.school_c2)

    def test_clerk_of_first_company_cannot_see_second_company_pupils(self):
        """Test that an operator clerk of the first company doesn't see the
        second company's pupils."""
        self.assertSearchSees(self.user_clerk, self.pupils | self.pupil_c2, self.pupils)
        self.assertCannotRead(self.user_clerk, self.pupil_c2, ["name"])

    def test_account_belongs_to_school_company(self):
        """Test that a pupil's personal account belongs to their school's
        company, whichever company the user registering them works in."""
        self.assertEqual(self.pupil_c2.account_id.company_id, self.company_2)

    def test_clerk_of_first_company_cannot_see_second_company_accounts(self):
        """Test that an operator clerk of the first company doesn't see the
        personal accounts of the second company's pupils."""
        self.assertSearchSees(
            self.user_clerk, self.accounts | self.pupil_c2.account_id, self.accounts
        )
