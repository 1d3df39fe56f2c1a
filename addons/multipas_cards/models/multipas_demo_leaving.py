"""Demo leavers: one confirmed (the data erased), one reported by the
coordinator and waiting for the operator."""

import logging

from odoo import api, models

_logger = logging.getLogger(__name__)


class MultipasDemo(models.AbstractModel):
    _inherit = "multipas.demo"

    @api.model
    def _generate_demo(self, **kw):
        result = super()._generate_demo(**kw)
        self._generate_demo_leaving()
        return result

    @api.model
    def _generate_demo_leaving(self):
        school = self.env.ref("multipas_cards.school_sch108", raise_if_not_found=False)
        if not school or self.env["multipas.leaving"].search_count(
            [("school_id", "=", school.id)], limit=1
        ):
            return
        coordinator = self.env.ref("multipas_cards.user_coordinator")
        operator = self.env.ref("multipas_cards.user_operator")
        # Pupils whose guardians have no login: the demo parents keep theirs.
        candidates = (
            self.env["multipas.cardholder"]
            .search(
                [
                    ("school_id", "=", school.id),
                    ("kind", "=", "pupil"),
                    ("state", "=", "enrolled"),
                    ("guardian_ids", "!=", False),
                    ("guardian_ids.user_ids", "=", False),
                ],
                order="id",
            )
            .filtered(lambda h: h.card_id and h.balance > 0)
        )
        if len(candidates) < 2:
            _logger.info("Multipas demo: no pupils to make leavers of; skipped.")
            return
        moved, pending = candidates[:2]
        Leaving = self.env["multipas.leaving"].with_user(coordinator)
        done = Leaving.create(
            {
                "holder_id": moved.id,
                "reason": "moved",
                "note": "Переезд в другой город, документы забраны.",
            }
        )
        Leaving.create(
            {
                "holder_id": pending.id,
                "reason": "moved",
                "note": "Переходит в гимназию № 2 с понедельника; карту сдал.",
            }
        )
        guardian = moved.guardian_ids.sorted("id")[:1]
        done.with_user(operator).with_context(lang=operator.lang)._confirm(
            card_outcome="returned",
            balance_action="refund",
            refund_partner=guardian,
            bank_details="ПАО Сбербанк, БИК 045773603, счёт 40817810049001234567, "
            "получатель — законный представитель (см. договор).",
        )
        _logger.info("Multipas demo: leavers %s (confirmed) and one reported", done.name)
