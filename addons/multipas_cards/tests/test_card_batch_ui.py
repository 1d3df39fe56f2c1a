from odoo.tests import HttpCase, tagged

from .test_card_batch import CardBatchCommon
from .test_ui import BrowserFormsMixin


@tagged("post_install", "-at_install", "multipas_ui")
class TestCardBatchUi(BrowserFormsMixin, CardBatchCommon, HttpCase):
    """The batch, class and wizard forms of card batches and issuance opened
    in a real browser, by the operator's clerk and by a coordinator."""

    def _batches(self):
        draft = self._batch()
        draft._add_cards(self.staff_ok, reserve_count=1)
        handed = self._handed_over_batch()
        return draft, handed

    def test_batch_forms_clerk(self):
        """Test that the clerk's batch, class and wizard forms load."""
        draft, handed = self._batches()
        self._open_forms(
            self.user_clerk,
            [
                (
                    draft,
                    {
                        "stat": ["action_open_cards"],
                        "wizards": ["action_open_add_wizard", "action_open_import_wizard"],
                    },
                ),
                (handed, {"wizards": ["action_open_sign_wizard"]}),
                (self.class_a1, {"wizards": ["action_open_issue_wizard"]}),
            ],
        )

    def test_batch_forms_coordinator(self):
        """Test that a coordinator's batch form (read only, school signature) and
        class issue wizard load."""
        __, handed = self._batches()
        self._open_forms(
            self.user_coordinator,
            [
                (handed, {"stat": ["action_open_cards"], "wizards": ["action_open_sign_wizard"]}),
                (self.class_a1, {"wizards": ["action_open_issue_wizard"]}),
            ],
        )
