from odoo import fields, models
from odoo.exceptions import UserError


class MultipasRegistrationReturnWizard(models.TransientModel):
    """Return incomplete registration forms with a reason the school (and the
    parent, for a portal form) reads."""

    _name = "multipas.registration.return.wizard"
    _description = "Return registration forms"

    form_ids = fields.Many2many(
        "multipas.registration.form",
        "multipas_registration_return_wizard_form_rel",
        "wizard_id",
        "form_id",
        string="Forms",
        required=True,
    )
    reason = fields.Text(
        required=True,
        help="What is missing or wrong; the coordinator and the parent see this text.",
    )

    def action_confirm(self):
        self.ensure_one()
        if not self.form_ids:
            # Forms the user may not see read as none at all.
            raise UserError(self.env._("Choose the forms to return."))
        self.form_ids._return(self.reason)
        return {"type": "ir.actions.act_window_close"}
