import re

from odoo import api, fields, models
from odoo.exceptions import ValidationError

SCHOOL_YEAR_RE = re.compile(r"^(\d{4})/(\d{4})$")


class MultipasClass(models.Model):
    """A class of a school in one school year, e.g. 5А of 2026/2027."""

    _name = "multipas.class"
    _description = "Class"
    _inherit = ["mail.thread"]
    _order = "school_id, school_year desc, grade, letter"

    name = fields.Char(compute="_compute_name", store=True, index=True)
    school_id = fields.Many2one("multipas.school", required=True, ondelete="restrict", index=True)
    company_id = fields.Many2one(related="school_id.company_id", store=True)
    grade = fields.Integer(required=True, tracking=True)
    letter = fields.Char(required=True, size=2, tracking=True)
    school_year = fields.Char(
        required=True,
        default=lambda self: self.env["multipas.school"]._current_school_year(),
        help="The school year, written as 2026/2027.",
    )
    teacher_id = fields.Many2one(
        "res.users",
        string="Class teacher",
        tracking=True,
        index=True,
        help="Sees the pupils of this class and pays for its organised meals (regulation §8.2).",
    )
    active = fields.Boolean(default=True)
    cardholder_ids = fields.One2many("multipas.cardholder", "class_id", string="Pupils")
    pupil_count = fields.Integer(compute="_compute_pupil_count")

    _sql_constraints = [
        (
            "class_uniq",
            "unique(school_id, school_year, grade, letter)",
            "This class already exists in this school for this school year.",
        ),
        (
            "grade_range",
            "CHECK(grade BETWEEN 0 AND 12)",
            "The grade must be between 0 and 12.",
        ),
    ]

    @api.depends("grade", "letter")
    def _compute_name(self):
        for record in self:
            record.name = f"{record.grade}{(record.letter or '').upper()}"

    def _compute_pupil_count(self):
        groups = self.env["multipas.cardholder"]._read_group(
            [("class_id", "in", self.ids)], ["class_id"], ["__count"]
        )
        counts = {cls.id: count for cls, count in groups}
        for record in self:
            record.pupil_count = counts.get(record.id, 0)

    @api.constrains("school_year")
    def _check_school_year(self):
        for record in self:
            match = SCHOOL_YEAR_RE.match(record.school_year or "")
            if not match or int(match[2]) != int(match[1]) + 1:
                raise ValidationError(
                    self.env._(
                        "The school year must be written as two consecutive "
                        "years, e.g. 2026/2027 (got %(value)s).",
                        value=record.school_year,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("letter"):
                vals["letter"] = vals["letter"].strip().upper()
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("letter"):
            vals["letter"] = vals["letter"].strip().upper()
        result = super().write(vals)
        if "school_id" in vals and not self.env.su:
            # Rules are checked on the records before the write: check again
            # so nobody moves a class into a school they don't serve.
            self.check_access("write")
        return result

    def action_open_pupils(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Pupils of %(name)s", name=self.display_name),
            "res_model": "multipas.cardholder",
            "view_mode": "kanban,list,form",
            "domain": [("class_id", "=", self.id)],
            "context": {"default_class_id": self.id, "default_school_id": self.school_id.id},
        }

    @api.depends("name", "school_id.code", "school_year")
    def _compute_display_name(self):
        for record in self:
            parts = [record.name or ""]
            if record.school_id.code:
                parts.append(record.school_id.code)
            if record.school_year:
                parts.append(record.school_year)
            record.display_name = " · ".join(parts)
