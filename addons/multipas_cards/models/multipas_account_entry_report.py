from odoo import fields, models
from odoo.tools import SQL

from .multipas_account import ENTRY_KINDS


class MultipasAccountEntryReport(models.Model):
    """Money in and out, for pivot and graph views.

    A read-only view over the ledger that turns the plain ids the entries keep
    of the school, class and user at posting time (see the comment on
    multipas.account.entry) into many2one fields that reports can group by.
    """

    _name = "multipas.account.entry.report"
    _description = "Money in and out"
    _auto = False
    _order = "date desc, id desc"
    _rec_name = "account_id"

    entry_id = fields.Many2one("multipas.account.entry", string="Ledger entry", readonly=True)
    account_id = fields.Many2one("multipas.account", readonly=True)
    holder_id = fields.Many2one("multipas.cardholder", string="Cardholder", readonly=True)
    school_id = fields.Many2one(
        "multipas.school", readonly=True, help="The holder's school when the entry was posted."
    )
    class_id = fields.Many2one(
        "multipas.class", readonly=True, help="The holder's class when the entry was posted."
    )
    user_id = fields.Many2one("res.users", string="Posted by", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    date = fields.Datetime(readonly=True)
    kind = fields.Selection(ENTRY_KINDS, readonly=True)
    amount = fields.Monetary(string="Net amount", readonly=True)
    amount_in = fields.Monetary(string="Money in", readonly=True)
    amount_out = fields.Monetary(string="Money out", readonly=True)

    @property
    def _table_query(self):
        return SQL(
            """
            SELECT e.id, e.id AS entry_id, e.account_id, a.holder_id,
                   e.school_ref AS school_id, e.class_ref AS class_id,
                   e.user_ref AS user_id, a.company_id, a.currency_id,
                   e.date, e.kind, e.amount,
                   GREATEST(e.amount, 0) AS amount_in, GREATEST(-e.amount, 0) AS amount_out
              FROM multipas_account_entry e
              JOIN multipas_account a ON a.id = e.account_id
            """
        )
