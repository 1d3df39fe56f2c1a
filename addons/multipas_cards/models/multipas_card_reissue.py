from odoo import api, fields, models


class MultipasCardReissue(models.Model):
    """One replacement of a lost or damaged card (regulation §4.1.1, §8.5).

    Keeps when it was requested and when the reserve card was issued, so the
    "new card within one day" promise can be measured.
    """

    _name = "multipas.card.reissue"
    _description = "Card reissue"
    _inherit = ["mail.thread"]
    _order = "requested_at desc, id desc"
    _rec_name = "holder_id"

    holder_id = fields.Many2one(
        "multipas.cardholder", required=True, readonly=True, ondelete="restrict", index=True
    )
    school_id = fields.Many2one(
        "multipas.school", required=True, readonly=True, ondelete="restrict", index=True
    )
    company_id = fields.Many2one(related="school_id.company_id", store=True)
    old_card_id = fields.Many2one("multipas.card", readonly=True, ondelete="restrict")
    new_card_id = fields.Many2one(
        "multipas.card", required=True, readonly=True, ondelete="restrict"
    )
    reason = fields.Selection(
        [("lost", "Lost"), ("damaged", "Damaged"), ("stolen", "Stolen")],
        required=True,
        readonly=True,
    )
    requested_at = fields.Datetime(
        required=True, readonly=True, help="When the loss or damage was reported."
    )
    issued_at = fields.Datetime(required=True, readonly=True)
    hours_to_issue = fields.Float(
        compute="_compute_hours_to_issue",
        store=True,
        aggregator="avg",
        help="Hours from the request to the new card in the holder's hands.",
    )
    within_a_day = fields.Boolean(compute="_compute_hours_to_issue", store=True)
    fee = fields.Monetary(readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id")
    fee_waived = fields.Boolean(readonly=True)
    waive_reason = fields.Char(readonly=True)
    entry_id = fields.Many2one(
        "multipas.account.entry", string="Fee entry", readonly=True, ondelete="restrict"
    )
    user_id = fields.Many2one(
        "res.users", string="Issued by", readonly=True, default=lambda self: self.env.user
    )

    def _action_open(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
        }

    @api.depends("requested_at", "issued_at")
    def _compute_hours_to_issue(self):
        for record in self:
            if record.requested_at and record.issued_at:
                delta = record.issued_at - record.requested_at
                record.hours_to_issue = max(delta.total_seconds(), 0) / 3600
            else:
                record.hours_to_issue = 0.0
            record.within_a_day = record.hours_to_issue <= 24
