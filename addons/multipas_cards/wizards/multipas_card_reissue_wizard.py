import uuid

from odoo import api, fields, models
from odoo.exceptions import UserError


class MultipasCardReissueWizard(models.TransientModel):
    """Replace a lost or damaged card from the school's reserve in one step:
    the old card is blocked, a reserve card is bound to the holder and issued,
    and the reissue fee of the tariff is posted (or waived, with a reason).
    The balance stays: it lives on the account, not on the card (§8.5)."""

    _name = "multipas.card.reissue.wizard"
    _description = "Reissue a card"

    holder_id = fields.Many2one("multipas.cardholder", required=True, readonly=True)
    school_id = fields.Many2one(related="holder_id.school_id")
    old_card_id = fields.Many2one(
        "multipas.card",
        string="Card to replace",
        domain="[('holder_id', '=', holder_id), ('state', 'in', ('issued', 'blocked'))]",
    )
    reason = fields.Selection(
        [("lost", "Lost"), ("damaged", "Damaged"), ("stolen", "Stolen")],
        required=True,
        default="lost",
    )
    new_card_id = fields.Many2one(
        "multipas.card",
        string="Reserve card",
        required=True,
        domain="[('school_id', '=', school_id), ('state', '=', 'stock'), ('holder_id', '=', False)]",
        help="A card from the school's reserve stock.",
    )
    requested_at = fields.Datetime(
        string="Reported on",
        required=True,
        default=fields.Datetime.now,
        help="When the guardian reported the loss or damage.",
    )
    currency_id = fields.Many2one(related="holder_id.currency_id")
    fee = fields.Monetary(compute="_compute_fee", string="Reissue fee")
    waive_fee = fields.Boolean(string="Waive the fee")
    waive_reason = fields.Char()
    key = fields.Char(readonly=True, default=lambda self: f"reissue-{uuid.uuid4().hex}")

    @api.depends("holder_id")
    def _compute_fee(self):
        Product = self.env["product.template"]
        for wizard in self:
            wizard.fee = Product._multipas_price("card_reissue", wizard.holder_id.company_id)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        holder = self.env["multipas.cardholder"].browse(values.get("holder_id"))
        if holder and "old_card_id" in fields_list and not values.get("old_card_id"):
            current = holder.card_ids.filtered(lambda c: c.state == "issued")[:1]
            values["old_card_id"] = current.id
        return values

    def _check(self):
        holder, new = self.holder_id, self.new_card_id
        if holder.state != "enrolled":
            raise UserError(self.env._("%(name)s has left: no card is reissued.", name=holder.name))
        if self.old_card_id and self.old_card_id.holder_id != holder:
            raise UserError(self.env._("The card to replace isn't this person's card."))
        if new.state != "stock" or new.holder_id or new.school_id != holder.school_id:
            raise UserError(
                self.env._(
                    "Card %(number)s is not a reserve card in the stock of %(school)s.",
                    number=new.number,
                    school=holder.school_id.name,
                )
            )
        if self.requested_at > fields.Datetime.now():
            raise UserError(self.env._("The loss can't be reported in the future."))
        if self.waive_fee and not self.waive_reason:
            raise UserError(self.env._("Say why the fee is waived."))

    def action_reissue(self):
        self.ensure_one()
        done = self.env["multipas.card.reissue"].search([("new_card_id", "=", self.new_card_id.id)])
        if done and done.holder_id == self.holder_id:
            return done._action_open()  # a second click changes nothing
        self._check()
        holder, old, new = self.holder_id, self.old_card_id, self.new_card_id
        if old.state == "issued":
            old.action_block(
                self.reason, self.env._("Replaced by card %(number)s", number=new.number)
            )
        new.write({"holder_id": holder.id})
        new.action_issue()
        entry = self.env["multipas.account.entry"]
        if self.fee and not self.waive_fee:
            # The coordinator hands the card over; the fee is the operator's
            # posting, made by the system once the card is issued.
            entry = holder.account_id.sudo().post(
                -self.fee,
                "fee",
                self.key,
                origin=f"multipas.card,{new.id}",
                note=self.env._("Card reissue: %(number)s", number=new.number),
            )
        reissue = (
            self.env["multipas.card.reissue"]
            .sudo()
            .create(
                {
                    "holder_id": holder.id,
                    "school_id": holder.school_id.id,
                    "old_card_id": old.id,
                    "new_card_id": new.id,
                    "reason": self.reason,
                    "requested_at": self.requested_at,
                    "issued_at": fields.Datetime.now(),
                    "fee": 0.0 if self.waive_fee else self.fee,
                    "fee_waived": self.waive_fee,
                    "waive_reason": self.waive_reason,
                    "entry_id": entry.id,
                    "user_id": self.env.uid,
                }
            )
        )
        holder.message_post(
            body=self.env._(
                "Card %(old)s replaced by reserve card %(new)s.",
                old=old.number or "—",
                new=new.number,
            )
        )
        return reissue.with_env(self.env)._action_open()
