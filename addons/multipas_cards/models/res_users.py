from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    multipas_school_ids = fields.Many2many(
        "multipas.school",
        "multipas_school_user_rel",
        "user_id",
        "school_id",
        string="Multipas schools",
        help="Schools whose data this user works with (coordinators, cashiers).",
    )
