from odoo import api, fields, models

from odoo.addons.base.models.res_partner import _tz_get

from .multipas_portal_tools import in_language_of, operator_manager

# Perm, where the regulation's school is, keeps Yekaterinburg time (UTC+5).
DEFAULT_SCHOOL_TZ = "Asia/Yekaterinburg"


class MultipasSchool(models.Model):
    """A school served by the card operator.

    A school is a record, not a company: it holds no money (regulation §2.2.4).
    The personal accounts of its pupils belong to the operator's company.
    """

    _name = "multipas.school"
    _description = "School"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "name"

    name = fields.Char(required=True, tracking=True)
    code = fields.Char(
        required=True,
        tracking=True,
        help="Short code used on cards, acts and reports, e.g. SCH108.",
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        help="The card operator's company that keeps this school's personal accounts.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    address = fields.Char()
    phone = fields.Char()
    email = fields.Char()
    tz = fields.Selection(
        _tz_get,
        string="Timezone",
        required=True,
        default=DEFAULT_SCHOOL_TZ,
        help="Local time of the school: daily limits, school days and "
        "support hours are counted in it.",
    )
    resource_calendar_id = fields.Many2one(
        "resource.calendar",
        string="Working calendar",
        help="School days, hours and public holidays.",
    )
    user_ids = fields.Many2many(
        "res.users",
        "multipas_school_user_rel",
        "school_id",
        "user_id",
        string="Staff users",
        help="Coordinators, cashiers and other staff who work with this "
        "school's data. What each may do depends on their Multipas role.",
    )
    coordinator_ids = fields.Many2many(
        "res.users",
        compute="_compute_coordinator_ids",
        string="Coordinators",
        help="Staff users with the school coordinator role (regulation §8.1).",
    )
    caterer_id = fields.Many2one(
        "res.partner",
        help="The catering company that runs this school's canteen (regulation §1.2).",
    )
    reserve_min = fields.Integer(
        string="Minimum reserve cards",
        default=10,
        help="The operator is warned when the school's stock of reserve "
        "cards falls below this number (regulation §3.6.3, §8.5).",
    )
    reserve_count = fields.Integer(
        compute="_compute_counts",
        string="Reserve cards",
        help="Cards in the school's stock without a holder, ready to replace a lost one.",
    )
    class_ids = fields.One2many("multipas.class", "school_id", string="Classes")
    cardholder_ids = fields.One2many("multipas.cardholder", "school_id")
    class_count = fields.Integer(compute="_compute_counts")
    cardholder_count = fields.Integer(compute="_compute_counts")
    card_count = fields.Integer(compute="_compute_counts")

    _sql_constraints = [
        ("code_uniq", "unique(code)", "Another school already uses this code."),
        (
            "reserve_min_positive",
            "CHECK(reserve_min >= 0)",
            "The minimum reserve can't be negative.",
        ),
    ]

    @api.depends("user_ids")
    def _compute_coordinator_ids(self):
        for school in self:
            school.coordinator_ids = school.user_ids.filtered(
                lambda u: u.has_group("multipas_cards.group_school_coordinator")
            )

    def _compute_counts(self):
        counts = {
            "class": self.env["multipas.class"]._read_group(
                [("school_id", "in", self.ids)], ["school_id"], ["__count"]
            ),
            "cardholder": self.env["multipas.cardholder"]._read_group(
                [("school_id", "in", self.ids)], ["school_id"], ["__count"]
            ),
            "card": self.env["multipas.card"]._read_group(
                [("school_id", "in", self.ids)], ["school_id"], ["__count"]
            ),
        }
        counts["reserve"] = self.env["multipas.card"]._read_group(
            [("school_id", "in", self.ids), ("state", "=", "stock"), ("holder_id", "=", False)],
            ["school_id"],
            ["__count"],
        )
        by_kind = {
            kind: {school.id: count for school, count in groups} for kind, groups in counts.items()
        }
        for school in self:
            school.class_count = by_kind["class"].get(school.id, 0)
            school.cardholder_count = by_kind["cardholder"].get(school.id, 0)
            school.card_count = by_kind["card"].get(school.id, 0)
            school.reserve_count = by_kind["reserve"].get(school.id, 0)

    @api.model
    def _current_school_year(self, day=None):
        """Return the school year ("2026/2027") that ``day`` belongs to.

        The year starts on 1 September; forms filled from 1 June already name
        next year's class (regulation §3.3.2), which callers handle themselves.
        """
        day = day or fields.Date.context_today(self)
        start = day.year if day.month >= 9 else day.year - 1
        return f"{start}/{start + 1}"

    def _action_open(self, model, name):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": model,
            "view_mode": "list,form",
            "domain": [("school_id", "=", self.id)],
            "context": {
                **{k: v for k, v in self.env.context.items() if k.startswith("search_default_")},
                "default_school_id": self.id,
            },
        }

    def action_open_classes(self):
        return self._action_open("multipas.class", self.env._("Classes"))

    def action_open_cardholders(self):
        action = self._action_open("multipas.cardholder", self.env._("Cardholders"))
        action["view_mode"] = "kanban,list,form"
        return action

    def action_open_cards(self):
        return self._action_open("multipas.card", self.env._("Cards"))

    def _check_reserve_levels(self):
        """Warn the operator when a school's reserve falls below its minimum
        (§3.6.3: the operator supplies reserve cards; §8.5 relies on them).
        One open activity per school at a time, closed once restocked."""
        activity_type = self.env.ref("multipas_cards.mail_activity_reserve_low")
        # The count is computed without dependencies: a value cached earlier in
        # this transaction (a card has just gone into or out of stock) is stale.
        self.invalidate_recordset(["reserve_count"])
        manager = operator_manager(self.env)
        # the warnings are written for the manager, in their language
        schools = in_language_of(manager, self).sudo()
        _ = schools.env._
        for school in schools.filtered("active"):
            open_activities = school.activity_ids.filtered(
                lambda a: a.activity_type_id == activity_type
            )
            if school.reserve_count >= school.reserve_min:
                # Restocked: the warning has done its job.
                open_activities.action_feedback(
                    feedback=_("Reserve restocked: %(count)s cards.", count=school.reserve_count)
                )
                continue
            if open_activities:
                continue
            school.activity_schedule(
                activity_type_id=activity_type.id,
                summary=_("Reserve cards below minimum"),
                note=_(
                    "%(school)s has %(count)s reserve cards left; the minimum is %(minimum)s.",
                    school=school.name,
                    count=school.reserve_count,
                    minimum=school.reserve_min,
                ),
                user_id=manager.id,
            )

    @api.model
    def _cron_check_reserve_levels(self):
        self.search([])._check_reserve_levels()
