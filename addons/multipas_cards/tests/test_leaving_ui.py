from odoo.tests import HttpCase, tagged

from .common import MultipasCommon
from .test_ui import BrowserFormsMixin


@tagged("post_install", "-at_install", "multipas_ui")
class TestLeavingUi(BrowserFormsMixin, MultipasCommon, HttpCase):
    """The leaving forms and wizards the menus don't reach, in a browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Leaving = cls.env["multipas.leaving"]
        cls.leaving_reported = Leaving.with_user(cls.user_coordinator).create(
            {"holder_id": cls.pupil_a2.id, "reason": "moved"}
        )
        cls.leaving_confirmed = Leaving.with_user(cls.user_coordinator).create(
            {"holder_id": cls.pupil_a1.id, "reason": "other"}
        )
        cls.log = cls.leaving_confirmed.with_user(cls.user_manager)._confirm(
            card_outcome="returned",
            balance_action="refund",
            refund_partner=cls.user_guardian_a.partner_id,
            bank_details="Bank: test, BIC 000000000",
        )

    def test_leaving_forms_operator_manager(self):
        """Test that the leaving forms, the confirmation wizard and the
        erasure log load for an operator manager."""
        self._open_forms(
            self.user_manager,
            [
                (
                    self.leaving_reported,
                    {"stat": ["action_open_holder"], "wizards": ["action_open_confirm_wizard"]},
                ),
                (self.leaving_confirmed, {"stat": ["action_open_holder"]}),
                (self.log, {}),
                (self.pupil_a1, {}),
            ],
        )

    def test_leaving_forms_clerk(self):
        """Test that a clerk opens the confirmation wizard."""
        self._open_forms(
            self.user_clerk,
            [(self.leaving_reported, {"wizards": ["action_open_confirm_wizard"]})],
        )

    def test_leaving_forms_coordinator(self):
        """Test that a coordinator opens their school's requests, confirmed or not."""
        self._open_forms(
            self.user_coordinator,
            [
                (self.leaving_reported, {"stat": ["action_open_holder"]}),
                (self.leaving_confirmed, {}),
                (self.pupil_a2, {}),
            ],
        )
