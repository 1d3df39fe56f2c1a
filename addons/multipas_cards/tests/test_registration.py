import io
from datetime import date
from unittest.mock import patch

from werkzeug.datastructures import FileStorage

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form as FormView
from odoo.tests import tagged
from odoo.tools import mute_logger

from .registration_common import RegistrationCommon


@tagged("post_install", "-at_install", "multipas_registration")
class TestRegistrationForm(RegistrationCommon):
    # === NUMBERS AND CLASSES === #

    def test_numbers_follow_the_sequences(self):
        """Test that forms are numbered RF-<year>-NNNNN and packages RP-<year>-NNNN."""
        form = self._new_form()
        package = self._package(form)
        self.assertRegex(form.name, r"^RF-\d{4}-\d{5}$")
        self.assertRegex(package.name, r"^RP-\d{4}-\d{4}$")

    def test_class_before_june_is_this_years(self):
        """Test that a form filled before 1 June names a class of the running school year."""
        old = self.env["multipas.class"].create(
            {"school_id": self.school_a.id, "grade": 7, "letter": "V", "school_year": "2024/2025"}
        )
        self.env["multipas.class"].create(
            {"school_id": self.school_a.id, "grade": 7, "letter": "V", "school_year": "2025/2026"}
        )
        form = self._new_form(form_date=date(2025, 5, 31), class_grade=7, class_letter="v")
        self.assertEqual(form.class_letter, "V")
        self.assertEqual(form.class_year, "2024/2025")
        self.assertEqual(form.class_id, old)

    def test_class_from_june_is_next_years(self):
        """Test that a form filled from 1 June names next school year's class (§3.3.2)."""
        self.env["multipas.class"].create(
            {"school_id": self.school_a.id, "grade": 7, "letter": "V", "school_year": "2024/2025"}
        )
        new = self.env["multipas.class"].create(
            {"school_id": self.school_a.id, "grade": 7, "letter": "V", "school_year": "2025/2026"}
        )
        form = self._new_form(form_date=date(2025, 6, 1), class_grade=7, class_letter="V")
        self.assertEqual(form.class_year, "2025/2026")
        self.assertEqual(form.class_id, new)

    def test_missing_next_year_class_is_resolved_at_processing(self):
        """Test that a June form whose next-year class doesn't exist yet keeps
        grade and letter, is refused at processing with a clear reason, and is
        processed into that class once it exists (it is never created by the form)."""
        self.env["multipas.class"].create(
            {"school_id": self.school_a.id, "grade": 9, "letter": "G", "school_year": "2024/2025"}
        )
        form = self._new_form(form_date=date(2025, 6, 3), class_grade=9, class_letter="G")
        self.assertFalse(form.class_id)
        self.assertEqual(form.class_label, "9G")
        self._submitted(form)
        clerk_form = form.with_user(self.user_clerk)
        with self.assertRaisesRegex(UserError, "9G of 2025/2026 doesn't exist"):
            clerk_form.action_process()
        self.assertFalse(
            self.env["multipas.class"].search(
                [("school_id", "=", self.school_a.id), ("school_year", "=", "2025/2026")]
            )
        )
        new = self.env["multipas.class"].create(
            {"school_id": self.school_a.id, "grade": 9, "letter": "G", "school_year": "2025/2026"}
        )
        clerk_form.action_process()
        self.assertEqual(form.cardholder_id.class_id, new)

    def test_bad_letter_and_future_dates_are_refused(self):
        """Test that a class letter must be one letter and dates can't be in the future."""
        with self.assertRaises(ValidationError):
            self._new_form(class_letter="5")
        with self.assertRaises(ValidationError):
            self._new_form(birth_date=date(2999, 1, 1))
        with self.assertRaises(ValidationError):
            self._new_form(guardians=[self._guardian_line(consent_date=date(2999, 1, 1))])
        with self.assertRaises(ValidationError):
            self._new_form(guardians=[self._guardian_line(email="not an email")])
        with self.assertRaises(ValidationError):
            self._new_form(guardians=[self._guardian_line(phone="12-34")])

    # === PROCESSING === #

    def test_process_new_pupil(self):
        """Test that processing a complete form creates the cardholder in the
        resolved class, a guardian partner carrying the consent and the
        contract, and the personal account, and closes form and package."""
        form = self._new_form()
        package = self._submitted(form)
        self.assertEqual((form.state, package.state), ("submitted", "received"))
        form.with_user(self.user_clerk).action_process()
        holder = form.cardholder_id
        self.assertEqual(form.state, "processed")
        self.assertEqual(form.processed_by_id, self.user_clerk)
        self.assertEqual(holder.name, "Mpformov Ivan Sergeevich")
        self.assertEqual(holder.class_id, self.class_a1)
        self.assertEqual(holder.school_id, self.school_a)
        self.assertEqual(holder.birth_date, date(2015, 9, 1))
        self.assertTrue(holder.account_id)
        guardian = holder.guardian_ids
        self.assertEqual(guardian.name, "Mpformova Olga Petrovna")
        self.assertEqual(guardian.email, "olga.mpformova@example.com")
        self.assertEqual(guardian.multipas_consent_date, self.form_day)
        self.assertEqual(guardian.multipas_contract_date, self.form_day)
        self.assertEqual(guardian.multipas_contract_version, self.Form._contract_version())
        self.assertEqual(guardian.multipas_consent_taken_by, self.user_coordinator)
        self.assertTrue(guardian.multipas_consent_scope)
        self.assertTrue(holder._multipas_has_consent())
        self.assertEqual(package.state, "processed")
        self.assertEqual(form.guardian_ids.partner_id, guardian)

    def test_existing_guardian_found_by_email_is_reused(self):
        """Test that a guardian already known by email and name is linked, not duplicated."""
        partners = self.env["res.partner"].search_count([])
        form = self._new_form(
            guardians=[
                self._guardian_line(
                    last_name="Mptest",
                    first_name="Guardian",
                    patronymic=False,
                    email="GUARDIAN.A2@example.com",
                    phone=False,
                )
            ]
        )
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        self.assertEqual(form.cardholder_id.guardian_ids, self.guardian_a2)
        self.assertEqual(self.guardian_a2.multipas_consent_date, self.form_day)
        self.assertEqual(self.guardian_a2.multipas_child_count, 2)
        # The child's partner is the only new contact.
        self.assertEqual(self.env["res.partner"].search_count([]), partners + 1)

    def test_existing_guardian_found_by_phone_is_reused(self):
        """Test that a guardian known by phone (written differently) and name is reused."""
        self.guardian_a2.phone = "+7 (912) 555-00-11"
        form = self._new_form(
            guardians=[
                self._guardian_line(
                    last_name="mptest", first_name="guardian", email=False, phone="89125550011"
                )
            ]
        )
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        self.assertEqual(form.cardholder_id.guardian_ids, self.guardian_a2)

    def test_same_contact_other_name_is_a_new_guardian(self):
        """Test that a shared email under another name does not merge two people."""
        form = self._new_form(
            guardians=[self._guardian_line(email="guardian.a2@example.com", phone=False)]
        )
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        guardian = form.cardholder_id.guardian_ids
        self.assertNotEqual(guardian, self.guardian_a2)
        self.assertEqual(guardian.name, "Mpformova Olga Petrovna")

    def test_known_child_at_same_school_is_linked(self):
        """Test that a form for a child already registered at the school links
        to that cardholder (name compared without case, spaces or ё) and adds
        the new guardian instead of creating a second person."""
        holders = self.env["multipas.cardholder"].search_count([])
        form = self._new_form(
            last_name=" MPTESTOVA ",
            first_name="alisa",
            patronymic=False,
            birth_date=self.pupil_a1.birth_date,
        )
        self.assertEqual(form.duplicate_cardholder_id, self.pupil_a1)
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        self.assertEqual(form.cardholder_id, self.pupil_a1)
        self.assertEqual(self.env["multipas.cardholder"].search_count([]), holders)
        self.assertEqual(len(self.pupil_a1.guardian_ids), 2)
        self.assertIn(self.user_guardian_a.partner_id, self.pupil_a1.guardian_ids)

    def test_known_child_at_other_school_is_a_warning(self):
        """Test that the operator is warned about the same child at another
        school, the coordinator can't read that warning, and processing still
        creates a new person."""
        self.pupil_b.birth_date = date(2016, 1, 20)
        form = self._new_form(
            last_name="Mptestina", first_name="Vera", patronymic=False, birth_date=date(2016, 1, 20)
        )
        self.assertFalse(form.duplicate_cardholder_id)
        self.assertIn("Test school B", form.with_user(self.user_clerk).duplicate_note)
        with self.assertRaises(AccessError):
            form.with_user(self.user_coordinator).read(["duplicate_note"])
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        self.assertNotEqual(form.cardholder_id, self.pupil_b)
        self.assertEqual(form.cardholder_id.school_id, self.school_a)

    def test_form_without_consent_is_not_processed(self):
        """Test that a form without the guardian's consent is refused with the
        reason and nothing is created: no card is made without consent."""
        holders = self.env["multipas.cardholder"].search_count([])
        form = self._new_form(guardians=[self._guardian_line(consent_date=False)])
        self.assertFalse(form.is_complete)
        self.assertIn("consent", form.missing_info)
        self._submitted(form)
        with self.assertRaisesRegex(UserError, "consent"):
            form.with_user(self.user_clerk).action_process()
        self.assertEqual(form.state, "submitted")
        self.assertEqual(self.env["multipas.cardholder"].search_count([]), holders)

    def test_form_without_guardian_or_contract_is_incomplete(self):
        """Test that a pupil's form needs a guardian and a subscriber contract."""
        self.assertIn("guardian", self._new_form(guardians=[]).missing_info)
        form = self._new_form(guardians=[self._guardian_line(contract_date=False)])
        self.assertIn("subscriber contract", form.missing_info)
        form = self._new_form(guardians=[self._guardian_line(phone=False, email=False)])
        self.assertIn("phone or an email", form.missing_info)
        self.assertIn(form, self.Form.search([("is_complete", "=", False)]))
        self.assertNotIn(form, self.Form.search([("is_complete", "=", True)]))

    def test_processing_requires_a_received_package(self):
        """Test that forms are processed only once the operator has received their package."""
        form = self._new_form()
        with self.assertRaisesRegex(UserError, "only submitted forms"):
            form.with_user(self.user_clerk).action_process()
        self._submitted(form, receive=False)
        with self.assertRaisesRegex(UserError, "received"):
            form.with_user(self.user_clerk).action_process()

    def test_only_the_operator_processes(self):
        """Test that a coordinator can't process a form of their own school."""
        form = self._new_form()
        self._submitted(form)
        with self.assertRaises(UserError):
            form.with_user(self.user_coordinator).action_process()
        self.assertEqual(form.state, "submitted")

    def test_processing_is_all_or_nothing_per_form(self):
        """Test that a form failing halfway (after its cardholder was created)
        leaves nothing behind, while the other forms of the package are processed."""
        good = self._new_form()
        bad = self._new_form(last_name="Mpbroken", first_name="Petr")
        package = self._submitted(good | bad)
        Guardian = type(self.env["multipas.registration.form.guardian"])
        original = Guardian._find_or_create_partners

        def fail_for_bad(lines):
            if lines.form_id == bad:
                raise UserError(self.env._("guardian store unavailable"))
            return original(lines)

        with patch.object(Guardian, "_find_or_create_partners", fail_for_bad):
            package.with_user(self.user_clerk).action_process()
        self.assertEqual(good.state, "processed")
        self.assertEqual(bad.state, "submitted")
        self.assertFalse(bad.cardholder_id)
        self.assertFalse(
            self.env["multipas.cardholder"]
            .with_context(active_test=False)
            .search([("last_name", "=", "Mpbroken")])
        )
        self.assertFalse(self.env["res.partner"].search([("name", "ilike", "Mpbroken")]))
        self.assertEqual(package.state, "received")
        self.assertIn("guardian store unavailable", package.message_ids[0].body)

    def test_package_processing_leaves_incomplete_forms(self):
        """Test that processing a package skips an incomplete form (it waits to
        be returned) and closes the package once that form is returned."""
        good = self._new_form()
        unsigned = self._new_form(
            last_name="Mpunsigned", guardians=[self._guardian_line(consent_date=False)]
        )
        package = self._submitted(good | unsigned)
        action = package.with_user(self.user_clerk).action_process()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertEqual((good.state, unsigned.state), ("processed", "submitted"))
        self.assertEqual(package.state, "received")
        self.assertEqual(
            (package.processed_count, package.submitted_count, package.incomplete_count),
            (1, 1, 1),
        )
        wizard = (
            self.env["multipas.registration.return.wizard"]
            .with_user(self.user_clerk)
            .create({"form_ids": [Command.set(unsigned.ids)], "reason": "Consent not signed."})
        )
        wizard.action_confirm()
        self.assertEqual(unsigned.state, "returned")
        self.assertEqual(unsigned.return_reason, "Consent not signed.")
        self.assertEqual(unsigned.returned_by_id, self.user_clerk)
        self.assertEqual(package.state, "processed")

    # === RETURN AND REFILE === #

    def test_return_needs_a_reason(self):
        """Test that a form is never returned without a reason."""
        form = self._new_form()
        with self.assertRaises(UserError):
            form.with_user(self.user_coordinator)._return("   ")
        self.assertEqual(form.state, "draft")

    def test_coordinator_returns_drafts_not_submitted_forms(self):
        """Test that a coordinator may return a draft (e.g. a wrong portal form)
        but not a form that is already with the operator."""
        draft = self._new_form()
        draft.with_user(self.user_coordinator)._return("Wrong school.")
        self.assertEqual(draft.state, "returned")
        form = self._new_form()
        self._submitted(form)
        with self.assertRaises(UserError):
            form.with_user(self.user_coordinator)._return("Changed my mind.")
        self.assertEqual(form.state, "submitted")
        with self.assertRaises(UserError):
            draft.with_user(self.user_clerk)._return("Twice.")

    def test_returned_form_is_filed_again_as_a_copy(self):
        """Test that a returned form stays as it was and a corrected copy starts as a draft."""
        form = self._new_form(guardians=[self._guardian_line(consent_date=False)])
        self._submitted(form)
        form.with_user(self.user_clerk)._return("Consent missing.")
        with self.assertRaises(UserError):
            form.with_user(self.user_coordinator).write({"allergies": "milk"})
        action = form.with_user(self.user_coordinator).action_copy_returned()
        copy = self.Form.browse(action["res_id"])
        self.assertEqual(copy.state, "draft")
        self.assertFalse(copy.package_id)
        self.assertNotEqual(copy.name, form.name)
        self.assertEqual(copy.holder_name, form.holder_name)
        self.assertEqual(len(copy.guardian_ids), 1)
        copy.guardian_ids.with_user(self.user_coordinator).consent_date = self.form_day
        self.assertTrue(copy.is_complete)

    # === WHO MAY CHANGE WHAT === #

    def test_states_change_only_through_the_buttons(self):
        """Test that nobody (not even the operator) writes a state or a result directly."""
        form = self._new_form()
        for user in (self.user_coordinator, self.user_clerk):
            for vals in (
                {"state": "processed"},
                {"cardholder_id": self.pupil_a1.id},
                {"source": "portal"},
            ):
                with self.subTest(user=user.login, vals=vals), self.assertRaises(UserError):
                    form.with_user(user).write(vals)
        with self.assertRaises(UserError):
            self._new_form(state="processed")
        with self.assertRaises(UserError):
            self._new_form(source="portal")

    def test_submitted_form_is_frozen_for_the_school(self):
        """Test that once handed over, the school can't change the form or its
        guardians, while the operator may still correct it before processing."""
        form = self._new_form()
        self._submitted(form)
        with self.assertRaises(UserError):
            form.with_user(self.user_coordinator).write({"allergies": "milk"})
        with self.assertRaises(UserError):
            form.guardian_ids.with_user(self.user_coordinator).write({"phone": "+79120000000"})
        with self.assertRaises(UserError):
            form.with_user(self.user_coordinator).unlink()
        form.with_user(self.user_clerk).write({"allergies": "milk"})
        self.assertEqual(form.allergies, "milk")
        self.assertFalse(form.with_user(self.user_coordinator).can_edit)
        self.assertTrue(form.with_user(self.user_clerk).can_edit)

    def test_processed_form_is_frozen_for_everyone(self):
        """Test that a processed form is a record: even the operator can't change it."""
        form = self._new_form()
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        with self.assertRaises(UserError):
            form.with_user(self.user_clerk).write({"last_name": "Other"})

    def test_draft_form_deleted_only_outside_a_package(self):
        """Test that a coordinator deletes a loose draft but not a packed one."""
        loose = self._new_form()
        loose.with_user(self.user_coordinator).unlink()
        self.assertFalse(loose.exists())
        packed = self._new_form()
        self._package(packed)
        with self.assertRaises(UserError):
            packed.with_user(self.user_coordinator).unlink()

    # === STAFF === #

    def test_staff_form_with_own_consent(self):
        """Test that a staff member's form needs no guardian: their own consent
        and contract go onto their own contact (§3.3.4)."""
        form = self._new_form(
            guardians=[],
            holder_kind="staff",
            class_letter=False,
            last_name="Mpstaff",
            first_name="Nina",
            birth_date=date(1985, 2, 3),
            holder_phone="+7 912 000-11-22",
            holder_email="nina.mpstaff@example.com",
            holder_contract_date=self.form_day,
            holder_consent_date=self.form_day,
        )
        self.assertTrue(form.is_complete, form.missing_info)
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        holder = form.cardholder_id
        self.assertEqual(holder.kind, "staff")
        self.assertFalse(holder.class_id)
        self.assertFalse(holder.guardian_ids)
        self.assertEqual(holder.email, "nina.mpstaff@example.com")
        self.assertEqual(holder.partner_id.multipas_consent_date, self.form_day)
        self.assertEqual(holder.partner_id.multipas_consent_taken_by, self.user_clerk)
        self.assertTrue(holder._multipas_has_consent())

    def test_staff_form_without_own_consent_is_incomplete(self):
        """Test that a staff member's form without their own consent can't be processed."""
        form = self._new_form(guardians=[], holder_kind="staff", class_letter=False)
        self.assertIn("staff member's own personal data consent", form.missing_info)

    # === CONSENT ON THE CARDHOLDER === #

    def test_has_consent(self):
        """Test that a pupil has consent once a guardian has a consent date, and
        a staff member once they have one themselves."""
        self.assertFalse(self.pupil_a1._multipas_has_consent())
        self.assertEqual(self.pupils._multipas_without_consent(), self.pupils)
        self.user_guardian_a.partner_id.multipas_consent_date = self.form_day
        self.assertTrue(self.pupil_a1.with_user(self.user_coordinator)._multipas_has_consent())
        self.assertEqual(self.pupils._multipas_without_consent(), self.pupil_a2 | self.pupil_b)
        staff = self.env["multipas.cardholder"].create(
            {
                "last_name": "Mpstaff",
                "first_name": "Oleg",
                "kind": "staff",
                "school_id": self.school_a.id,
                "guardian_ids": [Command.set(self.user_guardian_a.partner_id.ids)],
            }
        )
        self.assertFalse(staff._multipas_has_consent())
        staff.partner_id.multipas_consent_date = self.form_day
        self.assertTrue(staff._multipas_has_consent())


