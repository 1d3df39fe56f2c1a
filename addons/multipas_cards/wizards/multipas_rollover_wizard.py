from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..models.multipas_class import SCHOOL_YEAR_RE


class MultipasRolloverWizard(models.TransientModel):
    """The yearly roll-over at the start of a school year.

    Every active class of the old year gets a successor of the next grade
    (same letter, same teacher unless told otherwise) in the new year and its
    pupils move there; pupils of a school's last grade graduate: they get a
    leaving request (reason "graduated") for the operator to confirm. The old
    classes are archived, not deleted: ledger entries keep pointing at them.
    Run twice, the second run finds no active class of the old year left and
    does nothing.
    """

    _name = "multipas.rollover.wizard"
    _description = "School year roll-over"

    school_ids = fields.Many2many(
        "multipas.school",
        string="Schools",
        help="Leave empty to roll over every school.",
    )
    from_year = fields.Char(
        string="From school year",
        required=True,
        default=lambda self: self._default_from_year(),
        help="The school year that ends, written as 2026/2027.",
    )
    to_year = fields.Char(string="To school year", compute="_compute_to_year")
    graduation_date = fields.Date(
        string="Graduates' leaving date",
        required=True,
        default=fields.Date.context_today,
        help="The leaving date written on the graduates' leaving requests.",
    )
    keep_teachers = fields.Boolean(
        string="Keep class teachers",
        default=True,
        help="Each new class gets the teacher of the class it continues.",
    )
    state = fields.Selection(
        [("preview", "Preview"), ("done", "Done")], string="Step", default="preview"
    )
    class_count = fields.Integer(compute="_compute_preview", string="Classes to promote")
    pupil_count = fields.Integer(compute="_compute_preview", string="Pupils to move")
    graduate_class_count = fields.Integer(compute="_compute_preview", string="Graduating classes")
    graduate_count = fields.Integer(compute="_compute_preview", string="Graduates")
    new_class_count = fields.Integer(
        compute="_compute_preview",
        string="Classes to create",
        help="Successor classes that don't exist yet; the others (made for "
        "registration forms, say) are reused.",
    )
    result = fields.Text(readonly=True)

    @api.model
    def _default_from_year(self):
        # The year that ended last: the one that ended this summer
        # (from June to December), else the one before the year under way.
        today = fields.Date.context_today(self)
        start = today.year - 1 if today.month >= 6 else today.year - 2
        return f"{start}/{start + 1}"

    @api.depends("from_year")
    def _compute_to_year(self):
        for wizard in self:
            match = SCHOOL_YEAR_RE.match(wizard.from_year or "")
            wizard.to_year = (
                f"{int(match[1]) + 1}/{int(match[2]) + 1}"
                if match and int(match[2]) == int(match[1]) + 1
                else False
            )

    def _old_classes(self):
        self.ensure_one()
        domain = [("school_year", "=", self.from_year), ("active", "=", True)]
        if self.school_ids:
            domain.append(("school_id", "in", self.school_ids.ids))
        return self.env["multipas.class"].search(domain)

    def _plan(self):
        """What the roll-over does: ``(promotions, graduations)`` where
        promotions are ``[(old class, pupils)]`` and graduations
        ``[(old class, pupils without an open leaving request)]``."""
        self.ensure_one()
        classes = self._old_classes()
        pupils = self.env["multipas.cardholder"].search(
            [("class_id", "in", classes.ids), ("state", "=", "enrolled")]
        )
        by_class = defaultdict(lambda: self.env["multipas.cardholder"])
        for pupil in pupils:
            by_class[pupil.class_id] |= pupil
        reported = set(
            self.env["multipas.leaving"]
            .sudo()
            .search([("holder_id", "in", pupils.ids), ("state", "!=", "cancelled")])
            .holder_id.ids
        )
        promotions, graduations = [], []
        for cls in classes:
            if cls.grade >= cls.school_id.last_grade:
                graduations.append((cls, by_class[cls].filtered(lambda p: p.id not in reported)))
            else:
                promotions.append((cls, by_class[cls]))
        return promotions, graduations

    def _successor(self, cls, create=False):
        Class = self.env["multipas.class"].with_context(active_test=False)
        successor = Class.search(
            [
                ("school_id", "=", cls.school_id.id),
                ("school_year", "=", self.to_year),
                ("grade", "=", cls.grade + 1),
                ("letter", "=", cls.letter),
            ],
            limit=1,
        )
        if successor or not create:
            return successor
        return Class.create(
            {
                "school_id": cls.school_id.id,
                "school_year": self.to_year,
                "grade": cls.grade + 1,
                "letter": cls.letter,
                "teacher_id": cls.teacher_id.id if self.keep_teachers else False,
            }
        )

    @api.depends("school_ids", "from_year")
    def _compute_preview(self):
        for wizard in self:
            if not wizard.to_year:
                wizard.update(
                    {
                        "class_count": 0,
                        "pupil_count": 0,
                        "graduate_class_count": 0,
                        "graduate_count": 0,
                        "new_class_count": 0,
                    }
                )
                continue
            promotions, graduations = wizard._plan()
            wizard.class_count = len(promotions)
            wizard.pupil_count = sum(len(pupils) for _cls, pupils in promotions)
            wizard.graduate_class_count = len(graduations)
            wizard.graduate_count = sum(len(pupils) for _cls, pupils in graduations)
            wizard.new_class_count = sum(
                1 for cls, _pupils in promotions if not wizard._successor(cls)
            )

    def action_run(self):
        """Promote, graduate and archive; then show what was done."""
        self.ensure_one()
        if not (self.env.su or self.env.user.has_group("multipas_cards.group_operator_manager")):
            raise AccessError(self.env._("Only an operator manager may roll the school year over."))
        if not self.to_year:
            raise UserError(
                self.env._(
                    "The school year must be written as two consecutive years, e.g. "
                    "2026/2027 (got %(value)s).",
                    value=self.from_year,
                )
            )
        promotions, graduations = self._plan()
        created = moved = graduated = 0
        for cls, pupils in promotions:
            successor = self._successor(cls)
            if not successor:
                successor = self._successor(cls, create=True)
                created += 1
            elif not successor.active:
                successor.active = True
            # One chatter line per class instead of one per pupil.
            pupils.with_context(mail_notrack=True).write({"class_id": successor.id})
            moved += len(pupils)
            successor.message_post(
                body=self.env._(
                    "%(count)s pupils moved up from %(old)s.",
                    count=len(pupils),
                    old=cls.display_name,
                )
            )
        Leaving = self.env["multipas.leaving"]
        for _cls, pupils in graduations:
            if pupils:
                Leaving.create(
                    [
                        {
                            "holder_id": pupil.id,
                            "reason": "graduated",
                            "leaving_date": self.graduation_date,
                        }
                        for pupil in pupils
                    ]
                )
                graduated += len(pupils)
        old_classes = self.env["multipas.class"].browse(
            [cls.id for cls, _pupils in promotions + graduations]
        )
        old_classes.write({"active": False})
        # Postings read the holder's class in SQL (the class snapshot of each
        # ledger entry): the moves must be in the database before any.
        self.env.flush_all()
        for cls in old_classes:
            cls.message_post(
                body=self.env._("Archived by the roll-over to %(year)s.", year=self.to_year)
            )
        self.write(
            {
                "state": "done",
                "result": self.env._(
                    "%(classes)s classes archived, %(created)s new classes created, "
                    "%(moved)s pupils moved up, %(graduated)s leaving requests for "
                    "graduates.",
                    classes=len(old_classes),
                    created=created,
                    moved=moved,
                    graduated=graduated,
                ),
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("School year roll-over"),
        }
