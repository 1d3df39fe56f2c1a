"""The parents' cabinet on Odoo's portal (regulation §1.3.8, §8.3–8.5).

Every route that names a child goes through :meth:`_multipas_child`: the
record rules and an explicit guardian test decide, and anything else (another
family's child, a child who left, an id that doesn't exist) is a plain 404
that says nothing about the record. Changes are made by model methods that
check the guardian again before they use sudo().

Extension points for the canteen and access addons:

- Python: override :meth:`MultipasPortal._multipas_child_values` to add
  values to a child's card and page, and
  ``multipas.account.entry._multipas_portal_describe`` to add lines to the
  movements;
- QWeb: xpath into ``//div[@id='multipas_child_sections']`` (a child's page),
  ``//div[@id='multipas_child_actions']`` (its list of actions),
  ``//div[hasclass('o_multipas_child_card_extra')]`` (each child's card) and
  the template ``multipas_cards.portal_movement_lines``.
"""

import io
import math

import xlsxwriter
from werkzeug.exceptions import NotFound

from odoo import fields, http
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.http import content_disposition, request

from odoo.addons.payment import utils as payment_utils
from odoo.addons.payment.controllers import portal as payment_portal
from odoo.addons.portal.controllers.portal import pager as portal_pager

from ..models.multipas_account_portal import KIND_FILTERS, PERIODS, TOPUP_PRESETS
from ..models.multipas_card_portal import PORTAL_BLOCK_REASONS
from ..models.multipas_card_reissue_request import PORTAL_REISSUE_REASONS

MOVEMENTS_PER_PAGE = 20
CHART_DAYS = 30
# The photo form posts one file; anything far above the 5 MB limit is
# refused by the model with a clear message, beyond this by Odoo itself.
PHOTO_REQUEST_LIMIT = 64 * 1024 * 1024


