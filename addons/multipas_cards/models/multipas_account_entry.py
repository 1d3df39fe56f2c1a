from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .multipas_account import ENTRY_KINDS


class MultipasAccountEntry(models.Model):
    """One immutable movement on a personal account.

    Entries are written only by :meth:`multipas.account.post`; a correction is
    a counter-entry, never an edit.
    """

    _name = "multipas.account.entry"
    _description = "Ledger entry"
    _order = "date desc, id desc"
    _rec_name = "idempotency_key"

    account_id = fields.Many2one(
        "multipas.account", required=True, readonly=True, ondelete="restrict"
    )
    holder_id = fields.Many2one(related="account_id.holder_id", string="Cardholder")
    date = fields.Datetime(required=True, readonly=True, index=True)
    amount = fields.Monetary(required=True, readonly=True)
    amount_in = fields.Monetary(string="Money in", readonly=True)
    amount_out = fields.Monetary(string="Money out", readonly=True)
    balance_after = fields.Monetary(required=True, readonly=True)
    kind = fields.Selection(ENTRY_KINDS, required=True, readonly=True)
    idempotency_key = fields.Char(required=True, readonly=True)
    origin = fields.Char(readonly=True, help="What caused the posting, as model,id.")
    note = fields.Char(readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    school_id = fields.Many2one("multipas.school", readonly=True)
    class_id = fields.Many2one(
        "multipas.class", readonly=True, help="The holder's class when the entry was posted."
    )
    create_uid = fields.Many2one("res.users", string="Posted by", readonly=True)

    _sql_constraints = [
        (
            "idempotency_key_uniq",
            "unique(account_id, idempotency_key)",
            "This idempotency key was already posted on this account.",
        ),
        ("amount_nonzero", "CHECK(amount != 0)", "A ledger entry moves a non-zero amount."),
    ]

    def init(self):
        # Every posting writes each index of this table, so there are few:
        # the history of one account newest first (statements, the cabinet),
        # and a school's entries by date (reports). Plain date is indexed by
        # the field for operator-wide periods; kind is too coarse to index.
        self.env.cr.execute(
            SQL(
                "DROP INDEX IF EXISTS multipas_account_entry_account_id_id_idx;"
                "CREATE INDEX IF NOT EXISTS multipas_account_entry_account_date_idx "
                "ON multipas_account_entry (account_id, date, id);"
                "CREATE INDEX IF NOT EXISTS multipas_account_entry_school_date_idx "
                "ON multipas_account_entry (school_id, date)"
            )
        )

    @api.model_create_multi
    def create(self, vals_list):  # pylint: disable=method-required-super
        # Refused on purpose: entries come only from post(), which writes SQL.
        raise UserError(
            self.env._("Ledger entries are made only by posting on a personal account.")
        )

    def write(self, vals):  # pylint: disable=method-required-super
        # Refused on purpose: a correction is a counter-entry.
        raise UserError(
            self.env._("Ledger entries can't be changed; post a counter-entry instead.")
        )

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        raise UserError(self.env._("Ledger entries can't be deleted."))

    @api.depends("kind", "amount", "account_id.number")
    def _compute_display_name(self):
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        for entry in self:
            entry.display_name = (
                f"{entry.account_id.number} {kinds.get(entry.kind, '')} {entry.amount}"
            )
