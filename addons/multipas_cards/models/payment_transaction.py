import logging

from odoo import fields, models
from odoo.exceptions import UserError

from .multipas_portal_tools import in_language_of, operator_manager

_logger = logging.getLogger(__name__)


class PaymentTransaction(models.Model):
    """Online top-ups of personal accounts through any payment provider."""

    _inherit = "payment.transaction"

    multipas_account_id = fields.Many2one(
        "multipas.account",
        string="Personal account topped up",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
    )
    multipas_entry_id = fields.Many2one(
        "multipas.account.entry", string="Top-up ledger entry", readonly=True, copy=False
    )

    def _post_process(self):
        """Credit the personal account of a confirmed top-up.

        Odoo post-processes a transaction from the status page poller and
        from a cron, and providers may notify twice: the posting is keyed by
        the transaction reference, so the account is credited once whatever
        happens.
        """
        for tx in self.filtered(
            lambda t: (
                t.multipas_account_id
                and t.state == "done"
                and t.operation != "refund"
                and not t.multipas_entry_id
            )
        ):
            tx._multipas_credit_account()
        return super()._post_process()

    def _multipas_credit_account(self):
        self.ensure_one()
        account = self.multipas_account_id.sudo()
        if self.currency_id != account.currency_id:
            problem = self.env._(
                "the payment is in %(paid)s but the account keeps %(kept)s",
                paid=self.currency_id.name,
                kept=account.currency_id.name,
            )
        else:
            try:
                with self.env.cr.savepoint():
                    entry = account.post(
                        self.amount,
                        "topup",
                        self.reference,
                        origin=f"payment.transaction,{self.id}",
                        note=self.env._("Online top-up %(reference)s", reference=self.reference),
                    )
            except UserError as error:
                problem = str(error.args[0] if error.args else error)
            else:
                self.multipas_entry_id = entry
                return entry
        # The money was taken but can't go on the account (closed account,
        # currency): the operator refunds or moves it by hand.
        _logger.warning("Top-up %s not credited to %s: %s", self.reference, account.number, problem)
        manager = operator_manager(self.env)
        account = in_language_of(manager, account)
        account.activity_schedule(
            "multipas_cards.mail_activity_topup_not_credited",
            user_id=manager.id,
            note=account.env._(
                "Payment %(reference)s of %(amount)s was received but not credited: "
                "%(problem)s. Refund it or post it by hand.",
                reference=self.reference,
                amount=account._fmt(self.amount),
                problem=problem,
            ),
        )
        return self.env["multipas.account.entry"]
