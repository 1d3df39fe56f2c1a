from odoo import api, fields, models


class MultipasCardBatchAddWizard(models.TransientModel):
    """Add cardholders (and reserve cards) to a draft card batch: the enrolled
    people of the school who have no card in use or in the making, filtered by
    class and kind. People without a personal-data consent get no card."""

    _name = "multipas.card.batch.add.wizard"
    _description = "Add cardholders to a card batch"

    batch_id = fields.Many2one("multipas.card.batch", required=True, readonly=True)
    school_id = fields.Many2one(related="batch_id.school_id")
    class_ids = fields.Many2many(
        "multipas.class",
        "multipas_card_batch_add_wizard_class_rel",
        "wizard_id",
        "class_id",
        string="Classes",
        domain="[('school_id', '=', school_id)]",
        help="Only pupils of these classes; leave empty for every class.",
    )
    kind = fields.Selection(
        [("pupil", "Pupils"), ("staff", "Staff members")],
        string="Who",
        help="Leave empty for pupils and staff alike.",
    )
    candidate_ids = fields.Many2many(
        "multipas.cardholder",
        compute="_compute_candidate_ids",
        string="Without a card",
    )
    holder_ids = fields.Many2many(
        "multipas.cardholder",
        "multipas_card_batch_add_wizard_holder_rel",
        "wizard_id",
        "holder_id",
        string="Cardholders",
        compute="_compute_holder_ids",
        store=True,
        readonly=False,
        domain="[('id', 'in', candidate_ids)]",
        help="A personal card is made for each of them.",
    )
    no_consent_ids = fields.Many2many(
        "multipas.cardholder",
        compute="_compute_candidate_ids",
        string="No personal-data consent",
        help="These people have no card in use but no consent either: no card is "
        "made for them until a guardian (or the staff member) gives it.",
    )
    reserve_count = fields.Integer(
        string="Reserve cards",
        help="Cards without a holder for the school's reserve stock (regulation §3.6.3).",
    )
    first_number = fields.Char(
        string="Number from",
        help="Optional: the printed number of the first new card, e.g. 108-000501; the "
        "others count up from it. Leave empty to take the numbers from the encoder's file.",
    )

    @api.depends("batch_id", "class_ids", "kind")
    def _compute_candidate_ids(self):
        Holder = self.env["multipas.cardholder"]
        for wizard in self:
            domain = [("school_id", "=", wizard.school_id.id), ("state", "=", "enrolled")]
            if wizard.class_ids:
                domain.append(("class_id", "in", wizard.class_ids.ids))
            if wizard.kind:
                domain.append(("kind", "=", wizard.kind))
            holders = Holder.search(domain) if wizard.school_id else Holder
            holders -= holders._multipas_busy_card_holders()
            wizard.candidate_ids = holders
            wizard.no_consent_ids = holders.filtered(lambda h: not h._multipas_has_consent())

    @api.depends("candidate_ids")
    def _compute_holder_ids(self):
        # Preselect everyone who may get a card; the others are listed apart.
        for wizard in self:
            wizard.holder_ids = wizard.candidate_ids - wizard.no_consent_ids

    def action_add(self):
        self.ensure_one()
        self.batch_id._add_cards(self.holder_ids, self.reserve_count, self.first_number)
        return {"type": "ir.actions.act_window_close"}
