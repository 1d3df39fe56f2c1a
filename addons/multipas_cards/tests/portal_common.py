import io
import json
import re

from PIL import Image

from odoo import Command

from .common import MultipasCommon

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_image(fmt="JPEG", size=(1200, 900), color=(200, 120, 90), exif=None):
    """Bytes of a real image, optionally with EXIF metadata."""
    image = Image.new("RGB", size, color)
    output = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(output, format=fmt, **kwargs)
    return output.getvalue()


class MultipasPortalCommon(MultipasCommon):
    """The common world plus what the cabinet needs: a second guardian of
    pupil A1 who may act, a view-only one, a guardian whose child left, and
    the demo payment provider.

    - ``user_guardian_a``: guardian of pupil A1 (and nothing else)
    - ``user_guardian_co``: second guardian of pupil A1, may act
    - ``user_guardian_view``: third guardian of pupil A1, view only
    - ``user_guardian_b``: guardian of pupil B (another family)
    - ``user_guardian_left``: guardian of a pupil who left school A
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user_guardian_co = cls._new_user("mp_guardian_co", "base.group_portal")
        cls.user_guardian_view = cls._new_user("mp_guardian_view", "base.group_portal")
        cls.user_guardian_view.partner_id.multipas_view_only = True
        cls.pupil_a1.guardian_ids = [
            Command.link(cls.user_guardian_co.partner_id.id),
            Command.link(cls.user_guardian_view.partner_id.id),
        ]
        cls.user_guardian_left = cls._new_user("mp_guardian_left", "base.group_portal")
        cls.pupil_left = cls.env["multipas.cardholder"].create(
            {
                "last_name": "Mptestleft",
                "first_name": "Gleb",
                "school_id": cls.school_a.id,
                "class_id": cls.class_a2.id,
                "guardian_ids": [Command.set(cls.user_guardian_left.partner_id.ids)],
            }
        )
        cls.card_left = cls.env["multipas.card"].create(
            {
                "number": "MPTST-0009",
                "uid": "A1B2C3D409",
                "school_id": cls.school_a.id,
                "holder_id": cls.pupil_left.id,
                "state": "stock",
            }
        )
        cls.card_left.action_issue()
        cls.account_left = cls.pupil_left.account_id
        cls.account_left.post(250.0, "topup", "mptest-topup-left")
        cls.card_left.action_block("left")
        cls.pupil_left.state = "left"

        cls.provider = cls.env.ref("payment.payment_provider_demo", raise_if_not_found=False)
        if not cls.provider or cls.provider.code != "demo":
            raise AssertionError(
                "payment_demo must be installed for the cabinet tests "
                "(tools/run_tests.py installs it, see EXTRA_MODULES)"
            )
        cls.provider.write({"state": "test", "is_published": True, "company_id": cls.company.id})
        cls.payment_method = cls.env.ref("payment_demo.payment_method_demo")
        # The assertions read English, whatever languages the database has.
        cls.env["res.lang"]._activate_lang("en_US")
        (
            cls.user_guardian_a
            | cls.user_guardian_b
            | cls.user_guardian_co
            | cls.user_guardian_view
            | cls.user_guardian_left
            | cls.user_coordinator
        ).write({"lang": "en_US"})

    # === HELPERS === #

    def _csrf(self, url):
        """The CSRF token of the form on ``url`` (as the logged-in user)."""
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200, url)
        match = CSRF_RE.search(response.text)
        self.assertTrue(match, f"no CSRF token on {url}")
        return match.group(1)

    def _post(self, url, data, files=None, form_url=None):
        data = dict(data, csrf_token=self._csrf(form_url or url))
        # Large uploads need more than url_open's 12 s on a busy machine.
        return self.opener.post(
            self.base_url() + url, data=data, files=files, timeout=120, allow_redirects=False
        )

    def _json(self, url, params):
        response = self.url_open(
            url,
            data=json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}),
            headers={"Content-Type": "application/json"},
        )
        return response.json()

    @classmethod
    def _tx(cls, account, partner, amount=500.0, state="draft"):
        tx = cls.env["payment.transaction"].create(
            {
                "provider_id": cls.provider.id,
                "payment_method_id": cls.payment_method.id,
                "reference": cls.env["payment.transaction"]._compute_reference(
                    "demo", prefix=f"MPTEST{account.number}"
                ),
                "amount": amount,
                "currency_id": account.currency_id.id,
                "partner_id": partner.id,
                "operation": "online_direct",
                "multipas_account_id": account.id,
            }
        )
        if state == "done":
            tx._set_done()
        return tx
