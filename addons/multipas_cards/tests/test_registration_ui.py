from odoo.tests import HttpCase, tagged

from .registration_common import RegistrationCommon
from .test_ui import BrowserFormsMixin


@tagged("post_install", "-at_install", "multipas_ui", "multipas_registration")
class TestRegistrationUi(BrowserFormsMixin, RegistrationCommon, HttpCase):
    """The registration views in a real browser (the click-everywhere bot of
    test_ui walks their menus; these are the forms and wizards it can't reach)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user_guardian_a.partner_id.multipas_consent_date = cls.form_day
        cls.draft = cls.Form.with_user(cls.user_coordinator).create(
            {
                "school_id": cls.school_a.id,
                "form_date": cls.form_day,
                "last_name": "Mpuiov",
                "first_name": "Dan",
                "class_grade": 5,
                "class_letter": "A",
                "guardian_ids": [cls._guardian_line(consent_date=False)],
            }
        )
        change = cls.Form.with_user(cls.user_coordinator).create(
            {
                "school_id": cls.school_a.id,
                "form_type": "change",
                "target_cardholder_id": cls.pupil_a1.id,
                "form_date": cls.form_day,
                "last_name": "Mptestova-Novak",
                "first_name": "Alisa",
                "birth_date": cls.pupil_a1.birth_date,
                "class_grade": 5,
                "class_letter": "A",
                "allergies": "peanuts",
            }
        )
        cls.submitted = cls.Form.with_user(cls.user_coordinator).create(
            {
                "school_id": cls.school_a.id,
                "form_date": cls.form_day,
                "last_name": "Mpuiova",
                "first_name": "Eva",
                "class_grade": 6,
                "class_letter": "B",
                "guardian_ids": [cls._guardian_line()],
            }
        )
        cls.change = change
        cls.package = cls.Package.with_user(cls.user_coordinator).create(
            {"school_id": cls.school_a.id, "declared_count": 3, "mismatch_note": "One missing."}
        )
        cls.package.action_set_forms((change | cls.submitted).with_user(cls.user_coordinator))
        cls.package.action_hand_over()
        cls.package.with_user(cls.user_clerk).action_receive()
        change.with_user(cls.user_clerk).action_process()
        cls.draft_package = cls.Package.with_user(cls.user_coordinator).create(
            {"school_id": cls.school_a.id, "declared_count": 1}
        )
        cls.draft_package.action_set_forms(cls.draft.with_user(cls.user_coordinator))
        cls.import_wizard = (
            cls.env["multipas.registration.import.wizard"]
            .with_user(cls.user_coordinator)
            .create({"school_id": cls.school_a.id})
        )

    def test_forms_operator(self):
        """Test that the form, package and change form views, the return and
        reissue wizards and the cardholder's form button load for the operator."""
        self.assertTrue(self.change.reissue_pending)
        self._open_forms(
            self.user_manager,
            [
                (self.submitted, {"wizards": ["action_open_return_wizard"]}),
                (self.change, {"wizards": ["action_open_reissue_wizard"]}),
                (self.package, {"stat": ["action_open_forms"]}),
                (self.pupil_a1, {"stat": ["action_open_registration_forms"]}),
            ],
        )

    def test_forms_coordinator(self):
        """Test that a coordinator opens a draft form (with the return wizard),
        a draft package, the import wizard and the cardholder's forms."""
        self._open_forms(
            self.user_coordinator,
            [
                (self.draft, {"wizards": ["action_open_return_wizard"]}),
                (self.draft_package, {"stat": ["action_open_forms"]}),
                (self.import_wizard, {}),
                (self.pupil_a1, {"stat": ["action_open_registration_forms"]}),
            ],
        )
