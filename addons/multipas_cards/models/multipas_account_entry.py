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
    # Every posting inserts one row here, so the row is kept lean: besides the
    # account, no column references another table. Each foreign key would
    # share-lock its target row on every insert (the company, the currency,
    # the school, the cashier's user: rows every till of a school shares),
    # costing a WAL-logged tuple lock and, under concurrency, a MultiXact.
    # The school, class and user at posting time are kept as plain ids (the
    # *_ref columns) and shown through computed fields; reports group by them
    # through multipas.account.entry.report, a view over this table.
    _log_access = False

    account_id = fields.Many2one(
        "multipas.account", required=True, readonly=True, ondelete="restrict"
    )
    holder_id = fields.Many2one(related="account_id.holder_id", string="Cardholder")
    date = fields.Datetime(required=True, readonly=True)
    amount = fields.Monetary(required=True, readonly=True)
    # Derived from the amount, not stored: every posting writes this row.
    # Reports sum them through multipas.account.entry.report.
    amount_in = fields.Monetary(string="Money in", compute="_compute_amount_in_out")
    amount_out = fields.Monetary(string="Money out", compute="_compute_amount_in_out")
    balance_after = fields.Monetary(required=True, readonly=True)
    kind = fields.Selection(ENTRY_KINDS, required=True, readonly=True)
    idempotency_key = fields.Char(required=True, readonly=True)
    origin = fields.Char(readonly=True, help="What caused the posting, as model,id.")
    note = fields.Char(readonly=True)
    company_id = fields.Many2one(related="account_id.company_id")
    currency_id = fields.Many2one(related="account_id.currency_id")
    school_ref = fields.Integer(string="School id at posting", readonly=True)
    class_ref = fields.Integer(string="Class id at posting", readonly=True)
    user_ref = fields.Integer(string="User id of the posting", readonly=True)
    school_id = fields.Many2one(
        "multipas.school",
        compute="_compute_refs",
        search="_search_school_id",
        help="The holder's school when the entry was posted.",
    )
    class_id = fields.Many2one(
        "multipas.class",
        compute="_compute_refs",
        search="_search_class_id",
        help="The holder's class when the entry was posted.",
    )
    user_id = fields.Many2one(
        "res.users", string="Posted by", compute="_compute_refs", search="_search_user_id"
    )

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
        # a school's entries by date (reports), and a BRIN index on the date
        # for operator-wide periods (entries arrive in date order, so a few
        # pages of BRIN summary replace a B-tree written on every posting).
        self.env.cr.execute(
            SQL(
                "DROP INDEX IF EXISTS multipas_account_entry_account_id_id_idx;"
                "DROP INDEX IF EXISTS multipas_account_entry__date_index;"
                "DROP INDEX IF EXISTS multipas_account_entry_school_date_idx;"
                "CREATE INDEX IF NOT EXISTS multipas_account_entry_account_date_idx "
                "ON multipas_account_entry (account_id, date, id);"
                "CREATE INDEX IF NOT EXISTS multipas_account_entry_school_ref_date_idx "
                "ON multipas_account_entry (school_ref, date);"
                "CREATE INDEX IF NOT EXISTS multipas_account_entry_date_brin "
                "ON multipas_account_entry USING brin (date)"
            )
        )

    _REFS = (
        ("school_id", "school_ref", "multipas.school"),
        ("class_id", "class_ref", "multipas.class"),
        ("user_id", "user_ref", "res.users"),
    )

    @api.depends("amount")
    def _compute_amount_in_out(self):
        for entry in self:
            entry.amount_in = max(entry.amount, 0.0)
            entry.amount_out = max(-entry.amount, 0.0)

    def _compute_refs(self):
        # The referenced rows may be gone (a deleted class): show nothing then.
        for field, ref, comodel in self._REFS:
            targets = self.env[comodel].browse({i for i in self.mapped(ref) if i}).exists()
            for entry in self:
                entry[field] = targets.browse(entry[ref]) & targets

    def _search_ref(self, ref, comodel, operator, value):
        if operator in ("in", "not in") and all(isinstance(v, int) for v in value or ()):
            return [(ref, operator, list(value))]
        if operator in ("=", "!=") and (value is False or isinstance(value, int)):
            return [(ref, operator, value or False)]
        ids = self.env[comodel]._search([("display_name", operator, value)])
        return [(ref, "in", ids)]

    def _search_school_id(self, operator, value):
        return self._search_ref("school_ref", "multipas.school", operator, value)

    def _search_class_id(self, operator, value):
        return self._search_ref("class_ref", "multipas.class", operator, value)

    def _search_user_id(self, operator, value):
        return self._search_ref("user_ref", "res.users", operator, value)

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
