from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .registration_common import RegistrationCommon


@tagged("post_install", "-at_install", "multipas_registration", "multipas_security")
class TestRegistrationAccess(RegistrationCommon):
    """Who sees and touches which registration forms and packages."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.form_a = cls.Form.with_user(cls.user_coordinator).create(
            {
                "school_id": cls.school_a.id,
                "form_date": cls.form_day,
                "last_name": "Mpsecura",
                "first_name": "Anna",
                "class_grade": 5,
                "class_letter": "A",
                "guardian_ids": [cls._guardian_line()],
            }
        )
        cls.form_b = cls.Form.with_user(cls.user_clerk).create(
            {
                "school_id": cls.school_b.id,
                "form_date": cls.form_day,
                "last_name": "Mpsecurb",
                "first_name": "Boris",
                "class_grade": 5,
                "class_letter": "A",
                "guardian_ids": [cls._guardian_line(email="b.parent@example.com")],
            }
        )
        form, errors = cls.Form.with_user(cls.user_guardian_a)._portal_submit(
            cls.user_guardian_a.partner_id,
            {
                "school_id": str(cls.school_a.id),
                "last_name": "Mpportalov",
                "first_name": "Kirill",
                "birth_date": "2017-05-05",
                "class_grade": "5",
                "class_letter": "A",
                "g_last_name": "Mpguardian",
                "g_first_name": "Alla",
                "g_relation": "mother",
                "g_phone": "+7 912 123-45-67",
                "accept_contract": "on",
                "accept_consent": "on",
            },
        )
        assert not errors, errors
        cls.form_a = cls.form_a.with_env(cls.env)
        cls.form_b = cls.form_b.with_env(cls.env)
        cls.form_portal = form.with_env(cls.env)
        cls.forms = cls.form_a | cls.form_b | cls.form_portal
        cls.package_a = cls.Package.with_user(cls.user_coordinator).create(
            {"school_id": cls.school_a.id, "declared_count": 1}
        )
        cls.package_b = cls.Package.with_user(cls.user_clerk).create(
            {"school_id": cls.school_b.id, "declared_count": 1}
        )
        cls.package_a = cls.package_a.with_env(cls.env)
        cls.package_b = cls.package_b.with_env(cls.env)
        cls.packages = cls.package_a | cls.package_b

    def assertSees(self, user, universe, expected):
        found = self.env[universe._name].with_user(user).search([("id", "in", universe.ids)])
        self.assertEqual(found, expected, f"{user.login} on {universe._name}")

    def assertNoAccess(self, user, records):
        with self.assertRaises(AccessError):
            self.env[records._name].with_user(user).search([])
        for record in records:
            with self.subTest(user=user.login, record=record), self.assertRaises(AccessError):
                record.with_user(user).read(["name"])

    # === COORDINATOR === #

    def test_coordinator_sees_own_school_only(self):
        """Test that a coordinator finds the forms and packages of their school only."""
        self.assertSees(self.user_coordinator, self.forms, self.form_a | self.form_portal)
        self.assertSees(self.user_coordinator, self.packages, self.package_a)
        self.assertSees(
            self.user_coordinator,
            self.forms.guardian_ids,
            (self.form_a | self.form_portal).guardian_ids,
        )
        with self.assertRaises(AccessError):
            self.form_b.with_user(self.user_coordinator).read(["last_name"])
        with self.assertRaises(AccessError):
            self.package_b.with_user(self.user_coordinator).read(["name"])
        with self.assertRaises(AccessError):
            self.form_b.guardian_ids.with_user(self.user_coordinator).read(["phone"])

    def test_coordinator_cannot_file_for_another_school(self):
        """Test that a coordinator can't create or move a form or a package into
        another school, nor add a guardian to another school's form."""
        with self.assertRaises(AccessError):
            self._new_form(school_id=self.school_b.id)
        with self.assertRaises(AccessError):
            self.form_a.with_user(self.user_coordinator).write({"school_id": self.school_b.id})
        with self.assertRaises(AccessError):
            self.Package.with_user(self.user_coordinator).create(
                {"school_id": self.school_b.id, "declared_count": 1}
            )
        with self.assertRaises(AccessError):
            self.env["multipas.registration.form.guardian"].with_user(self.user_coordinator).create(
                {"form_id": self.form_b.id, "last_name": "X", "first_name": "Y"}
            )

    def test_coordinator_cannot_touch_another_schools_form(self):
        """Test that a coordinator can't write, return, pack or delete a form of another school."""
        with self.assertRaises(AccessError):
            self.form_b.with_user(self.user_coordinator).write({"allergies": "x"})
        with self.assertRaises(AccessError):
            self.form_b.with_user(self.user_coordinator)._return("No.")
        with self.assertRaises(AccessError):
            self.package_a.with_user(self.user_coordinator).action_set_forms(
                self.form_b.with_user(self.user_coordinator)
            )
        with self.assertRaises(AccessError):
            self.form_b.with_user(self.user_coordinator).unlink()
        self.assertEqual(self.form_b.state, "draft")

    def test_coordinator_cannot_target_another_schools_cardholder(self):
        """Test that a change form can't name (and so read through its
        changes) a cardholder the coordinator may not see."""
        with self.assertRaises(AccessError):
            self._new_form(form_type="change", target_cardholder_id=self.pupil_b.id)
        with self.assertRaises(AccessError):
            self.form_a.with_user(self.user_coordinator).write(
                {"form_type": "change", "target_cardholder_id": self.pupil_b.id}
            )

    # === OPERATOR === #

    def test_operator_sees_everything(self):
        """Test that the operator's clerk finds every form and package."""
        self.assertSees(self.user_clerk, self.forms, self.forms)
        self.assertSees(self.user_clerk, self.packages, self.packages)
        self.assertSees(self.user_clerk, self.forms.guardian_ids, self.forms.guardian_ids)

    def test_clerk_cannot_delete(self):
        """Test that a clerk can't delete forms or packages (managers and coordinators may)."""
        with self.assertRaises(AccessError):
            self.form_b.with_user(self.user_clerk).unlink()
        with self.assertRaises(AccessError):
            self.package_b.with_user(self.user_clerk).unlink()

    # === PORTAL === #

    def test_guardian_reads_only_own_forms(self):
        """Test that a portal guardian reads the forms they filled in, and no other."""
        self.assertSees(self.user_guardian_a, self.forms, self.form_portal)
        self.assertSees(self.user_guardian_b, self.forms, self.Form)
        self.assertSees(self.user_portal, self.forms, self.Form)
        with self.assertRaises(AccessError):
            self.form_a.with_user(self.user_guardian_a).read(["last_name"])
        with self.assertRaises(AccessError):
            self.form_portal.with_user(self.user_guardian_b).read(["last_name"])
        self.assertSees(
            self.user_guardian_a, self.forms.guardian_ids, self.form_portal.guardian_ids
        )

    def test_guardian_named_on_a_processed_form_reads_it(self):
        """Test that a guardian named on a form (not its author) reads it once
        their contact is linked at processing."""
        guardian_b_partner = self.user_guardian_b.partner_id
        self.form_a.guardian_ids.sudo().partner_id = guardian_b_partner
        self.assertSees(self.user_guardian_b, self.forms, self.form_a)

    def test_guardian_cannot_write_create_or_delete(self):
        """Test that the portal is read only: forms are filed through the checks of the portal."""
        form = self.form_portal.with_user(self.user_guardian_a)
        with self.assertRaises(AccessError):
            form.write({"allergies": "x"})
        with self.assertRaises(AccessError):
            form.unlink()
        with self.assertRaises(AccessError):
            self.Form.with_user(self.user_guardian_a).create(
                {"school_id": self.school_a.id, "last_name": "X", "first_name": "Y"}
            )
        with self.assertRaises(AccessError):
            form.guardian_ids.write({"phone": "+7 900 000-00-00"})
        with self.assertRaises(AccessError):
            self.env["multipas.registration.package"].with_user(self.user_guardian_a).search([])

    # === NO ACCESS === #

    def test_class_teacher_has_no_access(self):
        """Test that a class teacher reads no form, guardian line or package, even of their class."""
        self.assertNoAccess(self.user_teacher, self.form_a)
        self.assertNoAccess(self.user_teacher, self.package_a)
        with self.assertRaises(AccessError):
            self.form_a.guardian_ids.with_user(self.user_teacher).read(["phone"])

    def test_cashier_and_plain_user_have_no_access(self):
        """Test that a cashier and an internal user without a role read no form or package."""
        for user in (self.user_cashier, self.user_internal):
            with self.subTest(user=user.login):
                self.assertNoAccess(user, self.form_a)
                self.assertNoAccess(user, self.package_a)

    def test_wizards_are_for_operator_and_coordinator(self):
        """Test that the return and import wizards are refused to others."""
        for model in (
            "multipas.registration.return.wizard",
            "multipas.registration.import.wizard",
        ):
            for user in (self.user_teacher, self.user_cashier, self.user_guardian_a):
                with self.subTest(model=model, user=user.login), self.assertRaises(AccessError):
                    self.env[model].with_user(user).create({})
        wizard = (
            self.env["multipas.registration.return.wizard"]
            .with_user(self.user_coordinator)
            .create({"form_ids": [Command.set(self.form_b.ids)], "reason": "No."})
        )
        # Refused: either the form can't be read, or it reads as no form at all.
        with self.assertRaises(UserError):
            wizard.action_confirm()
        self.assertEqual(self.form_b.state, "draft")
