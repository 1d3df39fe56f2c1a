from odoo import fields, models

from ..models.multipas_card import BLOCK_REASONS


class MultipasCardBlockWizard(models.TransientModel):
    """Block a card with a reason, e.g. reported lost by a guardian (§8.5)."""

    _name = "multipas.card.block.wizard"
    _description = "Block a card"

    card_id = fields.Many2one("multipas.card", required=True, readonly=True)
    reason = fields.Selection(BLOCK_REASONS, required=True, default="lost")
    note = fields.Char()

    def action_block(self):
        self.ensure_one()
        self.card_id.action_block(self.reason, self.note)
        return {"type": "ir.actions.act_window_close"}
