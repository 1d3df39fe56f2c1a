"""A change of the holder's data (regulation §4.1.2) is a reason of its own
to replace a card: kept apart from losses and damage (§4.1.1), which are paid
and measured against the one-day promise of §8.5."""

from odoo import fields, models

DATA_CHANGED = [("data_changed", "Holder's data changed")]


class MultipasCard(models.Model):
    _inherit = "multipas.card"

    block_reason = fields.Selection(
        selection_add=DATA_CHANGED, ondelete={"data_changed": "set null"}
    )


class MultipasCardReissue(models.Model):
    _inherit = "multipas.card.reissue"

    reason = fields.Selection(selection_add=DATA_CHANGED, ondelete={"data_changed": "cascade"})
