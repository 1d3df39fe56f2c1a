from odoo import fields, models


class MultipasBenefitCategory(models.Model):
    """A category of pupils entitled to free or subsidised meals."""

    _name = "multipas.benefit.category"
    _description = "Benefit category"
    _order = "sequence, name"

    name = fields.Char(required=True, translate=True)
    code = fields.Char()
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    description = fields.Text(translate=True)

    _sql_constraints = [
        ("code_uniq", "unique(code)", "Another benefit category already uses this code."),
    ]
