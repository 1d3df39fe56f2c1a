import re
from datetime import datetime, time, timedelta

import pytz
from dateutil.relativedelta import relativedelta

from odoo import api, models
from odoo.exceptions import UserError

# Top-up amounts offered as one tap in the cabinet, in the account currency.
TOPUP_PRESETS = (300, 500, 1000, 2000)
# Bounds of one online top-up unless the operator sets the system parameters
# multipas_cards.topup_min / multipas_cards.topup_max.
TOPUP_MIN = 100
TOPUP_MAX = 15000
# The most a guardian may set as a daily limit or an alert threshold.
LIMIT_MAX = 100000
# An amount as people type it: digits, optionally a decimal comma or point and
# kopecks; no sign, no exponent, no "nan".
AMOUNT_RE = re.compile(r"^\d{1,12}(?:[.,]\d{1,2})?$")

# Periods of the movements page, newest first.
PERIODS = ("30d", "month", "last_month", "3m", "year", "all")
# Kinds of the movements filter and the ledger kinds they cover.
KIND_FILTERS = {
    "all": None,
    "topup": ("topup",),
    "purchase": ("purchase", "benefit"),
    "fee": ("fee",),
    "refund": ("refund",),
    "other": ("transfer", "adjustment", "closing"),
}


class MultipasAccount(models.Model):
    """What the parents' cabinet reads and changes on a personal account."""

    _inherit = "multipas.account"

    # === AMOUNTS === #

    @api.model
    def _multipas_topup_bounds(self):
        params = self.env["ir.config_parameter"].sudo()
        try:
            low = float(params.get_param("multipas_cards.topup_min", TOPUP_MIN))
            high = float(params.get_param("multipas_cards.topup_max", TOPUP_MAX))
        except ValueError:
            low, high = TOPUP_MIN, TOPUP_MAX
        return low, high

    def _multipas_parse_amount(self, raw, what):
        """A non-negative amount typed by a guardian, as a float rounded to
        the currency, or a translated UserError naming ``what``."""
        if isinstance(raw, bool):
            raw = None
        if isinstance(raw, (int, float)):
            raw = f"{raw:.2f}" if raw >= 0 and raw < 10**9 else str(raw)
        text = (raw or "").strip().replace("\u00a0", "").replace(" ", "")
        if text.endswith(".00") or text.endswith(",00"):
            text = text[:-3]
        if not AMOUNT_RE.match(text):
            raise UserError(
                self.env._("%(what)s must be an amount in roubles, e.g. 500 or 500,50.", what=what)
            )
        currency = self.currency_id or self.env.company.currency_id
        return currency.round(float(text.replace(",", ".")))

    def _multipas_check_topup_amount(self, raw):
        """The amount of an online top-up, checked against the bounds."""
        self.ensure_one()
        amount = self._multipas_parse_amount(raw, self.env._("The top-up amount"))
        low, high = self._multipas_topup_bounds()
        if amount < low or amount > high:
            raise UserError(
                self.env._(
                    "A top-up is from %(min)s to %(max)s.",
                    min=self._fmt(low),
                    max=self._fmt(high),
                )
            )
        return amount

    def _multipas_check_open_for_topup(self):
        self.ensure_one()
        if self.state == "closed":
            raise UserError(
                self.env._(
                    "Account %(number)s is closed: it can't be topped up.", number=self.number
                )
            )

    # === LIMITS === #

    def _multipas_portal_set_limits(self, daily_limit, low_balance_threshold):
        """A guardian (not view-only) sets the daily spending limit and the
        low-balance alert threshold of their child's account."""
        self.ensure_one()
        self.env["res.partner"]._multipas_guardian_check(self.holder_id, act=True)
        values = {
            "daily_limit": self._multipas_parse_amount(daily_limit, self.env._("The daily limit")),
            "low_balance_threshold": self._multipas_parse_amount(
                low_balance_threshold, self.env._("The alert threshold")
            ),
        }
        for value in values.values():
            if value > LIMIT_MAX:
                raise UserError(
                    self.env._("Limits and thresholds go up to %(max)s.", max=self._fmt(LIMIT_MAX))
                )
        self.sudo().write(values)
        return True

    # === HISTORY === #

    def _multipas_tz(self):
        return pytz.timezone(self.school_id.tz or "UTC")

    def _multipas_today(self):
        return datetime.now(pytz.utc).astimezone(self._multipas_tz()).date()

    def _multipas_local_midnight_utc(self, day):
        """Naive UTC of the start of ``day`` in the school's timezone."""
        local = self._multipas_tz().localize(datetime.combine(day, time.min))
        return local.astimezone(pytz.utc).replace(tzinfo=None)

    def _multipas_local_date(self, when):
        return pytz.utc.localize(when).astimezone(self._multipas_tz()).date()

    def _multipas_spending_by_day(self, days=30):
        """[(date, spent)] for the last ``days`` school-local days, oldest
        first: purchases less refunds, never below zero."""
        self.ensure_one()
        today = self._multipas_today()
        first = today - timedelta(days=days - 1)
        entries = self.env["multipas.account.entry"].search_read(
            [
                ("account_id", "=", self.id),
                ("kind", "in", ("purchase", "refund")),
                ("date", ">=", self._multipas_local_midnight_utc(first)),
            ],
            ["date", "amount"],
        )
        spent = dict.fromkeys((first + timedelta(days=n) for n in range(days)), 0.0)
        for entry in entries:
            day = self._multipas_local_date(entry["date"])
            if day in spent:
                spent[day] -= entry["amount"]
        return [(day, max(self.currency_id.round(value), 0.0)) for day, value in spent.items()]

    def _multipas_period_bounds(self, period):
        """(start, end) as naive UTC for a period code of the movements page;
        None where open."""
        self.ensure_one()
        today = self._multipas_today()
        start = end = None
        if period == "30d":
            start = today - timedelta(days=29)
        elif period == "month":
            start = today.replace(day=1)
        elif period == "last_month":
            end = today.replace(day=1)
            start = end - relativedelta(months=1)
        elif period == "3m":
            start = today.replace(day=1) - relativedelta(months=2)
        elif period == "year":
            start = today.replace(month=1, day=1)
        return (
            start and self._multipas_local_midnight_utc(start),
            end and self._multipas_local_midnight_utc(end),
        )

    def _multipas_entry_domain(self, period="30d", kind="all"):
        self.ensure_one()
        if period not in PERIODS or kind not in KIND_FILTERS:
            raise UserError(self.env._("Unknown filter."))
        domain = [("account_id", "=", self.id)]
        start, end = self._multipas_period_bounds(period)
        if start:
            domain.append(("date", ">=", start))
        if end:
            domain.append(("date", "<", end))
        if KIND_FILTERS[kind]:
            domain.append(("kind", "in", KIND_FILTERS[kind]))
        return domain

    def _multipas_month_bounds(self, month):
        """(first day, first day of next month) for "YYYY-MM"."""
        try:
            first = datetime.strptime(month or "", "%Y-%m").date()
        except ValueError:
            raise UserError(self.env._("Choose a month, e.g. 2026-05.")) from None
        if first.year < 2000 or first > self._multipas_today():
            raise UserError(self.env._("Choose a month, e.g. 2026-05."))
        return first, first + relativedelta(months=1)

    def _multipas_statement_values(self, month, partner=None):
        """Everything a monthly statement shows: opening and closing balance,
        the entries of the month oldest first, money in and out."""
        self.ensure_one()
        first, after = self._multipas_month_bounds(month)
        start = self._multipas_local_midnight_utc(first)
        end = self._multipas_local_midnight_utc(after)
        Entry = self.env["multipas.account.entry"]
        before = Entry.search(
            [("account_id", "=", self.id), ("date", "<", start)],
            order="date desc, id desc",
            limit=1,
        )
        entries = Entry.search(
            [("account_id", "=", self.id), ("date", ">=", start), ("date", "<", end)],
            order="date asc, id asc",
        )
        opening = before.balance_after if before else 0.0
        money_in = sum(entries.mapped("amount_in"))
        money_out = sum(entries.mapped("amount_out"))
        return {
            "account": self,
            "month": first,
            "month_last_day": after - timedelta(days=1),
            "opening": opening,
            "closing": entries[-1:].balance_after if entries else opening,
            "money_in": money_in,
            "money_out": money_out,
            "entries": entries,
            "descriptions": entries._multipas_portal_describe(partner),
        }
