from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from .multipas_card import BLOCK_REASONS

LEAVING_REASONS = [
    ("moved", "Moved to another school"),
    ("graduated", "Graduated"),
    ("other", "Other"),
]
LEAVING_STATES = [
    ("reported", "Reported"),
    ("confirmed", "Confirmed"),
    ("cancelled", "Cancelled"),
]
CARD_OUTCOMES = [
    ("returned", "Returned (retired)"),
    ("not_returned", "Not returned (blocked)"),
    ("no_card", "No card in use"),
]
BALANCE_ACTIONS = [
    ("none", "Nothing to settle"),
    ("refund", "Refund to a guardian"),
    ("transfer", "Move to a sibling's account"),
    ("writeoff", "Write off the debt"),
]
# What a school coordinator may still correct on a request they reported.
COORDINATOR_FIELDS = frozenset({"reason", "leaving_date", "note"})


class MultipasLeaving(models.Model):
    """A pupil or staff member leaving a school (regulation §8.6).

    Two steps: the school coordinator reports the leaver (the card is handed
    in to them); the operator confirms, which settles the card, the balance
    and the account, removes the guardians' portal access where no other
    child remains and erases the person's data for good.
    """

    _name = "multipas.leaving"
    _description = "Leaving request"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "reported_at desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, default="/", index=True
    )
    # Not tracked: a tracking value would keep the person's name in the chatter.
    holder_id = fields.Many2one(
        "multipas.cardholder",
        string="Cardholder",
        required=True,
        ondelete="restrict",
        index=True,
        domain="[('state', '=', 'enrolled')]",
    )
    school_id = fields.Many2one(
        related="holder_id.school_id", store=True, index=True, string="School"
    )
    company_id = fields.Many2one(related="school_id.company_id", store=True)
    class_id = fields.Many2one(
        "multipas.class",
        readonly=True,
        ondelete="restrict",
        help="The class the pupil was in when the leaving was reported.",
    )
    account_id = fields.Many2one(
        "multipas.account", string="Personal account", readonly=True, ondelete="restrict"
    )
    currency_id = fields.Many2one(related="account_id.currency_id")
    balance = fields.Monetary(related="account_id.balance", string="Current balance")
    reason = fields.Selection(LEAVING_REASONS, required=True, default="moved", tracking=True)
    leaving_date = fields.Date(
        string="Leaving date",
        required=True,
        default=fields.Date.context_today,
        tracking=True,
        help="The last day at school.",
    )
    note = fields.Text(
        string="Details",
        help="Where the pupil goes, if known. Erased with the person's data "
        "when the leaving is confirmed: write no names here.",
    )
    state = fields.Selection(
        LEAVING_STATES,
        string="Status",
        required=True,
        default="reported",
        readonly=True,
        tracking=True,
        index=True,
    )
    reported_by_id = fields.Many2one(
        "res.users", string="Reported by", readonly=True, default=lambda self: self.env.user
    )
    reported_at = fields.Datetime(string="Reported at", readonly=True, default=fields.Datetime.now)
    confirmed_by_id = fields.Many2one("res.users", string="Confirmed by", readonly=True)
    confirmed_at = fields.Datetime(string="Confirmed at", readonly=True)

    # === OUTCOME (written when the operator confirms) === #

    card_outcome = fields.Selection(CARD_OUTCOMES, string="Card outcome", readonly=True)
    card_id = fields.Many2one(
        "multipas.card",
        readonly=True,
        ondelete="restrict",
        help="The card the leaver held: retired when handed in, blocked otherwise.",
    )
    block_reason = fields.Selection(BLOCK_REASONS, readonly=True)
    balance_at_confirmation = fields.Monetary(string="Balance when confirmed", readonly=True)
    balance_action = fields.Selection(BALANCE_ACTIONS, string="Remaining balance", readonly=True)
    refund_partner_id = fields.Many2one(
        "res.partner",
        string="Refund to",
        readonly=True,
        ondelete="restrict",
        help="The guardian the accountant pays the remaining balance to.",
    )
    refund_amount = fields.Monetary(string="Refund amount", readonly=True)
    refund_bank_details = fields.Text(
        string="Bank details",
        readonly=True,
        groups="multipas_cards.group_operator_clerk",
        help="Where the accountant sends the refund (bank, account, payee).",
    )
    refund_entry_id = fields.Many2one(
        "multipas.account.entry", string="Refund entry", readonly=True, ondelete="restrict"
    )
    sibling_id = fields.Many2one(
        "multipas.cardholder",
        string="Moved to",
        readonly=True,
        ondelete="restrict",
        help="The sibling whose personal account received the remaining balance.",
    )
    transfer_amount = fields.Monetary(string="Amount moved", readonly=True)
    transfer_out_entry_id = fields.Many2one(
        "multipas.account.entry", string="Transfer out", readonly=True, ondelete="restrict"
    )
    transfer_in_entry_id = fields.Many2one(
        "multipas.account.entry", string="Transfer in", readonly=True, ondelete="restrict"
    )
    writeoff_amount = fields.Monetary(string="Debt written off", readonly=True)
    writeoff_entry_id = fields.Many2one(
        "multipas.account.entry", string="Write-off entry", readonly=True, ondelete="restrict"
    )
    portal_access_removed = fields.Integer(
        string="Portal logins removed",
        readonly=True,
        help="Guardians whose portal access was removed because no other child of theirs "
        "is enrolled.",
    )
    erasure_log_id = fields.Many2one(
        "multipas.erasure.log",
        string="Erasure log",
        readonly=True,
        ondelete="restrict",
        groups="multipas_cards.group_operator_manager",
    )

    def init(self):
        # One open request per person; a cancelled one may be reported again.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS multipas_leaving_one_per_holder "
                "ON multipas_leaving (holder_id) WHERE state != 'cancelled'"
            )
        )

    # === CRUD === #

    @api.model_create_multi
    def create(self, vals_list):
        holders = self.env["multipas.cardholder"].browse(
            [vals["holder_id"] for vals in vals_list if vals.get("holder_id")]
        )
        # Staff may report only people they can see (their school).
        holders.check_access("read")
        for vals in vals_list:
            holder = holders.browse(vals.get("holder_id"))
            for name in set(vals) - COORDINATOR_FIELDS - {"holder_id"}:
                if not self.env.su and not name.startswith(("message_", "activity_")):
                    raise UserError(
                        self.env._(
                            "A leaving request starts with the cardholder, the reason, "
                            "the date and details; the rest is filled when it is confirmed."
                        )
                    )
            holder._check_can_report_leaving()
            vals["name"] = self.env["ir.sequence"].sudo().next_by_code("multipas.leaving") or "/"
            vals["class_id"] = holder.class_id.id
            vals["account_id"] = holder.sudo().account_id.id
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            # The outcome is written by _confirm under sudo, after its checks;
            # staff may only correct what they reported while it is open.
            blocked = {
                name
                for name in set(vals) - COORDINATOR_FIELDS
                if not name.startswith(("message_", "activity_"))
            }
            if blocked:
                raise UserError(
                    self.env._(
                        "Only the reason, the date and the details of a leaving request "
                        "can be changed; the rest changes when it is confirmed or cancelled."
                    )
                )
            if COORDINATOR_FIELDS & vals.keys():
                for leaving in self:
                    if leaving.state != "reported":
                        raise UserError(
                            self.env._(
                                "Leaving request %(name)s is %(state)s: it can't be changed.",
                                name=leaving.name,
                                state=leaving._state_label(),
                            )
                        )
        return super().write(vals)

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    # === STEPS === #

    def _check_operator(self):
        if not (self.env.su or self.env.user.has_group("multipas_cards.group_operator_clerk")):
            raise AccessError(self.env._("Only the card operator's staff may confirm a leaving."))

    def _check_reported(self):
        for leaving in self:
            if leaving.state != "reported":
                raise UserError(
                    self.env._(
                        "Leaving request %(name)s is already %(state)s.",
                        name=leaving.name,
                        state=leaving._state_label(),
                    )
                )

    def action_cancel(self):
        """Withdraw a request reported by mistake; the person stays enrolled."""
        self.check_access("write")
        self._check_reported()
        self.sudo().write({"state": "cancelled"})

    def action_open_confirm_wizard(self):
        self.ensure_one()
        self._check_operator()
        self._check_reported()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Confirm leaving %(name)s", name=self.name),
            "res_model": "multipas.leaving.confirm.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_leaving_id": self.id},
        }

    def _open_balance(self):
        """The balance still to settle: zero once the account is closed."""
        self.ensure_one()
        account = self.account_id.sudo()
        return account.balance if account and account.state != "closed" else 0.0

    def _allowed_siblings(self):
        """The other enrolled children of the leaver's guardians who have an
        open personal account: where the balance may be moved."""
        self.ensure_one()
        holder = self.holder_id.sudo()
        siblings = holder.guardian_ids.multipas_child_ids - holder
        return siblings.filtered(
            lambda s: s.state == "enrolled" and s.account_id and s.account_id.state != "closed"
        )

    def _confirm(
        self,
        card_outcome=None,
        block_reason="left",
        balance_action="none",
        refund_partner=None,
        bank_details=None,
        sibling=None,
    ):
        """Confirm the leaving, all of it or nothing (regulation §8.6).

        :param card_outcome: ``"returned"`` (the card is retired) or
            ``"not_returned"`` (blocked with ``block_reason``); ignored when
            the person holds no issued card
        :param balance_action: ``"none"`` at a zero balance; ``"refund"`` to
            ``refund_partner`` (one of the guardians) with ``bank_details``;
            ``"transfer"`` to ``sibling``'s account; ``"writeoff"`` of a debt
            (operator managers only)
        :returns: the erasure log
        :raises UserError: when something doesn't allow it; every check runs
            before the first change
        """
        self.ensure_one()
        self._check_confirmation(
            card_outcome, block_reason, balance_action, refund_partner, bank_details, sibling
        )
        holder = self.holder_id
        vals = self._settle_cards(card_outcome, block_reason)
        vals.update(self._settle_balance(balance_action, refund_partner, bank_details, sibling))
        account = self.account_id.sudo()
        if account and account.state != "closed":
            # Closing is a manager's button elsewhere; here the operator's
            # clerk closes it as part of the leaving, after the checks above.
            account.action_close()
        holder.with_context(mail_notrack=True).write({"state": "left", "class_id": False})
        vals["portal_access_removed"] = holder._multipas_revoke_portal_access()
        log = holder._multipas_erase(leaving=self)
        vals.update(
            {
                "state": "confirmed",
                "confirmed_by_id": self.env.user.id,
                "confirmed_at": fields.Datetime.now(),
                "erasure_log_id": log.id,
            }
        )
        self.sudo().write(vals)
        self._post_confirmation_summary()
        return log

    def _check_confirmation(
        self, card_outcome, block_reason, balance_action, refund_partner, bank_details, sibling
    ):
        """Every reason to refuse the confirmation, checked before acting."""
        self._check_operator()
        self._check_reported()
        holder = self.holder_id
        if holder.state != "enrolled":
            raise UserError(self.env._("%(name)s has already left the school.", name=holder.name))
        issued = self.env["multipas.card"].search(
            [("holder_id", "=", holder.id), ("state", "=", "issued")], limit=1
        )
        if issued and card_outcome not in ("returned", "not_returned"):
            raise UserError(
                self.env._("Say whether card %(number)s was handed in.", number=issued.number)
            )
        if issued and card_outcome == "not_returned" and block_reason not in dict(BLOCK_REASONS):
            raise UserError(self.env._("Choose why the card is blocked."))
        account = self.account_id
        balance = self._open_balance()
        if not account or account.state == "closed" or account.currency_id.is_zero(balance):
            if balance_action not in (None, False, "none"):
                raise UserError(
                    self.env._(
                        "The personal account is at zero now: there is nothing to refund, "
                        "move or write off."
                    )
                )
            return
        if balance < 0:
            if balance_action != "writeoff":
                raise UserError(
                    self.env._(
                        "Account %(number)s owes %(debt)s: the guardians settle the debt "
                        "first, or an operator manager writes it off.",
                        number=account.number,
                        debt=account._fmt(-balance),
                    )
                )
            if not (
                self.env.su or self.env.user.has_group("multipas_cards.group_operator_manager")
            ):
                raise AccessError(self.env._("Only an operator manager may write off a debt."))
            return
        if account.state == "frozen":
            raise UserError(
                self.env._(
                    "Account %(number)s is frozen: an operator manager must unfreeze it "
                    "before its balance is paid out.",
                    number=account.number,
                )
            )
        if balance_action == "refund":
            if not refund_partner or refund_partner not in holder.sudo().guardian_ids:
                raise UserError(
                    self.env._("Choose the guardian who receives the refund among the guardians.")
                )
            if not (bank_details or "").strip():
                raise UserError(
                    self.env._("Write the bank details the accountant pays the refund to.")
                )
        elif balance_action == "transfer":
            if not sibling or sibling not in self._allowed_siblings():
                raise UserError(
                    self.env._(
                        "The balance can move only to an enrolled brother or sister: "
                        "another child of the same guardians with an open account."
                    )
                )
        else:
            raise UserError(
                self.env._(
                    "Account %(number)s holds %(balance)s: refund it to a guardian or move it "
                    "to a sibling's account.",
                    number=account.number,
                    balance=account._fmt(balance),
                )
            )

    def _settle_cards(self, card_outcome, block_reason):
        holder = self.holder_id
        cards = self.env["multipas.card"].search([("holder_id", "=", holder.id)])
        issued = cards.filtered(lambda c: c.state == "issued")
        vals = {"card_outcome": "no_card", "card_id": issued[:1].id or False, "block_reason": False}
        if issued:
            if card_outcome == "returned":
                issued.action_retire()
            else:
                issued.action_block(block_reason)
                vals["block_reason"] = block_reason
            vals["card_outcome"] = card_outcome
        # Cards made for this person but never handed over carry their name
        # and photo: they go out of circulation too. Blocked ones stay blocked.
        cards.filtered(lambda c: c.state in ("new", "stock")).action_retire()
        return vals

    def _settle_balance(self, action, refund_partner, bank_details, sibling):
        """Bring the account to zero as checked by _check_confirmation."""
        account = self.account_id
        balance = self._open_balance()
        if not account or account.state == "closed" or account.currency_id.is_zero(balance):
            return {"balance_action": "none", "balance_at_confirmation": 0.0}
        vals = {"balance_at_confirmation": balance, "balance_action": action}
        origin = f"{self._name},{self.id}"
        if action == "writeoff":
            entry = account.post(
                -balance,
                "adjustment",
                f"leaving-{self.id}-writeoff",
                origin=origin,
                note=self.env._("Debt written off on leaving %(name)s", name=self.name),
            )
            vals.update({"writeoff_amount": -balance, "writeoff_entry_id": entry.id})
        elif action == "refund":
            # In this ledger "refund" credits a purchase back; money leaving
            # the system when an account closes is a "closing" debit.
            entry = account.post(
                -balance,
                "closing",
                f"leaving-{self.id}-refund",
                origin=origin,
                note=self.env._("Refund to a guardian on leaving %(name)s", name=self.name),
            )
            vals.update(
                {
                    "refund_partner_id": refund_partner.id,
                    "refund_amount": balance,
                    "refund_bank_details": bank_details.strip(),
                    "refund_entry_id": entry.id,
                }
            )
        else:
            target = sibling.sudo().account_id
            out = account.post(
                -balance,
                "transfer",
                f"leaving-{self.id}-transfer-out",
                origin=origin,
                note=self.env._(
                    "Moved to account %(number)s on leaving %(name)s",
                    number=target.number,
                    name=self.name,
                ),
            )
            entry_in = target.post(
                balance,
                "transfer",
                f"leaving-{self.id}-transfer-in",
                origin=origin,
                note=self.env._(
                    "Moved from account %(number)s on leaving %(name)s",
                    number=account.number,
                    name=self.name,
                ),
            )
            vals.update(
                {
                    "sibling_id": sibling.id,
                    "transfer_amount": balance,
                    "transfer_out_entry_id": out.id,
                    "transfer_in_entry_id": entry_in.id,
                }
            )
        return vals

    def _post_confirmation_summary(self):
        """One message on the request saying what was done, without names:
        it is posted after the erasure and stays."""
        lines = []
        card_outcomes = dict(self._fields["card_outcome"]._description_selection(self.env))
        if self.card_id:
            lines.append(
                self.env._(
                    "Card %(number)s: %(outcome)s.",
                    number=self.card_id.number,
                    outcome=card_outcomes[self.card_outcome],
                )
            )
        else:
            lines.append(self.env._("No card was in use."))
        account = self.account_id.sudo()
        if self.balance_action == "refund":
            lines.append(
                self.env._(
                    "%(amount)s to be refunded to a guardian (see the request).",
                    amount=account._fmt(self.refund_amount),
                )
            )
        elif self.balance_action == "transfer":
            lines.append(
                self.env._(
                    "%(amount)s moved to account %(number)s.",
                    amount=account._fmt(self.transfer_amount),
                    number=self.sibling_id.sudo().account_id.number,
                )
            )
        elif self.balance_action == "writeoff":
            lines.append(
                self.env._(
                    "Debt of %(amount)s written off.", amount=account._fmt(self.writeoff_amount)
                )
            )
        if account:
            lines.append(self.env._("Account %(number)s closed.", number=account.number))
        if self.portal_access_removed:
            lines.append(
                self.env._(
                    "Portal access removed for %(count)s guardian(s) with no other child "
                    "at school.",
                    count=self.portal_access_removed,
                )
            )
        lines.append(self.env._("Personal data erased."))
        self.message_post(body=Markup("<br/>").join(lines))

    def action_open_holder(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "multipas.cardholder",
            "res_id": self.holder_id.id,
            "view_mode": "form",
        }
