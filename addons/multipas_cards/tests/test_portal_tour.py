from odoo.tests import HttpCase, tagged

from .portal_common import MultipasPortalCommon


class PortalTourCommon(MultipasPortalCommon):
    """The tour static/tests/tours/portal_cabinet_tour.js in Chromium: a
    guardian sees the children, tops up 500 with the demo provider and sees
    the balance change, blocks the card, uploads a photo and reports a
    changed diet. The tour also
    fails on sideways scrolling, tap targets under 44 px and unlabelled
    inputs on every page it visits."""

    def _walk_the_cabinet(self):
        balance = self.account_a1.balance
        self.start_tour("/my", "multipas_portal_cabinet", login=self.user_guardian_a.login)
        self.env.invalidate_all()
        self.assertAlmostEqual(self.account_a1.balance, balance + 500.0)
        self.assertEqual(self.card_a1.state, "blocked")
        self.assertEqual(self.pupil_a1.photo_state, "pending")
        change = self.env["multipas.registration.form"].search(
            [("target_cardholder_id", "=", self.pupil_a1.id)]
        )
        self.assertEqual((change.form_type, change.changed_fields), ("change", "birth_date,diet"))
        self.assertEqual(change.diet, "no pork")


@tagged("post_install", "-at_install", "multipas_portal", "multipas_portal_tour")
class TestPortalTourPhone(PortalTourCommon, HttpCase):
    browser_size = "375x812"
    touch_enabled = True

    def test_cabinet_on_a_phone(self):
        """Test the whole cabinet walk at phone width (375×812, touch)."""
        self._walk_the_cabinet()


@tagged("post_install", "-at_install", "multipas_portal", "multipas_portal_tour")
class TestPortalTourDesktop(PortalTourCommon, HttpCase):
    browser_size = "1366x768"

    def test_cabinet_on_a_desktop(self):
        """Test the whole cabinet walk at desktop width (1366×768)."""
        self._walk_the_cabinet()