class MultipasPortal(payment_portal.PaymentPortal):
    # === HELPERS === #

    def _multipas_child(self, child_id):
        """The child ``child_id`` of the current guardian (user env), or 404."""
        try:
            return request.env["res.partner"]._multipas_guardian_check(
                request.env["multipas.cardholder"].browse(child_id)
            )
        except (AccessError, MissingError):
            raise NotFound() from None

    def _multipas_view_only(self):
        return request.env.user.partner_id.multipas_view_only

    def _multipas_render(self, template, values, status=200):
        base = self._prepare_portal_layout_values()
        base.update(values)
        return request.render(template, base, status=status)

    def _multipas_message(self, title, message, status, back_url=None):
        """A page saying why nothing happened (bad input, view-only access)."""
        return self._multipas_render(
            "multipas_cards.portal_multipas_message",
            {
                "page_name": "multipas_message",
                "title": title,
                "message": message,
                "back_url": back_url or "/my/children",
            },
            status=status,
        )

    def _multipas_forbidden(self, child):
        return self._multipas_message(
            request.env._("View only"),
            request.env._(
                "Your access to the cabinet is view only: ask the operator or the other "
                "guardian to make this change."
            ),
            403,
            f"/my/children/{child.id}",
        )

    def _multipas_csrf_failed(self, kw):
        """Check the CSRF token of a form ourselves: Odoo's own refusal is an
        untranslated error page, the guardian deserves a sentence."""
        if request.validate_csrf(kw.pop("csrf_token", None)):
            return None
        return self._multipas_message(
            request.env._("The page has expired"),
            request.env._(
                "For your safety the form was not accepted: it was opened too long ago or "
                "from another site. Go back, reload the page and try again."
            ),
            400,
        )

    def _multipas_submit(self, kw, action):
        """Handle a POSTed form: check its CSRF token, run ``action()``, which
        returns the URL to go to once done, and keep a refusal (``UserError``,
        ``ValidationError``) as the sentence to show above the form again. A
        refused action leaves nothing behind (it runs in a savepoint): the
        form is shown again in a request that still commits.

        :returns: ``(response, error)``: a response to return at once (the
            CSRF refusal, or the redirect after success), else the message
        """
        refused = self._multipas_csrf_failed(kw)
        if refused:
            return refused, None
        try:
            with request.env.cr.savepoint():
                url = action()
        except UserError as error_:  # ValidationError included
            return None, error_.args[0]
        return request.redirect(url), None

    def _multipas_flash(self, code):
        messages = {
            "blocked": request.env._(
                "The card is blocked: it no longer works in the canteen or at the "
                "turnstile. The money stays on the account."
            ),
            "reissue": request.env._(
                "Your request for a new card is sent to the school coordinator."
            ),
            "reissue_exists": request.env._("A new card is already requested for this child."),
            "photo": request.env._(
                "Thank you! The photo will be shown at the canteen once the school approves it."
            ),
            "limits": request.env._("The limits are saved."),
            "notifications": request.env._("Your notification settings are saved."),
            "consent": request.env._(
                "Your withdrawal is recorded; the operator has been told and will contact you."
            ),
        }
        return messages.get(code)

    def _multipas_breadcrumbs(self, child=None, title=None):
        crumbs = [(request.env._("Children"), "/my/children")]
        if child:
            crumbs.append((child.name, f"/my/children/{child.id}"))
        if title:
            crumbs.append((title, None))
        return crumbs

    def _multipas_card_status(self, child):
        """(card, status) with status active / blocked / pending / none."""
        cards = child.card_ids
        issued = cards.filtered(lambda c: c.state == "issued")[:1]
        if issued:
            return issued, "active"
        blocked = cards.filtered(lambda c: c.state == "blocked").sorted(
            "blocked_date", reverse=True
        )[:1]
        if blocked:
            return blocked, "blocked"
        coming = cards.filtered(lambda c: c.state in ("new", "stock"))[:1]
        if coming:
            return coming, "pending"
        return cards.browse(), "none"

    def _multipas_chart(self, account):
        """Bars of an inline SVG of the last 30 days' spending (no JS)."""
        days = account._multipas_spending_by_day(CHART_DAYS)
        top = max([amount for _day, amount in days] + [account.daily_limit, 1.0])
        height, slot = 60.0, 10.0
        bars = []
        for index, (day, amount) in enumerate(days):
            bar_height = round(amount / top * height, 2)
            bars.append(
                {
                    "x": index * slot + 1,
                    "y": round(height - bar_height, 2),
                    "width": slot - 2,
                    "height": bar_height,
                    "title": f"{day:%d.%m}: {account._fmt(amount)}",
                    "today": index == len(days) - 1,
                }
            )
        total = sum(amount for _day, amount in days)
        busiest = max(days, key=lambda item: item[1])
        return {
            "bars": bars,
            "width": CHART_DAYS * slot,
            "height": height,
            "limit_y": (
                round(height - account.daily_limit / top * height, 2)
                if account.daily_limit
                else None
            ),
            "total": total,
            "max": busiest[1],
            "summary": request.env._(
                "Spending over the last 30 days: %(total)s in all, at most %(max)s a day.",
                total=account._fmt(total),
                max=account._fmt(busiest[1]),
            ),
        }

    def _multipas_child_values(self, child):
        """What a child's card and page show. Other addons add their own
        values here (the canteen: today's meals; access: in school or not)."""
        account = child.account_id
        card, card_status = self._multipas_card_status(child)
        request_sudo = (
            request.env["multipas.card.reissue"]
            .sudo()
            .search([("holder_id", "=", child.id), ("state", "=", "requested")], limit=1)
        )
        spent = account.spent_today
        return {
            "child": child,
            "account": account,
            "currency": account.currency_id,
            "card": card,
            "card_status": card_status,
            "reissue_request": request_sudo,
            "low_balance": bool(
                account.low_balance_threshold and account.balance < account.low_balance_threshold
            ),
            "spent_today": spent,
            "limit_percent": (
                min(100, round(spent / account.daily_limit * 100)) if account.daily_limit else 0
            ),
            "chart": self._multipas_chart(account),
            "view_only": self._multipas_view_only(),
        }

    # === HOME === #

    @http.route()
    def home(self, **kw):
        response = super().home(**kw)
        children = request.env["res.partner"]._multipas_portal_children()
        response.qcontext["multipas_children"] = [
            self._multipas_child_values(child) for child in children
        ]
        return response

    @http.route("/my/children", type="http", auth="user", website=True, methods=["GET"])
    def multipas_children(self, **kw):
        children = request.env["res.partner"]._multipas_portal_children()
        return self._multipas_render(
            "multipas_cards.portal_my_children",
            {
                "page_name": "multipas_children",
                "children": [self._multipas_child_values(child) for child in children],
            },
        )

    @http.route(
        "/my/children/<int:child_id>", type="http", auth="user", website=True, methods=["GET"]
    )
    def multipas_child(self, child_id, message=None, **kw):
        child = self._multipas_child(child_id)
        values = self._multipas_child_values(child)
        values.update(
            c=dict(values),
            page_name="multipas_child",
            multipas_breadcrumbs=self._multipas_breadcrumbs(child),
            flash=self._multipas_flash(message),
            reissue_fee=request.env["product.template"]._multipas_price(
                "card_reissue", child.sudo().company_id
            ),
        )
        return self._multipas_render("multipas_cards.portal_my_child", values)

    @http.route(
        "/my/children/<int:child_id>/photo/<string:which>",
        type="http",
        auth="user",
        methods=["GET"],
    )
    def multipas_child_photo_image(self, child_id, which, **kw):
        """The child's photo (approved) or the one waiting for approval."""
        child = self._multipas_child(child_id)
        fields_by_kind = {"current": "image_512", "pending": "photo_pending"}
        if which not in fields_by_kind:
            raise NotFound()
        # After the ownership check: the pending photo is not readable by
        # guardians through the ORM (it's the school's to approve).
        stream = request.env["ir.binary"]._get_image_stream_from(
            child.sudo(), fields_by_kind[which], placeholder="web/static/img/user_menu_avatar.png"
        )
        response = stream.get_response(max_age=0)
        response.headers["Cache-Control"] = "private, no-store"
        return response

    # === MOVEMENTS === #

    def _multipas_movement_filters(self, period, kind):
        period = period if period in PERIODS else "30d"
        kind = kind if kind in KIND_FILTERS else "all"
        return period, kind

    def _multipas_period_labels(self):
        _ = request.env._
        return [
            ("30d", _("Last 30 days")),
            ("month", _("This month")),
            ("last_month", _("Last month")),
            ("3m", _("Last 3 months")),
            ("year", _("This year")),
            ("all", _("All time")),
        ]

    def _multipas_kind_labels(self):
        _ = request.env._
        return [
            ("all", _("All movements")),
            ("topup", _("Top-ups")),
            ("purchase", _("Purchases and meals")),
            ("fee", _("Fees")),
            ("refund", _("Refunds")),
            ("other", _("Other")),
        ]

    def _multipas_statement_months(self, account):
        today = account._multipas_today().replace(day=1)
        months = []
        for offset in range(12):
            year, month = divmod(today.year * 12 + today.month - 1 - offset, 12)
            months.append(f"{year:04d}-{month + 1:02d}")
        return months

    @http.route(
        [
            "/my/children/<int:child_id>/movements",
            "/my/children/<int:child_id>/movements/page/<int:page>",
        ],
        type="http",
        auth="user",
        website=True,
        methods=["GET"],
    )
    def multipas_movements(self, child_id, page=1, period=None, kind=None, **kw):
        child = self._multipas_child(child_id)
        account = child.account_id
        period, kind = self._multipas_movement_filters(period, kind)
        Entry = request.env["multipas.account.entry"]
        domain = account._multipas_entry_domain(period, kind)
        total = Entry.search_count(domain)
        pager = portal_pager(
            url=f"/my/children/{child.id}/movements",
            url_args={"period": period, "kind": kind},
            total=total,
            page=page,
            step=MOVEMENTS_PER_PAGE,
        )
        entries = Entry.search(domain, limit=MOVEMENTS_PER_PAGE, offset=pager["offset"])
        partner = request.env.user.partner_id
        return self._multipas_render(
            "multipas_cards.portal_child_movements",
            {
                "page_name": "multipas_child_movements",
                "multipas_breadcrumbs": self._multipas_breadcrumbs(
                    child, request.env._("Movements")
                ),
                "child": child,
                "account": account,
                "currency": account.currency_id,
                "entries": entries,
                "descriptions": entries._multipas_portal_describe(partner),
                "pager": pager,
                "total": total,
                "period": period,
                "kind": kind,
                "periods": self._multipas_period_labels(),
                "kinds": self._multipas_kind_labels(),
                "months": self._multipas_statement_months(account),
            },
        )

    @http.route(
        "/my/children/<int:child_id>/movements/xlsx",
        type="http",
        auth="user",
        methods=["GET"],
    )
    def multipas_movements_xlsx(self, child_id, period=None, kind=None, **kw):
        child = self._multipas_child(child_id)
        account = child.account_id
        period, kind = self._multipas_movement_filters(period, kind)
        entries = request.env["multipas.account.entry"].search(
            account._multipas_entry_domain(period, kind)
        )
        descriptions = entries._multipas_portal_describe(request.env.user.partner_id)
        content = self._multipas_xlsx(child, account, entries, descriptions)
        filename = f"{account.number}-{fields.Date.today()}.xlsx"
        return request.make_response(
            content,
            headers=[
                (
                    "Content-Type",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ),
                ("Content-Disposition", content_disposition(filename)),
                ("Cache-Control", "private, no-store"),
            ],
        )

    def _multipas_xlsx(self, child, account, entries, descriptions):
        _ = request.env._
        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {"in_memory": True})
        sheet = workbook.add_worksheet(_("Movements"))
        bold = workbook.add_format({"bold": True})
        money = workbook.add_format({"num_format": "#,##0.00"})
        when = workbook.add_format({"num_format": "dd.mm.yyyy hh:mm"})
        sheet.write(0, 0, child.name, bold)
        sheet.write(1, 0, _("Personal account %(number)s", number=account.number))
        headers = [_("Date"), _("Movement"), _("Details"), _("Amount"), _("Balance after")]
        for column, header in enumerate(headers):
            sheet.write(3, column, header, bold)
        tz = account._multipas_tz()
        for row, entry in enumerate(entries, start=4):
            info = descriptions[entry.id]
            local = fields.Datetime.context_timestamp(entry.with_context(tz=tz.zone), entry.date)
            sheet.write_datetime(row, 0, local.replace(tzinfo=None), when)
            sheet.write(row, 1, info["title"])
            details = "; ".join(
                [info["detail"]] * bool(info["detail"])
                + [f"{line['name']} × {line['quantity']}" for line in info["lines"]]
            )
            sheet.write(row, 2, details)
            sheet.write_number(row, 3, entry.amount, money)
            sheet.write_number(row, 4, entry.balance_after, money)
        sheet.set_column(0, 0, 17)
        sheet.set_column(1, 1, 22)
        sheet.set_column(2, 2, 40)
        sheet.set_column(3, 4, 14)
        workbook.close()
        return output.getvalue()

    @http.route(
        "/my/children/<int:child_id>/statement",
        type="http",
        auth="user",
        website=True,
        methods=["GET"],
    )
    def multipas_statement(self, child_id, month=None, **kw):
        """The monthly statement as PDF (QWeb report)."""
        child = self._multipas_child(child_id)
        account = child.account_id
        try:
            account._multipas_month_bounds(month)
        except UserError as error:
            return self._multipas_message(
                request.env._("No statement"),
                error.args[0],
                400,
                f"/my/children/{child.id}/movements",
            )
        # Sudo after the ownership check: the report model checks the
        # guardian again for the real user.
        content, report_type = (
            request.env["ir.actions.report"]
            .sudo()
            ._render_qweb_pdf(
                "multipas_cards.action_report_account_statement",
                [account.id],
                data={"month": month},
            )
        )
        mimetype = "application/pdf" if report_type == "pdf" else "text/html; charset=utf-8"
        filename = f"{account.number}-{month}.{'pdf' if report_type == 'pdf' else 'html'}"
        return request.make_response(
            content,
            headers=[
                ("Content-Type", mimetype),
                ("Content-Disposition", content_disposition(filename)),
                ("Cache-Control", "private, no-store"),
            ],
        )

    # === TOP-UP === #

    def _multipas_topup_context(self, child, amount):
        """The values of Odoo's payment form (payment.form) for a top-up."""
        account = child.account_id
        partner = request.env.user.partner_id
        company = account.company_id
        currency = account.currency_id
        report = {}
        providers_sudo = (
            request.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                company.id, partner.id, amount, currency_id=currency.id, report=report
            )
        )
        methods_sudo = (
            request.env["payment.method"]
            .sudo()
            ._get_compatible_payment_methods(
                providers_sudo.ids, partner.id, currency_id=currency.id, report=report
            )
        )
        tokens_sudo = (
            request.env["payment.token"]
            .sudo()
            ._get_available_tokens(providers_sudo.ids, partner.id)
        )
        return {
            "reference_prefix": f"MP{account.number}",
            "amount": amount,
            "currency": currency,
            "partner_id": partner.id,
            "providers_sudo": providers_sudo,
            "payment_methods_sudo": methods_sudo,
            "tokens_sudo": tokens_sudo,
            "availability_report": report,
            "transaction_route": f"/my/children/{child.id}/topup/transaction",
            "landing_route": f"/my/children/{child.id}/topup/done",
            "access_token": self._multipas_topup_token(partner, amount, account),
            "show_tokenize_input_mapping": self._compute_show_tokenize_input_mapping(
                providers_sudo
            ),
        }

    @staticmethod
    def _multipas_topup_token(partner, amount, account):
        # Binds the guardian, the amount, the currency and the account: the
        # browser can't change any of them between the form and the payment.
        return payment_utils.generate_access_token(
            partner.id, float(amount), account.currency_id.id, account.id
        )

    def _multipas_topup_page(self, child, error=None, amount_other=None, preset=None):
        account = child.account_id
        low, high = account._multipas_topup_bounds()
        return self._multipas_render(
            "multipas_cards.portal_child_topup",
            {
                "page_name": "multipas_child_topup",
                "multipas_breadcrumbs": self._multipas_breadcrumbs(child, request.env._("Top up")),
                "child": child,
                "account": account,
                "currency": account.currency_id,
                "presets": TOPUP_PRESETS,
                "preset": preset if preset in TOPUP_PRESETS else 500,
                "amount_other": amount_other or "",
                "topup_min": low,
                "topup_max": high,
                "error": error,
                "company": account.sudo().company_id,
            },
            status=400 if error else 200,
        )

    @http.route(
        "/my/children/<int:child_id>/topup", type="http", auth="user", website=True, methods=["GET"]
    )
    def multipas_topup(self, child_id, **kw):
        child = self._multipas_child(child_id)
        if self._multipas_view_only():
            return self._multipas_forbidden(child)
        return self._multipas_topup_page(child)

    @http.route(
        "/my/children/<int:child_id>/topup/pay",
        type="http",
        auth="user",
        website=True,
        methods=["GET"],
    )
    def multipas_topup_pay(self, child_id, amount=None, amount_other=None, **kw):
        child = self._multipas_child(child_id)
        if self._multipas_view_only():
            return self._multipas_forbidden(child)
        account = child.account_id
        raw = amount_other if (amount_other or "").strip() else amount
        try:
            account._multipas_check_open_for_topup()
            value = account._multipas_check_topup_amount(raw)
        except UserError as error:
            preset = payment_portal.PaymentPortal._cast_as_int(amount)
            return self._multipas_topup_page(
                child, error=error.args[0], amount_other=amount_other, preset=preset
            )
        values = {
            "page_name": "multipas_child_topup",
            "multipas_breadcrumbs": self._multipas_breadcrumbs(child, request.env._("Top up")),
            "child": child,
            "account": account,
        }
        values.update(self._multipas_topup_context(child, value))
        return self._multipas_render("multipas_cards.portal_child_topup_pay", values)

    @http.route("/my/children/<int:child_id>/topup/transaction", type="json", auth="user")
    def multipas_topup_transaction(self, child_id, amount=None, access_token=None, **kwargs):
        """Create the payment transaction of a top-up (called by the payment form)."""
        try:
            child = request.env["res.partner"]._multipas_guardian_check(
                request.env["multipas.cardholder"].browse(child_id), act=True
            )
        except MissingError:
            raise AccessError(request.env._("This child is not in your cabinet.")) from None
        account = child.account_id
        account._multipas_check_open_for_topup()
        value = account._multipas_check_topup_amount(amount)
        partner = request.env.user.partner_id
        if not payment_utils.check_access_token(
            access_token, partner.id, float(value), account.currency_id.id, account.id
        ):
            raise ValidationError(
                request.env._("The payment form has expired: reload the page and try again.")
            )
        self._validate_transaction_kwargs(kwargs)
        if kwargs.get("is_validation"):
            raise ValidationError(request.env._("A top-up is a payment, not a card check."))
        compatible = (
            request.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                account.company_id.id, partner.id, value, currency_id=account.currency_id.id
            )
        )
        provider_id = payment_portal.PaymentPortal._cast_as_int(kwargs.get("provider_id"))
        if kwargs.get("flow") == "token":
            token = (
                request.env["payment.token"]
                .sudo()
                .browse(payment_portal.PaymentPortal._cast_as_int(kwargs.get("token_id")))
            )
            provider_id = token.exists().provider_id.id
        if provider_id not in compatible.ids:
            raise ValidationError(request.env._("This payment method can't be used here."))
        # Our landing page, whatever the browser sent.
        kwargs["landing_route"] = f"/my/children/{child.id}/topup/done"
        tx_sudo = self._create_transaction(
            amount=value,
            currency_id=account.currency_id.id,
            partner_id=partner.id,
            reference_prefix=f"MP{account.number}",
            custom_create_values={"multipas_account_id": account.id},
            **kwargs,
        )
        tx_sudo.landing_route = f"/my/children/{child.id}/topup/done?tx_id={tx_sudo.id}"
        return tx_sudo._get_processing_values()

    @http.route(
        "/my/children/<int:child_id>/topup/done",
        type="http",
        auth="user",
        website=True,
        methods=["GET"],
    )
    def multipas_topup_done(self, child_id, tx_id=None, **kw):
        child = self._multipas_child(child_id)
        account = child.account_id
        tx_sudo = (
            request.env["payment.transaction"]
            .sudo()
            .browse(payment_portal.PaymentPortal._cast_as_int(tx_id) or 0)
            .exists()
        )
        if (
            not tx_sudo
            or tx_sudo.multipas_account_id != account
            or tx_sudo.partner_id != request.env.user.partner_id
        ):
            raise NotFound()
        if tx_sudo.state == "done" and not tx_sudo.is_post_processed:
            tx_sudo._post_process()  # idempotent: keyed by the reference
        account.invalidate_recordset(["balance"])
        return self._multipas_render(
            "multipas_cards.portal_child_topup_done",
            {
                "page_name": "multipas_child_topup",
                "multipas_breadcrumbs": self._multipas_breadcrumbs(child, request.env._("Top up")),
                "child": child,
                "account": account,
                "currency": account.currency_id,
                "tx": tx_sudo,
            },
        )

    # === CARD === #

    @http.route(
        "/my/children/<int:child_id>/block",
        type="http",
        auth="user",
        website=True,
        methods=["GET", "POST"],
        csrf=False,  # checked by _multipas_csrf_failed, with a translated message
    )
    def multipas_block(self, child_id, **kw):
        child = self._multipas_child(child_id)
        if self._multipas_view_only():
            return self._multipas_forbidden(child)
        card, card_status = self._multipas_card_status(child)
        error = None
        if request.httprequest.method == "POST":

            def block():
                if card_status != "active":
                    raise UserError(request.env._("This child has no card in use to block."))
                card._multipas_portal_block(kw.get("reason") or "")
                return f"/my/children/{child.id}?message=blocked"

            response, error = self._multipas_submit(kw, block)
            if response:
                return response
        return self._multipas_render(
            "multipas_cards.portal_child_block",
            {
                "page_name": "multipas_child_block",
                "multipas_breadcrumbs": self._multipas_breadcrumbs(
                    child, request.env._("Block the card")
                ),
                "child": child,
                "card": card,
                "card_status": card_status,
                "reasons": PORTAL_BLOCK_REASONS,
                "error": error,
                "reissue_fee": request.env["product.template"]._multipas_price(
                    "card_reissue", child.sudo().company_id
                ),
                "currency": child.account_id.currency_id,
            },
            status=400 if error else 200,
        )

    @http.route(
        "/my/children/<int:child_id>/reissue",
        type="http",
        auth="user",
        website=True,
        methods=["GET", "POST"],
        csrf=False,  # checked by _multipas_csrf_failed, with a translated message
    )
    def multipas_reissue(self, child_id, **kw):
        child = self._multipas_child(child_id)
        if self._multipas_view_only():
            return self._multipas_forbidden(child)
        error = None
        if request.httprequest.method == "POST":

            def request_card():
                __, created = request.env["multipas.card.reissue"]._multipas_portal_request(
                    child, kw.get("reason") or ""
                )
                code = "reissue" if created else "reissue_exists"
                return f"/my/children/{child.id}?message={code}"

            response, error = self._multipas_submit(kw, request_card)
            if response:
                return response
        card, card_status = self._multipas_card_status(child)
        values = self._multipas_child_values(child)
        values.update(
            {
                "page_name": "multipas_child_reissue",
                "multipas_breadcrumbs": self._multipas_breadcrumbs(
                    child, request.env._("New card")
                ),
                "reasons": PORTAL_REISSUE_REASONS,
                "error": error,
                "reissue_fee": request.env["product.template"]._multipas_price(
                    "card_reissue", child.sudo().company_id
                ),
            }
        )
        return self._multipas_render(
            "multipas_cards.portal_child_reissue", values, status=400 if error else 200
        )

    # === PHOTO === #

    @http.route(
        "/my/children/<int:child_id>/photo",
        type="http",
        auth="user",
        website=True,
        methods=["GET", "POST"],
        csrf=False,  # checked by _multipas_csrf_failed, with a translated message
        max_content_length=PHOTO_REQUEST_LIMIT,
    )
    def multipas_photo(self, child_id, **kw):
        child = self._multipas_child(child_id)
        error = None
        if request.httprequest.method == "POST":
            if self._multipas_view_only():
                return self._multipas_forbidden(child)

            def submit_photo():
                upload = kw.get("photo")
                if not hasattr(upload, "read"):
                    raise UserError(request.env._("Choose a photo to upload."))
                child._multipas_portal_submit_photo(upload.read())
                return f"/my/children/{child.id}/photo?message=photo"

            response, error = self._multipas_submit(kw, submit_photo)
            if response:
                return response
        child_sudo = child.sudo()
        return self._multipas_render(
            "multipas_cards.portal_child_photo",
            {
                "page_name": "multipas_child_photo",
                "multipas_breadcrumbs": self._multipas_breadcrumbs(child, request.env._("Photo")),
                "child": child,
                "photo_state": child_sudo.photo_state,
                "photo_pending_date": child_sudo.photo_pending_date,
                "photo_reject_reason": child_sudo.photo_reject_reason,
                "has_photo": bool(child_sudo.image_1920),
                "has_pending": bool(child_sudo.photo_pending),
                "error": error,
                "flash": self._multipas_flash(kw.get("message")),
                "view_only": self._multipas_view_only(),
                "stamp": int((child_sudo.write_date or fields.Datetime.now()).timestamp()),
            },
            status=400 if error else 200,
        )

    # === CHANGE OF DATA (§4.1.2) === #

    @http.route(
        "/my/children/<int:child_id>/change",
        type="http",
        auth="user",
        website=True,
        methods=["GET", "POST"],
        csrf=False,  # checked by _multipas_csrf_failed, with a translated message
    )
    def multipas_change(self, child_id, **kw):
        child = self._multipas_child(child_id)
        if self._multipas_view_only():
            return self._multipas_forbidden(child)
        Form = request.env["multipas.registration.form"]
        errors = {}
        if request.httprequest.method == "POST":
            refused = self._multipas_csrf_failed(kw)
            if refused:
                return refused
            form, errors = Form._portal_submit_change(child, kw)
            if form:
                return request.redirect(f"/my/registration?submitted={form.id}")
            values = {key: value for key, value in kw.items() if isinstance(value, str)}
        else:
            values = Form._portal_change_defaults(child)
        child_sudo = child.sudo()
        return self._multipas_render(
            "multipas_cards.portal_child_change",
            {
                "page_name": "multipas_child_change",
                "multipas_breadcrumbs": self._multipas_breadcrumbs(
                    child, request.env._("Change of data")
                ),
                "child": child,
                "school": child_sudo.school_id,
                "school_class": child_sudo.class_id,
                "pending": Form._portal_pending_change(child),
                "benefits": Form._portal_options()["benefits"],
                "values": values,
                "errors": errors,
            },
            status=400 if errors else 200,
        )

    # === LIMITS === #

    @http.route(
        "/my/children/<int:child_id>/limits",
        type="http",
        auth="user",
        website=True,
        methods=["GET", "POST"],
        csrf=False,  # checked by _multipas_csrf_failed, with a translated message
    )
    def multipas_limits(self, child_id, **kw):
        child = self._multipas_child(child_id)
        account = child.account_id
        error = None
        if request.httprequest.method == "POST":
            if self._multipas_view_only():
                return self._multipas_forbidden(child)

            def set_limits():
                account._multipas_portal_set_limits(
                    kw.get("daily_limit"), kw.get("low_balance_threshold")
                )
                return f"/my/children/{child.id}/limits?message=limits"

            response, error = self._multipas_submit(kw, set_limits)
            if response:
                return response
        return self._multipas_render(
            "multipas_cards.portal_child_limits",
            {
                "page_name": "multipas_child_limits",
                "multipas_breadcrumbs": self._multipas_breadcrumbs(
                    child, request.env._("Limits and alerts")
                ),
                "child": child,
                "account": account,
                "currency": account.currency_id,
                "daily_limit": kw.get("daily_limit", _amount_text(account.daily_limit)),
                "low_balance_threshold": kw.get(
                    "low_balance_threshold", _amount_text(account.low_balance_threshold)
                ),
                "error": error,
                "flash": self._multipas_flash(kw.get("message")),
                "view_only": self._multipas_view_only(),
            },
            status=400 if error else 200,
        )

    # === THE GUARDIAN === #

    @http.route(
        "/my/notifications",
        type="http",
        auth="user",
        website=True,
        methods=["GET", "POST"],
        csrf=False,  # checked by _multipas_csrf_failed, with a translated message
    )
    def multipas_notifications(self, **kw):
        partner = request.env.user.partner_id
        if not request.env["res.partner"]._multipas_portal_children():
            raise NotFound()
        Partner = request.env["res.partner"]
        error = None
        if request.httprequest.method == "POST":

            def set_preferences():
                partner.with_env(request.env)._multipas_portal_set_preferences(
                    request.httprequest.form.getlist("channel"),
                    kw.get("quiet_from"),
                    kw.get("quiet_to"),
                )
                return "/my/notifications?message=notifications"

            response, error = self._multipas_submit(kw, set_preferences)
            if response:
                return response
        channels = request.env["multipas.notification.channel"].sudo().search([])
        return self._multipas_render(
            "multipas_cards.portal_my_notifications",
            {
                "page_name": "multipas_notifications",
                "multipas_breadcrumbs": [(request.env._("Notifications"), None)],
                "partner": partner,
                "channels": channels,
                "chosen": partner._multipas_notification_channels(),
                "quiet_from": kw.get(
                    "quiet_from", Partner._multipas_format_time(partner.multipas_quiet_from)
                ),
                "quiet_to": kw.get(
                    "quiet_to", Partner._multipas_format_time(partner.multipas_quiet_to)
                ),
                "error": error,
                "flash": self._multipas_flash(kw.get("message")),
            },
            status=400 if error else 200,
        )

    @http.route(
        "/my/consents",
        type="http",
        auth="user",
        website=True,
        methods=["GET", "POST"],
        csrf=False,  # checked by _multipas_csrf_failed, with a translated message
    )
    def multipas_consents(self, **kw):
        partner = request.env.user.partner_id
        if not (partner.multipas_contract_date or partner.multipas_child_ids):
            raise NotFound()
        error = None
        if request.httprequest.method == "POST":

            def withdraw():
                if kw.get("confirm") != "1":
                    raise UserError(
                        request.env._("Tick the box to confirm that you withdraw your consent.")
                    )
                partner.with_env(request.env)._multipas_withdraw_consent()
                return "/my/consents?message=consent"

            response, error = self._multipas_submit(kw, withdraw)
            if response:
                return response
        return self._multipas_render(
            "multipas_cards.portal_my_consents",
            {
                "page_name": "multipas_consents",
                "multipas_breadcrumbs": [(request.env._("Contract and consents"), None)],
                "partner": partner,
                "error": error,
                "flash": self._multipas_flash(kw.get("message")),
            },
            status=400 if error else 200,
        )


def _amount_text(value):
    """500.0 -> "500", 12.5 -> "12.50" (what a number input shows)."""
    if not math.isfinite(value):
        return ""
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"