@tagged("post_install", "-at_install", "multipas_registration")
class TestRegistrationPackage(RegistrationCommon):
    def test_mismatch_blocks_hand_over_until_explained(self):
        """Test that a package whose declared count differs from its forms is
        flagged and handed over only with a note explaining the difference."""
        forms = self._new_form() | self._new_form(last_name="Mpsecond")
        package = self._package(forms, declared=3)
        self.assertTrue(package.count_mismatch)
        self.assertEqual(package.actual_count, 2)
        with self.assertRaisesRegex(UserError, "holds 2 forms but 3 were declared"):
            package.action_hand_over()
        self.assertEqual(package.state, "draft")
        self.assertEqual(set(forms.mapped("state")), {"draft"})
        package.with_user(self.user_coordinator).mismatch_note = "One form is being corrected."
        package.with_user(self.user_coordinator).action_hand_over()
        self.assertEqual(package.state, "handed_over")
        self.assertEqual(package.handed_over_by_id, self.user_coordinator)
        self.assertEqual(set(forms.mapped("state")), {"submitted"})

    def test_matching_count_is_not_flagged(self):
        """Test that a package with the declared number of forms is handed over at once."""
        package = self._package(self._new_form())
        self.assertFalse(package.count_mismatch)
        package.action_hand_over()
        self.assertEqual(package.state, "handed_over")

    def test_empty_or_uncounted_package_is_not_handed_over(self):
        """Test that an empty package, or one without a declared count, stays a draft."""
        empty = self.Package.with_user(self.user_coordinator).create(
            {"school_id": self.school_a.id, "declared_count": 1}
        )
        with self.assertRaisesRegex(UserError, "empty"):
            empty.action_hand_over()
        uncounted = self._package(self._new_form(), declared=0)
        with self.assertRaisesRegex(UserError, "how many"):
            uncounted.action_hand_over()

    def test_forms_go_in_only_as_unpacked_drafts_of_the_school(self):
        """Test that a package takes drafts of its own school that aren't in
        another package, and nothing once handed over."""
        form = self._new_form()
        first = self._package(form)
        second = self.Package.with_user(self.user_coordinator).create(
            {"school_id": self.school_a.id, "declared_count": 1}
        )
        with self.assertRaises(UserError):
            second.action_set_forms(form)
        other_school = self._new_form(user=self.user_clerk, school_id=self.school_b.id)
        with self.assertRaises(UserError):
            second.with_user(self.user_clerk).action_set_forms(other_school)
        with self.assertRaises(UserError):
            form.with_user(self.user_coordinator).write({"package_id": second.id})
        first.action_hand_over()
        late = self._new_form(last_name="Mplate")
        with self.assertRaises(UserError):
            first.action_set_forms(form | late)
        with self.assertRaises(UserError):
            first.with_user(self.user_coordinator).write({"declared_count": 5})

    def test_form_list_of_the_package_form_view(self):
        """Test that forms are added to and removed from a draft package through
        its form view (the x2many commands of the web client)."""
        one, two = self._new_form(), self._new_form(last_name="Mptwo")
        package = self.Package.with_user(self.user_coordinator).create(
            {"school_id": self.school_a.id, "declared_count": 2}
        )
        package.write({"form_ids": [Command.link(one.id), Command.link(two.id)]})
        self.assertEqual(package.form_ids, one | two)
        package.write({"form_ids": [Command.unlink(one.id)]})
        self.assertEqual(package.form_ids, two)
        self.assertFalse(one.package_id)
        with self.assertRaises(UserError):
            package.write({"form_ids": [Command.create({"last_name": "X"})]})
        three = self._new_form(last_name="Mpthree")
        new = self.Package.with_user(self.user_coordinator).create(
            {
                "school_id": self.school_a.id,
                "declared_count": 1,
                "form_ids": [Command.link(three.id)],
            }
        )
        self.assertEqual(new.form_ids, three)

    def test_collect_the_schools_drafts(self):
        """Test that the coordinator puts every loose draft of the school into the package."""
        forms = self._new_form() | self._new_form(last_name="Mptwo")
        other = self._new_form(user=self.user_clerk, school_id=self.school_b.id)
        package = self.Package.with_user(self.user_coordinator).create(
            {"school_id": self.school_a.id, "declared_count": 2}
        )
        package.action_collect_forms()
        self.assertTrue(forms <= package.form_ids)
        self.assertNotIn(other, package.form_ids)

    def test_receive_is_the_operators_step(self):
        """Test that the coordinator can't mark their own package received, the clerk can."""
        package = self._submitted(self._new_form(), receive=False)
        with self.assertRaises(UserError):
            package.with_user(self.user_coordinator).action_receive()
        package.with_user(self.user_clerk).action_receive()
        self.assertEqual((package.state, package.received_by_id), ("received", self.user_clerk))
        with self.assertRaises(UserError):
            package.with_user(self.user_clerk).action_receive()

    def test_handed_over_package_is_not_deleted(self):
        """Test that only a draft package can be deleted, and its forms stay as drafts."""
        form = self._new_form()
        draft = self._package(form)
        draft.unlink()
        self.assertEqual((form.state, form.package_id.id), ("draft", False))
        sent = self._submitted(form, receive=False)
        with self.assertRaises(UserError):
            sent.unlink()


