"""Demo data of the parents' cabinet: the demo parents' cabinets look lived in.

The demo logins ``parent`` and ``parent2`` get their notification choices, a
daily limit on one child, a paid online top-up through the demo payment
provider (when payment_demo is installed) and a photo waiting for the
coordinator's approval.
"""

import base64
import io
import logging

from PIL import Image, ImageDraw

from odoo import api, fields, models

_logger = logging.getLogger(__name__)


def _demo_portrait(background, clothes):
    """A drawn 600×800 head-and-shoulders silhouette, standing in for a photo."""
    image = Image.new("RGB", (600, 800), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((190, 150, 410, 400), fill=(236, 200, 170))  # face
    draw.pieslice((170, 110, 430, 380), 180, 360, fill=(90, 60, 40))  # hair
    draw.ellipse((60, 470, 540, 1000), fill=clothes)  # shoulders
    draw.rectangle((260, 380, 340, 500), fill=(236, 200, 170))  # neck
    output = io.BytesIO()
    image.save(output, format="JPEG", quality=85)
    return base64.b64encode(output.getvalue())


class MultipasDemo(models.AbstractModel):
    _inherit = "multipas.demo"

    @api.model
    def _generate_demo(self, **kw):
        result = super()._generate_demo(**kw)
        self._generate_demo_portal()
        return result

    @api.model
    def _generate_demo_portal(self):
        parent = self.env.ref("multipas_cards.partner_parent", raise_if_not_found=False)
        parent2 = self.env.ref("multipas_cards.partner_parent2", raise_if_not_found=False)
        if not parent or not parent2 or parent.multipas_notify_configured:
            return  # not the demo database, or already done
        self._demo_payment_provider()
        email, portal = (
            self.env.ref("multipas_cards.notification_channel_email"),
            self.env.ref("multipas_cards.notification_channel_portal"),
        )
        parent.write(
            {
                "multipas_notify_channel_ids": [fields.Command.set((email | portal).ids)],
                "multipas_notify_configured": True,
                "multipas_quiet_from": 21.5,
                "multipas_quiet_to": 7.0,
            }
        )
        parent2.write(
            {
                "multipas_notify_channel_ids": [fields.Command.set(email.ids)],
                "multipas_notify_configured": True,
            }
        )
        children = parent.multipas_child_ids.sorted("birth_date")
        older = children[:1]  # Артём, 7А
        younger = children[1:2]  # Ксения, 3Б
        if older:
            older.account_id.write({"daily_limit": 300.0, "low_balance_threshold": 200.0})
            self._demo_online_topup(self.env.ref("multipas_cards.user_parent"), older, 1000.0)
        if younger:
            younger.write(
                {
                    "photo_pending": _demo_portrait((214, 228, 240), (200, 60, 80)),
                    "photo_pending_date": fields.Datetime.now(),
                    "photo_pending_by_id": parent.id,
                    "photo_state": "pending",
                }
            )
        for child in parent2.multipas_child_ids[:1]:
            child.write({"image_1920": _demo_portrait((225, 236, 214), (40, 90, 160))})
            child.write({"photo_state": "approved"})

    @api.model
    def _demo_payment_provider(self):
        """The demo provider, in test mode and published, if installed."""
        provider = self.env.ref("payment.payment_provider_demo", raise_if_not_found=False)
        if not provider or provider.code != "demo":
            return self.env["payment.provider"]
        if provider.state != "test" or not provider.is_published:
            provider.write({"state": "test", "is_published": True})
        return provider

    @api.model
    def _demo_online_topup(self, user, child, amount):
        """A top-up paid with the demo provider, credited as in production."""
        provider = self._demo_payment_provider()
        method = self.env.ref("payment_demo.payment_method_demo", raise_if_not_found=False)
        if not provider or not method:
            _logger.info("Multipas demo: payment_demo is not installed, no online top-up.")
            return
        account = child.account_id
        Transaction = self.env["payment.transaction"].with_user(user).sudo()
        tx = Transaction.create(
            {
                "provider_id": provider.id,
                "payment_method_id": method.id,
                "reference": Transaction._compute_reference("demo", prefix=f"MP{account.number}"),
                "amount": amount,
                "currency_id": account.currency_id.id,
                "partner_id": user.partner_id.id,
                "operation": "online_direct",
                "multipas_account_id": account.id,
            }
        )
        tx._set_done()
        tx._post_process()
