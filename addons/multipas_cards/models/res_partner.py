from odoo import api, fields, models
from odoo.exceptions import UserError


class ResPartner(models.Model):
    """Guardians (subscribers, regulation §1.3.2) are partners with portal
    access; children are partners too, behind ``multipas.cardholder``."""

    _inherit = "res.partner"

    # active_test off: an archived child must stay a child for record rules.
    multipas_cardholder_ids = fields.One2many(
        "multipas.cardholder",
        "partner_id",
        string="Cardholder records",
        context={"active_test": False},
    )
    multipas_child_ids = fields.Many2many(
        "multipas.cardholder",
        "multipas_cardholder_guardian_rel",
        "partner_id",
        "cardholder_id",
        string="Children",
        context={"active_test": False},
        help="The cardholders this person is a guardian of.",
    )
    multipas_child_count = fields.Integer(compute="_compute_multipas_child_count")
    multipas_is_guardian = fields.Boolean(
        compute="_compute_multipas_child_count", search="_search_multipas_is_guardian"
    )
    multipas_contract_date = fields.Date(
        string="Subscriber contract signed on",
        help="The day the guardian accepted the subscriber contract (regulation §1.3, §1.6).",
    )
    multipas_contract_version = fields.Char(string="Contract terms version")
    multipas_consent_date = fields.Date(
        string="Personal data consent given on",
        help="Consent to the processing of personal data (Federal Law 152-FZ).",
    )
    multipas_consent_scope = fields.Text(string="Consent scope")
    multipas_consent_taken_by = fields.Many2one("res.users", string="Consent taken by")
    multipas_view_only = fields.Boolean(
        string="View only",
        help="The guardian sees the children's data but can't top up, block "
        "cards or change limits.",
    )

    @api.depends("multipas_child_ids")
    def _compute_multipas_child_count(self):
        for partner in self:
            partner.multipas_child_count = len(partner.multipas_child_ids)
            partner.multipas_is_guardian = bool(partner.multipas_child_ids)

    def _search_multipas_is_guardian(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on guardians."))
        positive = (operator == "=") == value
        return [("multipas_child_ids", "!=" if positive else "=", False)]

    def action_open_multipas_children(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Children"),
            "res_model": "multipas.cardholder",
            "view_mode": "kanban,list,form",
            "domain": [("guardian_ids", "in", self.id)],
        }
