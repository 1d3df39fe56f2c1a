import json

from odoo.tests import HttpCase, tagged

from .portal_common import MultipasPortalCommon, make_image
from .test_ui import FORMS_JS

# The same form walk, telling the cause of an OWL error too.
FORMS_JS_WITH_CAUSE = FORMS_JS.replace(
    "${error && error.stack || error}",
    "${error && error.stack || error} ${error && error.cause ? error.cause.stack || error.cause : ''}",
)


@tagged("post_install", "-at_install", "multipas_ui", "multipas_portal")
class TestPortalBackendViews(MultipasPortalCommon, HttpCase):
    """The backend side of the cabinet opens in a real browser: the photo
    to approve on the cardholder, a guardian's reissue request with its
    button to the reissue wizard, the guardian's choices on the contact and
    the top-up on the payment transaction. (The "Photos to approve" menu is
    walked by the click-everywhere tests of test_ui.)"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pupil_a1.with_user(cls.user_guardian_a)._multipas_portal_submit_photo(make_image())
        cls.request, __ = (
            cls.env["multipas.card.reissue"]
            .with_user(cls.user_guardian_a)
            ._multipas_portal_request(cls.pupil_a1.with_user(cls.user_guardian_a), "lost")
        )
        cls.user_guardian_a.partner_id.with_user(cls.user_guardian_a)._multipas_withdraw_consent()
        cls.tx = cls._tx(cls.account_a1, cls.user_guardian_a.partner_id, state="done")
        cls.tx._post_process()

    def _open_forms(self, user, steps):
        steps = [
            {
                "model": record._name,
                "id": record.id,
                "stat": [],
                "wizards": list(wizards),
                "view": False,
            }
            for record, wizards in steps
        ]
        self.browser_js(
            "/odoo",
            FORMS_JS_WITH_CAUSE % {"steps": json.dumps(steps)},
            "odoo.isReady === true",
            login=user.login,
            timeout=180,
        )

    def test_forms_coordinator(self):
        """Test that a coordinator opens the photo to approve and the
        guardian's request, and reaches the reissue wizard from it."""
        self._open_forms(
            self.user_coordinator,
            [
                (self.pupil_a1, []),
                (self.request.sudo(), ["action_open_reissue_wizard"]),
            ],
        )

    def test_forms_administrator(self):
        """Test that the contact form shows the guardian's choices and the
        payment transaction its top-up, for the administrator."""
        admin = self.env.ref("base.user_admin")
        if "tour_enabled" in admin._fields:
            admin.tour_enabled = False
        self._open_forms(
            admin,
            [
                (self.user_guardian_a.partner_id, []),
                (self.tx, []),
                (self.request.sudo(), []),
            ],
        )
