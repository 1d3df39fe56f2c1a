"""The parents' registration form on the portal (regulation §3.3.1): a
guardian fills in a form for their child; the school's coordinator packs it
and the operator processes it like a paper one."""

from odoo import http
from odoo.http import request

from odoo.addons.portal.controllers.portal import CustomerPortal


class MultipasRegistrationPortal(CustomerPortal):
    def _multipas_registration_values(self, **extra):
        values = self._prepare_portal_layout_values()
        values.update(extra)
        return values

    @http.route("/my/registration", type="http", auth="user", methods=["GET"], website=True)
    def multipas_registration_forms(self, submitted=None, **kw):
        Form = request.env["multipas.registration.form"]
        partner = request.env.user.partner_id
        # Superuser, scoped by the guardian explicitly: a parent without a
        # registered child can't read school records through the rules yet.
        forms = Form.sudo().search(Form._portal_domain(partner), order="id desc", limit=100)
        just_filed = forms.filtered(lambda f: str(f.id) == (submitted or ""))
        return request.render(
            "multipas_cards.portal_my_registration_forms",
            self._multipas_registration_values(
                page_name="multipas_registration",
                forms=forms,
                just_filed=just_filed,
                state_label=Form._portal_state_label,
            ),
        )

    @http.route(
        "/my/registration/new",
        type="http",
        auth="user",
        methods=["GET", "POST"],
        website=True,
        max_content_length=8 * 1024 * 1024,
    )
    def multipas_registration_new(self, **post):
        Form = request.env["multipas.registration.form"]
        partner = request.env.user.partner_id
        errors = {}
        if request.httprequest.method == "POST":
            photo = request.httprequest.files.get("photo")
            form, errors = Form._portal_submit(partner, post, photo)
            if form:
                return request.redirect(f"/my/registration?submitted={form.id}")
            values = {key: value for key, value in post.items() if isinstance(value, str)}
        else:
            values = Form._portal_defaults(partner)
        return request.render(
            "multipas_cards.portal_my_registration_form",
            self._multipas_registration_values(
                page_name="multipas_registration_new",
                values=values,
                errors=errors,
                **Form._portal_options(),
            ),
        )
