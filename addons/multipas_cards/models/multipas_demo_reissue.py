"""Demo reissues (§4.1.1, §8.5): at each demo school one pupil lost a card
this morning and got a reserve card, with the fee from the tariff."""

import logging
from datetime import timedelta

from odoo import api, fields, models

_logger = logging.getLogger(__name__)


class MultipasDemo(models.AbstractModel):
    _inherit = "multipas.demo"

    @api.model
    def _generate_demo(self, **kw):
        result = super()._generate_demo(**kw)
        self._generate_demo_reissue()
        return result

    @api.model
    def _generate_demo_reissue(self):
        for xmlid in ("multipas_cards.school_sch108", "multipas_cards.school_gym2"):
            school = self.env.ref(xmlid, raise_if_not_found=False)
            if not school or self.env["multipas.card.reissue"].search_count(
                [("school_id", "=", school.id)], limit=1
            ):
                continue
            reserve = self.env["multipas.card"].search(
                [
                    ("school_id", "=", school.id),
                    ("state", "=", "stock"),
                    ("holder_id", "=", False),
                ],
                order="id",
                limit=1,
            )
            # A pupil whose guardians have no login: the demo parents' children
            # keep the cards the README's walkthrough expects.
            account = self.env["multipas.account"].search(
                [
                    ("school_id", "=", school.id),
                    ("state", "=", "open"),
                    ("balance", ">=", 500),
                    ("holder_id.kind", "=", "pupil"),
                    ("holder_id.state", "=", "enrolled"),
                    ("holder_id.card_ids.state", "=", "issued"),
                    ("holder_id.guardian_ids.user_ids", "=", False),
                ],
                order="id",
                limit=1,
            )
            if not reserve or not account:
                _logger.info(
                    "Multipas demo: no reserve card or pupil for a reissue at %s", school.code
                )
                continue
            wizard = (
                self.env["multipas.card.reissue.wizard"]
                .with_context(default_holder_id=account.holder_id.id)
                .create(
                    {
                        "reason": "lost",
                        "new_card_id": reserve.id,
                        "requested_at": fields.Datetime.now() - timedelta(hours=5),
                    }
                )
            )
            wizard.action_reissue()
