from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.multipas_card import BLOCK_REASONS
from ..models.multipas_leaving import BALANCE_ACTIONS


class MultipasLeavingConfirmWizard(models.TransientModel):
    """The operator's step of a leaving: what happened to the card and to
    the money, then everything at once (regulation §8.6)."""

    _name = "multipas.leaving.confirm.wizard"
    _description = "Confirm a leaving"

    leaving_id = fields.Many2one("multipas.leaving", required=True, readonly=True)
    holder_id = fields.Many2one(related="leaving_id.holder_id")
    card_id = fields.Many2one("multipas.card", compute="_compute_situation")
    currency_id = fields.Many2one(related="leaving_id.currency_id")
    balance = fields.Monetary(
        string="Balance now", readonly=True, help="The balance when the confirmation was opened."
    )
    balance_sign = fields.Selection(
        [("zero", "Zero"), ("positive", "Positive"), ("negative", "Negative")],
        string="Balance sign",
        compute="_compute_situation",
    )
    card_returned = fields.Selection(
        [("returned", "Handed in: retire it"), ("not_returned", "Not handed in: block it")],
        string="The card was",
        default="returned",
    )
    block_reason = fields.Selection(BLOCK_REASONS, default="left")
    balance_action = fields.Selection(
        BALANCE_ACTIONS,
        string="Remaining balance",
        compute="_compute_balance_action",
        store=True,
        readonly=False,
    )
    guardian_ids = fields.Many2many("res.partner", compute="_compute_situation", string="Guardians")
    refund_partner_id = fields.Many2one(
        "res.partner", string="Refund to", domain="[('id', 'in', guardian_ids)]"
    )
    bank_details = fields.Text(
        string="Bank details",
        help="Bank, account number and payee for the accountant who pays the refund.",
    )
    sibling_ids = fields.Many2many(
        "multipas.cardholder", compute="_compute_situation", string="Siblings"
    )
    sibling_id = fields.Many2one(
        "multipas.cardholder", string="Move to", domain="[('id', 'in', sibling_ids)]"
    )
    is_manager = fields.Boolean(compute="_compute_situation", string="Operator manager")

    @api.model
    def default_get(self, fields_list):
        vals = super().default_get(fields_list)
        leaving = self.env["multipas.leaving"].browse(vals.get("leaving_id"))
        if leaving and "balance" in fields_list:
            vals["balance"] = leaving._open_balance()
        return vals

    @api.depends("leaving_id", "balance")
    def _compute_situation(self):
        is_manager = self.env.user.has_group("multipas_cards.group_operator_manager")
        for wizard in self:
            leaving = wizard.leaving_id
            holder = leaving.holder_id.sudo()
            balance = wizard.balance
            currency = leaving.currency_id or self.env.company.currency_id
            wizard.card_id = holder.card_id
            if currency.is_zero(balance):
                wizard.balance_sign = "zero"
            else:
                wizard.balance_sign = "positive" if balance > 0 else "negative"
            wizard.guardian_ids = holder.guardian_ids
            wizard.sibling_ids = leaving._allowed_siblings() if leaving else False
            wizard.is_manager = is_manager

    @api.depends("balance_sign")
    def _compute_balance_action(self):
        for wizard in self:
            wizard.balance_action = {
                "zero": "none",
                "positive": "refund",
                "negative": "writeoff",
            }.get(wizard.balance_sign, "none")

    @api.onchange("guardian_ids")
    def _onchange_guardian_ids(self):
        if len(self.guardian_ids) == 1 and not self.refund_partner_id:
            self.refund_partner_id = self.guardian_ids

    def action_confirm(self):
        self.ensure_one()
        leaving = self.leaving_id
        account = leaving.account_id
        if account:
            if account.currency_id.compare_amounts(leaving._open_balance(), self.balance):
                raise UserError(
                    self.env._(
                        "The balance changed to %(balance)s while you were deciding: "
                        "open the confirmation again.",
                        balance=account._fmt(account.balance),
                    )
                )
        leaving._confirm(
            card_outcome=self.card_returned,
            block_reason=self.block_reason,
            balance_action=self.balance_action,
            refund_partner=self.refund_partner_id,
            bank_details=self.bank_details,
            sibling=self.sibling_id,
        )
        return {"type": "ir.actions.act_window_close"}
