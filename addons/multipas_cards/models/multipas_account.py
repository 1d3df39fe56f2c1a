import logging
import math

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.sql_db import TestCursor
from odoo.tools import SQL, format_amount

from .multipas_portal_tools import in_language_of, operator_manager

_logger = logging.getLogger(__name__)

ENTRY_KINDS = [
    ("topup", "Top-up"),
    ("purchase", "Purchase"),
    ("benefit", "Benefit"),
    ("fee", "Fee"),
    ("refund", "Refund"),
    ("transfer", "Transfer"),
    ("adjustment", "Adjustment"),
    ("closing", "Closing"),
]
# The sign each kind must have: +1 credits only, -1 debits only, 0 either.
KIND_SIGN = {
    "topup": 1,
    "purchase": -1,
    "benefit": 1,
    "fee": -1,
    "refund": 1,
    "transfer": 0,
    "adjustment": 0,
    "closing": -1,
}
# Far above any real school payment; stops typos with extra zeros.
MAX_POST_AMOUNT = 1_000_000
MAX_KEY_LENGTH = 128

# The posting runs inside PostgreSQL as one PL/pgSQL function, so a till pays
# one round trip, and the plans of its statements are made once per database
# session (PL/pgSQL keeps them until the session is reset). It
#  - returns the earlier entry when the key was already posted (idempotency);
#  - rounds the amount to the currency and works out the school's local day;
#  - moves the balance with ONE conditional UPDATE whose WHERE holds every
#    check (state, funds = balance + credit limit, daily limit): the update
#    is the lock, so no separate SELECT … FOR UPDATE locks the row first;
#  - when that UPDATE matches nothing, reads the row to say why, having
#    changed nothing; otherwise writes the entry with the balance after it.
# Two tills racing on one account serialise on the row: under Odoo's
# REPEATABLE READ the later UPDATE gets a serialization failure and Odoo re-runs
# its whole request, which then sees the first one's entry and balance (under
# READ COMMITTED PostgreSQL would re-check the WHERE on the new row instead).
POST_FUNCTION_SQL = """
CREATE FUNCTION multipas_account_post(
    p_account integer, p_amount numeric, p_kind varchar, p_key varchar,
    p_origin varchar, p_note varchar, p_uid integer, p_now timestamp,
    OUT entry_id integer, OUT status varchar, OUT amount numeric, OUT kind varchar,
    OUT balance_after numeric)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_ctx record;
    v_acc record;
    v_today date;
    v_spend numeric;
    v_spent numeric;
BEGIN
    -- One read for the idempotency check and the posting's context (the
    -- currency's rounding, the school's time zone, the holder's class), all
    -- kept on the account row itself.
    SELECT a.currency_rounding AS rounding, a.currency_decimal_places AS decimal_places,
           COALESCE(a.school_tz, 'UTC') AS tz, a.class_id,
           e.id AS done_id, e.amount AS done_amount, e.kind AS done_kind,
           e.balance_after AS done_balance
      INTO v_ctx
      FROM multipas_account a
      LEFT JOIN multipas_account_entry e
             ON e.account_id = a.id AND e.idempotency_key = p_key
     WHERE a.id = p_account;
    IF NOT FOUND THEN
        status := 'missing';
        RETURN;
    END IF;
    IF v_ctx.done_id IS NOT NULL THEN
        entry_id := v_ctx.done_id;
        amount := v_ctx.done_amount;
        kind := v_ctx.done_kind;
        balance_after := v_ctx.done_balance;
        status := 'exists';
        RETURN;
    END IF;
    kind := p_kind;
    amount := round(round(p_amount / v_ctx.rounding) * v_ctx.rounding, v_ctx.decimal_places);
    IF amount = 0 THEN
        status := 'zero';
        RETURN;
    END IF;
    v_today := (p_now AT TIME ZONE 'UTC' AT TIME ZONE v_ctx.tz)::date;
    v_spend := CASE WHEN p_kind IN ('purchase', 'refund') THEN -amount ELSE 0 END;
    UPDATE multipas_account a
       SET balance = a.balance + amount,
           daily_spent = GREATEST(0, CASE WHEN a.daily_date = v_today THEN a.daily_spent ELSE 0 END + v_spend),
           daily_date = v_today,
           write_uid = p_uid,
           write_date = p_now
     WHERE a.id = p_account
       AND (a.state = 'open' OR (a.state = 'frozen' AND amount > 0))
       AND (amount > 0 OR a.balance + amount >= -a.credit_limit)
       AND (v_spend <= 0 OR a.daily_limit <= 0
            OR CASE WHEN a.daily_date = v_today THEN a.daily_spent ELSE 0 END + v_spend <= a.daily_limit)
    RETURNING a.balance, a.school_id INTO v_acc;
    IF NOT FOUND THEN
        SELECT a.balance, a.state, a.credit_limit, a.daily_limit, a.daily_spent, a.daily_date
          INTO v_acc FROM multipas_account a WHERE a.id = p_account;
        balance_after := v_acc.balance;
        v_spent := CASE WHEN v_acc.daily_date = v_today THEN v_acc.daily_spent ELSE 0 END;
        IF v_acc.state = 'closed' OR (v_acc.state = 'frozen' AND amount < 0) THEN
            status := v_acc.state;
        ELSIF amount < 0 AND v_acc.balance + amount < -v_acc.credit_limit THEN
            status := 'funds';
        ELSE
            status := 'daily_limit';
        END IF;
        RETURN;
    END IF;
    INSERT INTO multipas_account_entry (
        account_id, date, amount, balance_after, kind,
        idempotency_key, origin, note, school_ref, class_ref, user_ref)
    VALUES (
        p_account, p_now, amount, v_acc.balance, p_kind, p_key, p_origin, p_note, v_acc.school_id,
        v_ctx.class_id, p_uid)
    RETURNING id INTO entry_id;
    status := 'posted';
    balance_after := v_acc.balance;
END;
$fn$
"""
# The function is called through a prepared statement: PostgreSQL parses and
# plans the call once per database session instead of at every posting. Odoo
# resets a pooled connection (DISCARD ALL) each time it lends it to a new
# cursor, so "prepared in this session" belongs to the cursor: its first
# posting sends PREPARE and EXECUTE together (one round trip, as a plain call
# would), the following ones EXECUTE only. Prepared statements outlive
# rolled-back transactions. They need the session to stay on one server
# connection (no pooler in transaction mode between Odoo and PostgreSQL;
# Odoo's bus needs that anyway). The name carries the signature: a changed
# function gets a new statement.
POST_STATEMENT = "multipas_account_post_v2"
PREPARE_POST_SQL = (
    f"PREPARE {POST_STATEMENT} (integer, numeric, varchar, varchar, varchar, varchar, "
    "integer, timestamp) AS SELECT * FROM multipas_account_post($1, $2, $3, $4, $5, $6, $7, $8)"
)
EXECUTE_POST_SQL = f"EXECUTE {POST_STATEMENT} (%s, %s, %s, %s, %s, %s, %s, %s)"
PREPARE_AND_EXECUTE_POST_SQL = f"{PREPARE_POST_SQL}; {EXECUTE_POST_SQL}"
# What a posting changes on the account row, dropped from the ORM cache
# after it (entry_count and spent_today are computed from them).
POSTED_FIELDS = (
    "balance",
    "daily_spent",
    "daily_date",
    "spent_today",
    "write_uid",
    "write_date",
    "entry_ids",
    "entry_count",
)