@tagged("post_install", "-at_install", "multipas_registration")
class TestChangeForm(RegistrationCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The guardian of A1 consented when the child was registered.
        cls.user_guardian_a.partner_id.write(
            {"multipas_consent_date": cls.form_day, "multipas_contract_date": cls.form_day}
        )

    def _change_form(self, holder=None, **values):
        holder = holder or self.pupil_a1
        action = holder.with_user(self.user_coordinator).action_new_change_form()
        defaults = {
            key[len("default_") :]: value
            for key, value in action["context"].items()
            if key.startswith("default_")
        }
        defaults.update(form_date=self.form_day, **values)
        return self.Form.with_user(self.user_coordinator).create(defaults)

    def test_change_form_starts_from_the_cardholder(self):
        """Test that a change form started from a cardholder shows no change
        until something is corrected, then marks exactly what changed."""
        form = self._change_form()
        self.assertEqual(form.form_type, "change")
        self.assertEqual(form.target_cardholder_id, self.pupil_a1)
        self.assertEqual((form.class_grade, form.class_letter), (5, "A"))
        self.assertFalse(form.changed_fields)
        form.write({"class_grade": 6, "class_letter": "B", "allergies": "peanuts, milk"})
        self.assertEqual(form.changed_fields, "class,allergies")
        self.assertIn("<u", form.changes_html)
        self.assertIn("6B", form.changes_html)
        self.assertIn("peanuts, milk", form.changes_html)

    def test_onchange_fills_the_form_from_the_cardholder(self):
        """Test that choosing the cardholder in the form view fills in their data."""
        with FormView(self.Form.with_user(self.user_coordinator)) as view:
            view.form_type = "change"
            view.target_cardholder_id = self.pupil_a2
            self.assertEqual(view.last_name, "Mptestov")
            self.assertEqual(view.class_grade, 6)
            view.allergies = "milk"
        form = view.record
        self.assertEqual(form.changed_fields, "allergies")

    def test_apply_class_change_offers_a_reissue(self):
        """Test that applying a change of class updates the cardholder with the
        change in the chatter, and opens the reissue wizard because the class
        is printed on the card; the wizard replaces the card for that reason."""
        form = self._change_form(class_grade=6, class_letter="B")
        self._submitted(form)
        action = form.with_user(self.user_clerk).action_process()
        self.assertEqual(self.pupil_a1.class_id, self.class_a2)
        self.assertEqual(form.state, "processed")
        self.assertEqual(form.cardholder_id, self.pupil_a1)
        self.assertTrue(form.reissue_suggested)
        self.assertTrue(form.reissue_pending)
        self.assertIn("6B", form.change_summary)
        self.assertIn(form.name, self.pupil_a1.message_ids[0].body)
        self.assertEqual(action["res_model"], "multipas.card.reissue.wizard")
        self.assertEqual(action["context"]["default_reason"], "data_changed")
        wizard = (
            self.env["multipas.card.reissue.wizard"]
            .with_user(self.user_coordinator)
            .with_context(**action["context"])
            .create({"new_card_id": self.reserve_a.id})
        )
        self.assertTrue(wizard.waive_fee)
        balance = self.account_a1.balance
        wizard.action_reissue()
        self.assertEqual(self.card_a1.state, "blocked")
        self.assertEqual(self.card_a1.block_reason, "data_changed")
        self.assertEqual(self.pupil_a1.card_id, self.reserve_a)
        self.assertEqual(self.account_a1.balance, balance)
        form.invalidate_recordset(["reissue_pending"])
        self.assertFalse(form.reissue_pending)

    def test_apply_without_printed_change_needs_no_reissue(self):
        """Test that a change of allergies alone is applied without offering a reissue."""
        form = self._change_form(allergies="milk")
        self._submitted(form)
        self.assertFalse(form.with_user(self.user_clerk).action_process())
        self.assertEqual(self.pupil_a1.allergies, "milk")
        self.assertFalse(form.reissue_suggested)

    def test_change_of_nothing_is_refused(self):
        """Test that a change form equal to the cardholder's data is refused and changes nothing."""
        form = self._change_form()
        self._submitted(form)
        with self.assertRaisesRegex(UserError, "changes nothing"):
            form.with_user(self.user_clerk).action_process()
        self.assertEqual(form.state, "submitted")

    def test_change_form_adds_a_guardian_with_consent(self):
        """Test that a change form of a child whose guardians never consented
        needs a guardian with consent, and brings that consent along."""
        self.user_guardian_a.partner_id.multipas_consent_date = False
        self.assertIn("guardian", self._change_form(allergies="milk").missing_info)
        form = self._change_form(guardian_ids=[self._guardian_line()])
        self.assertTrue(form.is_complete, form.missing_info)
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        self.assertEqual(len(self.pupil_a1.guardian_ids), 2)
        self.assertTrue(self.pupil_a1._multipas_has_consent())

    def test_change_form_of_someone_who_left_is_incomplete(self):
        """Test that a change form can't be applied to a cardholder who has left."""
        form = self._change_form(allergies="milk")
        self.pupil_a1.state = "left"
        self.assertIn("has left", form.missing_info)

    def test_new_form_names_no_cardholder(self):
        """Test that only a change form targets a cardholder."""
        with self.assertRaises(ValidationError):
            self._new_form(target_cardholder_id=self.pupil_a1.id)


@tagged("post_install", "-at_install", "multipas_registration")
class TestRegistrationPortalIntake(RegistrationCommon):
    """The checks of the portal form, called as the portal user."""

    def _post(self, **values):
        post = {
            "school_id": str(self.school_a.id),
            "last_name": "Mpportalova",
            "first_name": "Zoya",
            "patronymic": "",
            "birth_date": "2016-02-29",
            "class_grade": "4",
            "class_letter": "б",
            "benefit_category_id": "",
            "allergies": "",
            "diet": "",
            "g_last_name": "Mpportalova",
            "g_first_name": "Irina",
            "g_patronymic": "",
            "g_relation": "mother",
            "g_phone": "+7 912 111-22-33",
            "g_email": "irina.portal@example.com",
            "accept_contract": "on",
            "accept_consent": "on",
        }
        post.update(values)
        return post

    def _submit(self, user=None, photo=None, **values):
        user = user or self.user_portal
        return self.Form.with_user(user)._portal_submit(
            user.partner_id, self._post(**values), photo
        )

    def test_valid_form_is_filed_for_the_school(self):
        """Test that a valid portal form becomes a draft of the school with the
        parent's consent and contract of today, linked to the parent."""
        form, errors = self._submit()
        self.assertEqual(errors, {})
        form = form.sudo()
        self.assertEqual((form.state, form.source), ("draft", "portal"))
        self.assertEqual(form.submitter_partner_id, self.user_portal.partner_id)
        self.assertEqual(form.class_label, "4Б")
        line = form.guardian_ids
        self.assertEqual(line.partner_id, self.user_portal.partner_id)
        self.assertTrue(line.consent_date and line.contract_date)
        self.assertEqual(line.consent_taken_by_id, self.user_portal)
        self.assertTrue(form.is_complete, form.missing_info)
        self.assertIn(
            form, self.Form.with_user(self.user_coordinator).search([("source", "=", "portal")])
        )

    def test_errors_are_reported_per_input_and_nothing_is_filed(self):
        """Test that every wrong input gets its own sentence and no form is filed."""
        count = self.Form.sudo().search_count([])
        _form, errors = self._submit(
            school_id="999999",
            last_name="",
            first_name="R2-D2",
            birth_date="2999-01-01",
            class_grade="15",
            class_letter="5",
            g_relation="uncle",
            g_phone="12",
            g_email="nope",
            accept_contract="",
            accept_consent="",
            benefit_category_id="999999",
        )
        self.assertEqual(
            set(errors),
            {
                "school_id",
                "last_name",
                "first_name",
                "birth_date",
                "class_grade",
                "class_letter",
                "g_relation",
                "g_phone",
                "g_email",
                "accept_contract",
                "accept_consent",
                "benefit_category_id",
            },
        )
        self.assertEqual(self.Form.sudo().search_count([]), count)

    def test_no_consent_no_form(self):
        """Test that the consent box must be ticked."""
        form, errors = self._submit(accept_consent="")
        self.assertFalse(form)
        self.assertIn("consent", errors["accept_consent"])

    def test_bad_photo_is_refused(self):
        """Test that a photo that isn't a JPEG or PNG image is refused."""

        upload = FileStorage(
            io.BytesIO(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), filename="evil.svg"
        )
        form, errors = self._submit(photo=upload)
        self.assertFalse(form)
        self.assertIn("photo", errors)

    def test_open_forms_are_limited(self):
        """Test that a parent can't flood the school with forms."""
        for index in range(10):
            form, errors = self._submit(first_name=f"Zoya{chr(ord('a') + index)}")
            self.assertTrue(form, errors)
        form, errors = self._submit(first_name="Zoyak")
        self.assertFalse(form)
        self.assertIn("form", errors)

    def test_prefill_from_the_parent(self):
        """Test that the guardian's own data are prefilled from their contact."""
        self.user_portal.partner_id.write(
            {"name": "Mpportalova Irina Olegovna", "phone": "+7 912 000-00-01"}
        )
        values = self.Form._portal_defaults(self.user_portal.partner_id)
        self.assertEqual(
            (values["g_last_name"], values["g_first_name"], values["g_patronymic"]),
            ("Mpportalova", "Irina", "Olegovna"),
        )
        self.assertEqual(values["g_phone"], "+7 912 000-00-01")
        self.assertEqual(
            self.Form._portal_defaults(self.user_guardian_a.partner_id)["school_id"],
            str(self.school_a.id),
        )

    def test_processing_a_portal_form_links_the_parent(self):
        """Test that processing a portal form makes the parent the child's
        guardian, so the child appears in their cabinet."""
        form, _errors = self._submit(class_grade="5", class_letter="a")
        form = form.sudo().with_env(self.env)
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        self.assertIn(self.user_portal.partner_id, form.cardholder_id.guardian_ids)
        self.assertEqual(self.user_portal.partner_id.multipas_consent_date, form.form_date)
        holder = form.cardholder_id.with_user(self.user_portal)
        self.assertEqual(holder.name, "Mpportalova Zoya")

    def test_state_as_the_parent_reads_it(self):
        """Test that the portal names each state in the parent's words."""
        form, _errors = self._submit()
        self.assertEqual(self.Form._portal_state_label(form), "At the school")


@tagged("post_install", "-at_install", "multipas_registration")
class TestRegistrationPortalChange(RegistrationCommon):
    """A guardian reports changed data of their child on the portal (§4.1.2)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user_guardian_a.partner_id.write(
            {"multipas_consent_date": cls.form_day, "multipas_contract_date": cls.form_day}
        )

    def _submit_change(self, user=None, holder=None, **values):
        user = user or self.user_guardian_a
        holder = holder or self.pupil_a1
        Form = self.Form.with_user(user)
        post = Form._portal_change_defaults(holder)
        post.update(values)
        return Form._portal_submit_change(holder.with_user(user), post)

    def test_defaults_are_the_data_on_file(self):
        """Test that the change form starts from the child's current data."""
        self.pupil_a1.allergies = "nuts"
        values = self.Form.with_user(self.user_guardian_a)._portal_change_defaults(self.pupil_a1)
        self.assertEqual(values["last_name"], self.pupil_a1.last_name)
        self.assertEqual(values["birth_date"], "2015-04-02")
        self.assertEqual(values["allergies"], "nuts")
        self.assertEqual(values["change_note"], "")

    def test_change_is_filed_for_the_school_with_what_changed(self):
        """Test that a guardian's corrections become a draft change form of the
        child's school, marking exactly the changed fields, with the note in
        the chatter (as text) and visible to the coordinator, not to another school."""
        form, errors = self._submit_change(
            last_name="Mpnewname", allergies="milk", change_note="Name changed <b>in court</b>"
        )
        self.assertEqual(errors, {})
        form = form.sudo()
        self.assertEqual((form.state, form.source, form.form_type), ("draft", "portal", "change"))
        self.assertEqual(form.target_cardholder_id, self.pupil_a1)
        self.assertEqual(form.school_id, self.school_a)
        self.assertEqual(form.submitter_partner_id, self.user_guardian_a.partner_id)
        self.assertEqual(form.changed_fields, "last_name,allergies")
        self.assertTrue(form.is_complete, form.missing_info)
        body = form.message_ids[0].body
        self.assertIn("Name changed &lt;b&gt;in court&lt;/b&gt;", body)
        coordinator_forms = self.Form.with_user(self.user_coordinator).search([])
        self.assertIn(form, coordinator_forms)
        self.assertEqual(self.Form._portal_state_label(form), "At the school")

    def test_applied_change_updates_the_child(self):
        """Test that the operator applies the portal change like a paper one:
        the child's name changes and a new card is suggested (the name is printed)."""
        form, _errors = self._submit_change(last_name="Mpnewname")
        form = form.sudo().with_env(self.env)
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        self.assertEqual(self.pupil_a1.last_name, "Mpnewname")
        self.assertTrue(form.reissue_suggested)
        self.assertEqual(self.Form._portal_state_label(form), "Changes applied")

    def test_nothing_changed_is_refused(self):
        """Test that sending the data on file back files nothing."""
        form, errors = self._submit_change(change_note="all good")
        self.assertFalse(form)
        self.assertIn("on file already", errors["form"])
        self.assertFalse(self.Form.sudo().search([("target_cardholder_id", "=", self.pupil_a1.id)]))

    def test_bad_input_is_refused(self):
        """Test that an empty name, an impossible birth date, an unknown benefit
        or an overlong note are named field by field and file nothing."""
        form, errors = self._submit_change(
            first_name="", birth_date="2999-01-01", benefit_category_id="999999",
            change_note="x" * 1001,
        )  # fmt: skip
        self.assertFalse(form)
        self.assertEqual(
            set(errors), {"first_name", "birth_date", "benefit_category_id", "change_note"}
        )
        self.assertFalse(self.Form.sudo().search([("target_cardholder_id", "=", self.pupil_a1.id)]))

    def test_one_change_at_a_time(self):
        """Test that a second change form waits until the first one is processed."""
        first, _errors = self._submit_change(allergies="milk")
        form, errors = self._submit_change(diet="no pork")
        self.assertFalse(form)
        self.assertIn(first.sudo().name, errors["form"])
        self._submitted(first.sudo().with_env(self.env))
        form, errors = self._submit_change(diet="no pork")
        self.assertFalse(form)
        first.sudo().with_env(self.env).with_user(self.user_clerk).action_process()
        form, errors = self._submit_change(diet="no pork")
        self.assertEqual(errors, {})
        self.assertEqual(form.sudo().changed_fields, "diet")

    def test_a_change_racing_another_is_refused(self):
        """Test that a second change sent while the first one's request hadn't
        committed yet (so the check can't see it: a double tap) is refused by
        the database, answered with the same sentence, and files nothing."""
        self._submit_change(allergies="milk")
        Form = type(self.Form)
        with (
            patch.object(Form, "_portal_pending_change", lambda self, holder: self.browse()),
            mute_logger("odoo.sql_db"),
        ):
            form, errors = self._submit_change(diet="no pork")
        self.assertFalse(form)
        self.assertIn("already on its way", errors["form"])
        changes = self.Form.sudo().search([("target_cardholder_id", "=", self.pupil_a1.id)])
        self.assertEqual(changes.mapped("allergies"), ["milk"])

    def test_only_an_acting_guardian_files_a_change(self):
        """Test that another family's parent, a parent with view-only access and
        a guardian of a child who left can't file a change, and nothing is filed."""
        with self.assertRaises(AccessError):
            self._submit_change(user=self.user_guardian_b, allergies="milk")
        self.user_guardian_a.partner_id.multipas_view_only = True
        with self.assertRaises(AccessError):
            self._submit_change(allergies="milk")
        self.user_guardian_a.partner_id.multipas_view_only = False
        self.pupil_a1.state = "left"
        with self.assertRaises(AccessError):
            self._submit_change(allergies="milk")
        self.assertFalse(self.Form.sudo().search([("target_cardholder_id", "=", self.pupil_a1.id)]))


@tagged("post_install", "-at_install", "multipas_registration")
class TestRegistrationErasure(RegistrationCommon):
    def test_erase_personal_data_of_the_forms(self):
        """Test that erasing a leaver's forms leaves no name, birth date,
        contact, guardian or history that could identify them."""
        form = self._new_form(allergies="peanuts")
        self._submitted(form)
        form.with_user(self.user_clerk).action_process()
        holder = form.cardholder_id
        erased = holder._multipas_erase_registration_forms()
        self.assertEqual(erased, form)
        self.assertEqual(form.last_name, "Erased")
        self.assertFalse(form.birth_date or form.allergies or form.guardian_ids or form.patronymic)
        self.assertEqual(form.state, "processed")
        bodies = " ".join(form.message_ids.mapped("body"))
        self.assertNotIn("Mpformov", bodies)
        self.assertNotIn("Mpformova", bodies)
