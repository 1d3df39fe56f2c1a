from odoo import fields, models


class MultipasSchool(models.Model):
    _inherit = "multipas.school"

    last_grade = fields.Integer(
        string="Last grade",
        default=11,
        required=True,
        tracking=True,
        help="Pupils of this grade graduate at the yearly roll-over: they get "
        "leaving requests instead of a class of the next grade.",
    )

    _sql_constraints = [
        (
            "last_grade_range",
            "CHECK(last_grade BETWEEN 1 AND 12)",
            "The last grade must be between 1 and 12.",
        ),
    ]
