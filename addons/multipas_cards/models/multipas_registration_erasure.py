from odoo import fields, models


class MultipasErasureLogLine(models.Model):
    _inherit = "multipas.erasure.log.line"

    category = fields.Selection(
        selection_add=[("registration_forms", "Registration forms")],
        ondelete={"registration_forms": "cascade"},
    )


class MultipasCardholder(models.Model):
    """The registration forms of a leaver are part of what the leaving
    procedure erases (§8.6): the forms are swept with the person's other
    records and their own fields are blanked."""

    _inherit = "multipas.cardholder"

    def _multipas_registration_forms(self):
        return (
            self.env["multipas.registration.form"]
            .sudo()
            .search(
                ["|", ("cardholder_id", "in", self.ids), ("target_cardholder_id", "in", self.ids)]
            )
        )

    def _multipas_erasure_scope(self):
        scope = super()._multipas_erasure_scope()
        forms = self._multipas_registration_forms()
        scope.setdefault("multipas.registration.form", set()).update(forms.ids)
        scope.setdefault("multipas.registration.form.guardian", set()).update(
            forms.guardian_ids.ids
        )
        return scope

    def _multipas_erase_personal_data(self, terms):
        counts = super()._multipas_erase_personal_data(terms)
        forms = self._multipas_erase_registration_forms()
        if forms:
            counts["registration_forms"] += len(forms)
        return counts
