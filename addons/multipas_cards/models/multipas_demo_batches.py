"""Demo card batches (regulation §3.5): the demo cards made so far get the
batches they came in, and each demo school gets a batch waiting for the
school's signature and a draft batch being prepared.

Runs after the bulk demo of ``multipas_demo.py`` and leaves its cards as they
are: it only records which batch each one was produced in.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .multipas_demo import DEMO_CONTEXT, SCHOOL_PLANS

_logger = logging.getLogger(__name__)

OPERATOR_POSITION = "Менеджер по работе со школами"
SCHOOL_POSITION = "Заместитель директора по УВР"
# Cards the operator plans in each school's draft batch besides the people
# waiting for a card.
DRAFT_RESERVE = 3


class MultipasDemo(models.AbstractModel):
    _inherit = "multipas.demo"

    @api.model
    def _generate_demo(self, *args, **kwargs):
        result = super()._generate_demo(*args, **kwargs)
        self.with_context(**DEMO_CONTEXT)._generate_demo_batches()
        return result

    @api.model
    def _generate_demo_batches(self):
        schools = self.env["multipas.school"].browse(
            [self.env.ref(plan["school"]).id for plan in SCHOOL_PLANS]
        )
        Batch = self.env["multipas.card.batch"]
        if not schools or Batch.search_count([("school_id", "in", schools.ids)], limit=1):
            return
        if not self.env["multipas.card"].search_count([("school_id", "in", schools.ids)], limit=1):
            return  # the bulk demo did not run: nothing to put in batches
        clerk = self.env.ref("multipas_cards.user_clerk")
        today = fields.Date.context_today(self)
        self._demo_staff_consent(schools, today)
        for plan in SCHOOL_PLANS:
            school = self.env.ref(plan["school"])
            batch_env = Batch.with_user(clerk)
            common = {
                "school_id": school.id,
                "operator_signatory_name": clerk.name,
                "operator_signatory_position": OPERATOR_POSITION,
                "school_signatory_position": SCHOOL_POSITION,
            }
            self._demo_signed_batch(batch_env, school, common, today)
            self._demo_handed_over_batch(batch_env, school, common)
            self._demo_draft_batch(batch_env, school, plan, common)
        _logger.info("Multipas demo: %s card batches", Batch.search_count([]))

    @api.model
    def _demo_staff_consent(self, schools, today):
        """Staff members gave their own consent when they joined; without it
        no card would have been made for them."""
        staff = self.env["multipas.cardholder"].search(
            [("school_id", "in", schools.ids), ("kind", "=", "staff")]
        )
        staff.partner_id.filtered(lambda p: not p.multipas_consent_date).write(
            {"multipas_consent_date": today - timedelta(days=400)}
        )

    @api.model
    def _demo_signed_batch(self, batch_env, school, common, today):
        """Every card that reached the school so far came in one signed batch."""
        Card = self.env["multipas.card"]
        delivered = Card.search(
            [
                ("school_id", "=", school.id),
                ("batch_id", "=", False),
                "|",
                ("state", "in", ("stock", "issued", "blocked")),
                "&",
                ("state", "=", "retired"),
                ("issued_date", "!=", False),
            ]
        )
        if not delivered:
            return
        act_date = today - timedelta(days=45)
        batch = batch_env.create(dict(common))
        # The cards have long left the batch's "new" state, which the ORM
        # guards: record the link directly.
        self.env.cr.execute(
            SQL(
                "UPDATE multipas_card SET batch_id = %s WHERE id IN %s",
                batch.id,
                tuple(delivered.ids),
            )
        )
        Card.invalidate_model(["batch_id"])
        batch.sudo().write(
            {
                "state": "signed",
                "encoded_date": act_date - timedelta(days=3),
                "act_date": act_date,
                "operator_signed_date": act_date,
                "operator_signed_uid": batch_env.env.uid,
                "school_signed_date": act_date + timedelta(days=1),
                "school_signed_uid": school.coordinator_ids[:1].id or batch_env.env.uid,
            }
        )

    @api.model
    def _demo_handed_over_batch(self, batch_env, school, common):
        """The cards made but not yet delivered: handed over, waiting for signatures."""
        waiting = self.env["multipas.card"].search(
            [("school_id", "=", school.id), ("state", "=", "new"), ("batch_id", "=", False)]
        )
        if not waiting:
            return
        batch = batch_env.create(dict(common))
        waiting.with_user(batch_env.env.user).write({"batch_id": batch.id})
        batch.action_mark_encoded()
        batch.action_hand_over()
        batch.action_sign("operator")

    @api.model
    def _demo_draft_batch(self, batch_env, school, plan, common):
        """Being prepared: the people waiting for a card, plus reserve cards,
        numbered but not encoded yet."""
        holders = self.env["multipas.cardholder"].search(
            [("school_id", "=", school.id), ("state", "=", "enrolled")]
        )
        holders -= holders._multipas_busy_card_holders()
        holders = holders.filtered(lambda h: h._multipas_has_consent())
        batch = batch_env.create(dict(common))
        batch._add_cards(
            holders.with_env(batch_env.env),
            reserve_count=DRAFT_RESERVE,
            first_number=f"{plan['card_prefix']}-900001",
        )
