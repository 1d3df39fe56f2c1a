import uuid

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

# What the operator's staff may post by hand; purchases come from tills only.
MANUAL_KINDS = [
    ("topup", "Top-up (cash or bank transfer received)"),
    ("refund", "Refund"),
    ("fee", "Fee"),
    ("adjustment", "Adjustment"),
]


class MultipasAccountPostWizard(models.TransientModel):
    """Post one entry by hand: a bank transfer received, a refund, a fee or a
    correction. The key is fixed when the wizard opens, so a double click
    posts once."""

    _name = "multipas.account.post.wizard"
    _description = "Post to a personal account"

    account_id = fields.Many2one("multipas.account", required=True, readonly=True)
    currency_id = fields.Many2one(related="account_id.currency_id")
    balance = fields.Monetary(related="account_id.balance", string="Current balance")
    kind = fields.Selection(MANUAL_KINDS, required=True, default="topup")
    direction = fields.Selection(
        [("credit", "Credit (+)"), ("debit", "Debit (−)")],
        default="credit",
        help="Only for adjustments: whether the amount is added or taken.",
    )
    amount = fields.Monetary(required=True, help="Always positive; the kind decides the sign.")
    reference = fields.Char(
        help="The payment order number, receipt or reason; shown in the ledger."
    )
    key = fields.Char(readonly=True, default=lambda self: f"manual-{uuid.uuid4().hex}")

    @api.onchange("kind")
    def _onchange_kind(self):
        if self.kind in ("topup", "refund"):
            self.direction = "credit"
        elif self.kind == "fee":
            self.direction = "debit"

    def _signed_amount(self):
        if self.amount <= 0:
            raise UserError(self.env._("Enter a positive amount; the kind decides the sign."))
        if self.kind == "fee" or (self.kind == "adjustment" and self.direction == "debit"):
            return -self.amount
        return self.amount

    def action_post(self):
        self.ensure_one()
        if self.kind == "adjustment" and not self.env.user.has_group(
            "multipas_cards.group_operator_manager"
        ):
            raise AccessError(self.env._("Only an operator manager may post adjustments."))
        if not self.reference:
            raise UserError(self.env._("Say what this posting is for in the reference."))
        self.account_id.post(
            self._signed_amount(),
            self.kind,
            self.key,
            note=self.reference,
        )
        return {"type": "ir.actions.act_window_close"}