def luhn_digit(digits):
    """The Luhn check digit of a string of digits, so that a mistyped account
    number in a bank transfer is caught instead of crediting a stranger."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


class MultipasAccount(models.Model):
    """A personal account (лицевой счёт, regulation §1.3.7): one per cardholder.

    The balance is a column of this row, changed only by :meth:`post`, which
    writes one immutable ledger entry per change. Reading it never sums the
    history.
    """

    _name = "multipas.account"
    _description = "Personal account"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "number"
    _rec_name = "number"

    number = fields.Char(
        required=True,
        readonly=True,
        copy=False,
        default="/",
        help="The personal account number. Parents quote it as the payment "
        "purpose of a bank transfer; its last digit is a check digit.",
    )
    holder_id = fields.Many2one(
        "multipas.cardholder",
        string="Cardholder",
        required=True,
        ondelete="restrict",
        readonly=True,
    )
    school_id = fields.Many2one(
        related="holder_id.school_id", store=True, index=True, string="School"
    )
    class_id = fields.Many2one(related="holder_id.class_id", store=True, string="Class")
    # The rest of a posting's context, kept on the row a posting updates
    # anyway: the posting function reads this row (and the entry with the
    # key) instead of joining the currency, the school and the cardholder.
    # A posting then locks 13 relations (these two tables, their 5 indexes
    # each, the entry sequence); PostgreSQL keeps up to 16 per transaction in
    # its cheap per-backend "fast path", and the join's 6 more relations spilled
    # into the shared lock table, which 8 concurrent tills contend for
    # (BENCHMARKS.md, session 4). A test watches that a posting stays there.
    school_tz = fields.Selection(related="school_id.tz", store=True, string="School time zone")
    # numeric, as on the currency: the posting rounds with it in SQL
    currency_rounding = fields.Float(related="currency_id.rounding", store=True, digits=(12, 6))
    currency_decimal_places = fields.Integer(related="currency_id.decimal_places", store=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(
        "res.currency",
        required=True,
        readonly=True,
        default=lambda self: self.env.company.currency_id,
    )
    balance = fields.Monetary(readonly=True, required=True, default=0.0)
    credit_limit = fields.Monetary(
        required=True,
        default=0.0,
        tracking=True,
        help="How far below zero the balance may go. 0: no credit.",
    )
    daily_limit = fields.Monetary(
        required=True,
        default=0.0,
        tracking=True,
        help="The most the cardholder may spend on purchases in one school day. 0: no limit.",
    )
    daily_spent = fields.Monetary(
        string="Spent on the last day", readonly=True, required=True, default=0.0
    )
    daily_date = fields.Date(string="Last spending day", readonly=True)
    spent_today = fields.Monetary(compute="_compute_spent_today")
    low_balance_threshold = fields.Monetary(
        required=True,
        default=100.0,
        tracking=True,
        help="Guardians are warned when the balance falls below this amount.",
    )
    state = fields.Selection(
        [("open", "Open"), ("frozen", "Frozen"), ("closed", "Closed")],
        required=True,
        default="open",
        readonly=True,
        tracking=True,
        index=True,
    )
    entry_ids = fields.One2many("multipas.account.entry", "account_id", string="Ledger entries")
    entry_count = fields.Integer(compute="_compute_entry_count")

    _sql_constraints = [
        ("holder_uniq", "unique(holder_id)", "This cardholder already has a personal account."),
        ("number_uniq", "unique(number)", "Another personal account has this number."),
        (
            "credit_limit_positive",
            "CHECK(credit_limit >= 0)",
            "The credit limit can't be negative.",
        ),
        ("daily_limit_positive", "CHECK(daily_limit >= 0)", "The daily limit can't be negative."),
        (
            "low_balance_threshold_positive",
            "CHECK(low_balance_threshold >= 0)",
            "The low-balance threshold can't be negative.",
        ),
        # The last line of defence behind post(): no write of any kind can
        # take an account below its credit limit.
        (
            "balance_within_credit",
            "CHECK(balance >= -credit_limit)",
            "The balance can't go further below zero than the credit limit allows.",
        ),
    ]

    @api.depends("daily_spent", "daily_date", "school_id.tz")
    def _compute_spent_today(self):
        for account in self:
            today = fields.Date.context_today(
                account.with_context(tz=account.school_id.tz or "UTC")
            )
            account.spent_today = account.daily_spent if account.daily_date == today else 0.0

    def _compute_entry_count(self):
        groups = self.env["multipas.account.entry"]._read_group(
            [("account_id", "in", self.ids)], ["account_id"], ["__count"]
        )
        counts = {account.id: count for account, count in groups}
        for account in self:
            account.entry_count = counts.get(account.id, 0)

    @api.depends("number", "holder_id.name")
    def _compute_display_name(self):
        for account in self:
            account.display_name = (
                f"{account.number} {account.holder_id.name}"
                if account.holder_id
                else account.number
            )

    def init(self):
        # Postings update this row in place: with free room on each page the
        # update is HOT (no index of this table is touched; none of them
        # covers a column post() changes).
        self.env.cr.execute(SQL("ALTER TABLE multipas_account SET (fillfactor = 80)"))
        self._drop_post_function()
        self.env.cr.execute(SQL(POST_FUNCTION_SQL))

    def _drop_post_function(self):
        """Called by the uninstall hook: the function goes with the tables."""
        self.env.cr.execute(
            SQL(
                "DROP FUNCTION IF EXISTS multipas_account_post("
                "integer, numeric, varchar, varchar, varchar, varchar, integer, timestamp)"
            )
        )

    def _fmt(self, amount):
        """An amount as the user reads it: «1 250,00 ₽»."""
        return format_amount(self.env, amount, self.currency_id or self.env.company.currency_id)

    def _kind_label(self, kind):
        kinds = self.env["multipas.account.entry"]._fields["kind"]._description_selection(self.env)
        return dict(kinds).get(kind, kind)

    # === CRUD === #

    PROTECTED_FIELDS = frozenset({"balance", "daily_spent", "daily_date"})

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if self.PROTECTED_FIELDS & vals.keys():
                raise UserError(
                    self.env._("A new personal account starts at zero; post entries to change it.")
                )
            if vals.get("number", "/") == "/":
                base = self.env["ir.sequence"].sudo().next_by_code("multipas.account")
                vals["number"] = base + luhn_digit(base)
        return super().create(vals_list)

    def write(self, vals):
        if self.PROTECTED_FIELDS & vals.keys():
            raise UserError(self.env._("The balance changes only through ledger entries."))
        if "credit_limit" in vals:
            for account in self:
                if account.balance < -vals["credit_limit"]:
                    raise ValidationError(
                        self.env._(
                            "Account %(number)s owes %(debt)s: the credit limit can't "
                            "go below that until the debt is repaid.",
                            number=account.number,
                            debt=account._fmt(-account.balance),
                        )
                    )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_with_history(self):
        if (
            self.env["multipas.account.entry"]
            .sudo()
            .search_count([("account_id", "in", self.ids)], limit=1)
        ):
            raise UserError(
                self.env._("A personal account with ledger entries can't be deleted; close it.")
            )

    # === POSTING === #

    def _check_post_rights(self):
        """Posting moves money: only the system itself (sudo, used by the
        canteen, the device API and payment providers after their own checks)
        and the operator's staff may call it directly."""
        if self.env.su or self.env.user.has_group("multipas_cards.group_operator_clerk"):
            return
        raise AccessError(
            self.env._("Only the card operator's staff may post to personal accounts.")
        )

    def post(self, amount, kind, key, origin=None, note=None, date=None):
        """Post one signed amount on this account and return its ledger entry.

        :param amount: signed, in the company currency: > 0 credits, < 0 debits
        :param kind: one of ``ENTRY_KINDS`` ("topup", "purchase", …)
        :param key: idempotency key, unique per account: posting again with a
            key already used returns the first entry and changes nothing
        :param origin: ``"model,id"`` of what caused the posting
        :param note: free text shown in the ledger
        :param date: when the movement happened, for importing history from a
            previous system (sudo only, never in the future); default: now
        :returns: the ``multipas.account.entry`` (``balance_after`` is the
            balance right after it)
        :raises UserError: when the posting is refused (account frozen or
            closed, insufficient funds, daily limit reached, bad arguments);
            nothing is changed then
        """
        self.ensure_one()
        self._check_post_rights()
        self._validate_post_args(amount, kind, key, origin, note)
        now = fields.Datetime.now()
        if date is not None:
            if not self.env.su:
                raise AccessError(self.env._("Only the system may post with a past date."))
            date = fields.Datetime.to_datetime(date)
            if date > now:
                raise UserError(self.env._("A posting can't be dated in the future."))
        # Pending ORM writes the posting statement reads (the account's state
        # and limits, the holder's class, the school's time zone) must reach
        # the database first; with nothing pending this costs nothing.
        env = self.env
        env.flush_all()
        cr = env.cr
        self._execute_post_statement(
            cr, (self.id, amount, kind, key, origin, note, env.uid, date or now)
        )
        entry_id, status, posted_amount, posted_kind, _balance = cr.fetchone()
        # Everything was flushed above: only the cached values go.
        fields_ = self._fields
        env.cache.invalidate([(fields_[name], self._ids) for name in POSTED_FIELDS])
        if status == "exists":
            currency = self.currency_id
            if posted_kind != kind or currency.compare_amounts(
                float(posted_amount), currency.round(amount)
            ):
                raise UserError(
                    self.env._(
                        "The key “%(key)s” was already used on account %(number)s for "
                        "another posting (%(kind)s %(amount)s).",
                        key=key,
                        number=self.number,
                        kind=self._kind_label(posted_kind),
                        amount=self._fmt(float(posted_amount)),
                    )
                )
        elif status != "posted":
            self._raise_refusal(status, float(posted_amount or 0.0))
        return self.env["multipas.account.entry"].browse(entry_id)

    @staticmethod
    def _execute_post_statement(cr, params):
        """Run the posting function with ``params`` through the statement
        prepared in ``cr``'s database session (prepared with this call when
        the session doesn't have it yet)."""
        # a test cursor (odoo.tests) runs in the session of the test's cursor
        session = cr._cursor if isinstance(cr, TestCursor) else cr
        prepared = getattr(session, "_multipas_post_prepared", False)
        if prepared is None:
            # PREPARE + EXECUTE failed earlier in this session (a serialization
            # failure, say): whether the statement was prepared, the catalog says.
            cr.execute(SQL("SELECT 1 FROM pg_prepared_statements WHERE name = %s", POST_STATEMENT))
            prepared = bool(cr.fetchall())
        try:
            cr.execute(
                EXECUTE_POST_SQL if prepared else PREPARE_AND_EXECUTE_POST_SQL,
                params,
                # A serialization failure here is expected under load: Odoo
                # re-runs the request, so it is not worth an ERROR in the log.
                log_exceptions=False,
            )
        except Exception:
            session._multipas_post_prepared = prepared or None
            raise
        session._multipas_post_prepared = True

    def _validate_post_args(self, amount, kind, key, origin, note):
        """Refuse malformed arguments before touching the database."""
        if kind not in KIND_SIGN:
            raise UserError(self.env._("Unknown kind of posting: %(kind)s.", kind=kind))
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise UserError(
                self.env._(
                    "A posting needs an idempotency key of 1 to %(max)s characters.",
                    max=MAX_KEY_LENGTH,
                )
            )
        if (
            isinstance(amount, bool)
            or not isinstance(amount, (int, float))
            or not math.isfinite(amount)
        ):
            raise UserError(self.env._("The amount must be a number."))
        if not amount:
            raise UserError(self.env._("Nothing to post: the amount is zero."))
        if abs(amount) > MAX_POST_AMOUNT:
            raise UserError(
                self.env._(
                    "%(amount)s is more than a single posting may move (%(max)s).",
                    amount=self._fmt(amount),
                    max=self._fmt(MAX_POST_AMOUNT),
                )
            )
        sign = KIND_SIGN[kind]
        if sign > 0 and amount < 0:
            raise UserError(
                self.env._(
                    "A posting of kind “%(kind)s” must credit the account: give a positive amount.",
                    kind=self._kind_label(kind),
                )
            )
        if sign < 0 and amount > 0:
            raise UserError(
                self.env._(
                    "A posting of kind “%(kind)s” must debit the account: give a negative amount.",
                    kind=self._kind_label(kind),
                )
            )
        if origin is not None and not isinstance(origin, str):
            raise UserError(self.env._("The origin must be written as “model,id”."))
        if note is not None and not isinstance(note, str):
            raise UserError(self.env._("The note must be text."))

    def _raise_refusal(self, status, amount):
        """Explain, in the user's language, why the posting was refused."""
        account = self.sudo()
        if status == "zero":
            raise UserError(
                self.env._(
                    "Nothing to post: the amount rounds to zero in %(currency)s.",
                    currency=account.currency_id.name,
                )
            )
        if status == "closed":
            raise UserError(self.env._("Account %(number)s is closed.", number=account.number))
        if status == "frozen":
            raise UserError(
                self.env._(
                    "Account %(number)s is frozen: no payments until the operator unfreezes it.",
                    number=account.number,
                )
            )
        if status == "funds":
            raise UserError(
                self.env._(
                    "Insufficient funds on account %(number)s: balance %(balance)s, "
                    "%(needed)s needed.",
                    number=account.number,
                    balance=account._fmt(account.balance),
                    needed=account._fmt(-amount),
                )
            )
        if status == "daily_limit":
            raise UserError(
                self.env._(
                    "Daily limit reached on account %(number)s: %(spent)s of "
                    "%(limit)s already spent today.",
                    number=account.number,
                    spent=account._fmt(account.spent_today),
                    limit=account._fmt(account.daily_limit),
                )
            )
        raise UserError(self.env._("Personal account %(id)s doesn't exist.", id=self.id))

    # === STATE === #

    def _check_manager(self):
        if not (self.env.su or self.env.user.has_group("multipas_cards.group_operator_manager")):
            raise AccessError(
                self.env._("Only an operator manager may freeze, unfreeze or close accounts.")
            )

    def action_freeze(self):
        self._check_manager()
        for account in self:
            if account.state != "open":
                raise UserError(
                    self.env._(
                        "Only an open account can be frozen (%(number)s).", number=account.number
                    )
                )
        self.write({"state": "frozen"})

    def action_unfreeze(self):
        self._check_manager()
        for account in self:
            if account.state != "frozen":
                raise UserError(
                    self.env._("Account %(number)s is not frozen.", number=account.number)
                )
        self.write({"state": "open"})

    def action_close(self):
        """Close accounts whose balance is zero (refund or move it first)."""
        self._check_manager()
        for account in self:
            if account.state == "closed":
                raise UserError(
                    self.env._("Account %(number)s is already closed.", number=account.number)
                )
            if not account.currency_id.is_zero(account.balance):
                raise UserError(
                    self.env._(
                        "Account %(number)s still holds %(balance)s: refund it to a "
                        "guardian or move it to another account before closing.",
                        number=account.number,
                        balance=account._fmt(account.balance),
                    )
                )
        self.write({"state": "closed"})

    def action_open_entries(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Ledger of %(number)s", number=self.number),
            "res_model": "multipas.account.entry",
            "view_mode": "list,pivot,graph,form",
            "domain": [("account_id", "=", self.id)],
        }

    def action_open_post_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Post to account"),
            "res_model": "multipas.account.post.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_account_id": self.id},
        }

    # === INTEGRITY === #

    @api.model
    def _find_inconsistent_accounts(self):
        """Return {account_id: reason} for every account whose balance is not
        the sum of its entries or whose chain of balance_after is broken."""
        problems = {}
        self.env["multipas.account"].flush_model()
        rows = self.env.execute_query(
            SQL(
                """
                SELECT a.id, a.balance, COALESCE(e.total, 0), e.last_after
                  FROM multipas_account a
                  LEFT JOIN (
                        SELECT account_id, SUM(amount) AS total,
                               (ARRAY_AGG(balance_after ORDER BY id DESC))[1] AS last_after
                          FROM multipas_account_entry
                         GROUP BY account_id
                  ) e ON e.account_id = a.id
                 WHERE a.balance != COALESCE(e.total, 0)
                    OR a.balance != COALESCE(e.last_after, 0)
                """
            )
        )
        for account_id, balance, total, last_after in rows:
            problems[account_id] = self.env._(
                "balance %(balance)s, sum of entries %(total)s, last balance after %(last)s",
                balance=balance,
                total=total,
                last=last_after,
            )
        rows = self.env.execute_query(
            SQL(
                """
                SELECT account_id, MIN(id)
                  FROM (SELECT account_id, id, amount, balance_after,
                               LAG(balance_after) OVER (PARTITION BY account_id ORDER BY id) AS prev
                          FROM multipas_account_entry) chain
                 WHERE balance_after != COALESCE(prev, 0) + amount
                 GROUP BY account_id
                """
            )
        )
        for account_id, entry_id in rows:
            problems.setdefault(
                account_id,
                self.env._("the chain of balances breaks at entry %(entry)s", entry=entry_id),
            )
        return problems

    @api.model
    def _cron_check_integrity(self):
        """Prove balance == Σ entries for every account; raise an activity for
        the operator on each mismatch (once while it stays open)."""
        manager = operator_manager(self.env)
        # the warnings are written for the manager, in their language
        accounts = in_language_of(manager, self)
        problems = accounts._find_inconsistent_accounts()
        if not problems:
            return
        activity_type = self.env.ref("multipas_cards.mail_activity_ledger_mismatch")
        for account in accounts.browse(list(problems)).sudo():
            _logger.warning(
                "Ledger mismatch on account %s: %s", account.number, problems[account.id]
            )
            if account.activity_ids.filtered(lambda a: a.activity_type_id == activity_type):
                continue
            account.activity_schedule(
                activity_type_id=activity_type.id,
                summary=accounts.env._("Ledger mismatch"),
                note=problems[account.id],
                user_id=manager.id,
            )
