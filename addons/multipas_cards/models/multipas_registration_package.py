from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError

from .multipas_registration_form import TRANSITION

PACKAGE_STATES = [
    ("draft", "Draft"),
    ("handed_over", "Handed over"),
    ("received", "Received by operator"),
    ("processed", "Processed"),
]
PROTECTED_FIELDS = {
    "state",
    "handed_over_date",
    "handed_over_by_id",
    "received_date",
    "received_by_id",
    "processed_date",
}


class MultipasRegistrationPackage(models.Model):
    """A package of registration forms the school hands over to the operator
    with a record of how many sets of documents it holds (regulation §3.3.5)."""

    _name = "multipas.registration.package"
    _description = "Package of registration forms"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Number", required=True, readonly=True, copy=False, default="/", index=True
    )
    school_id = fields.Many2one(
        "multipas.school", required=True, index=True, tracking=True, ondelete="restrict"
    )
    company_id = fields.Many2one(related="school_id.company_id", store=True, index=True)
    declared_count = fields.Integer(
        string="Declared forms",
        tracking=True,
        help="How many sets of documents the coordinator counted into the package.",
    )
    form_ids = fields.One2many("multipas.registration.form", "package_id", string="Forms")
    actual_count = fields.Integer(
        string="Forms in the package", compute="_compute_counts", store=True
    )
    count_mismatch = fields.Boolean(
        string="Count mismatch",
        compute="_compute_counts",
        store=True,
        help="The declared count differs from the forms in the package.",
    )
    mismatch_note = fields.Text(
        tracking=True,
        help="Why the declared count differs: without it the package can't be handed over.",
    )
    submitted_count = fields.Integer(compute="_compute_progress", string="To process")
    processed_count = fields.Integer(compute="_compute_progress", string="Processed")
    returned_count = fields.Integer(compute="_compute_progress", string="Returned")
    incomplete_count = fields.Integer(compute="_compute_progress", string="Incomplete")
    state = fields.Selection(
        PACKAGE_STATES,
        string="Status",
        required=True,
        default="draft",
        readonly=True,
        tracking=True,
        index=True,
    )
    handed_over_date = fields.Datetime(string="Handed over on", readonly=True, copy=False)
    handed_over_by_id = fields.Many2one(
        "res.users", string="Handed over by", readonly=True, copy=False
    )
    received_date = fields.Datetime(string="Received on", readonly=True, copy=False)
    received_by_id = fields.Many2one("res.users", string="Received by", readonly=True, copy=False)
    processed_date = fields.Datetime(string="Processed on", readonly=True, copy=False)
    note = fields.Text()

    _sql_constraints = [
        (
            "declared_count_positive",
            "CHECK(declared_count >= 0)",
            "The declared count can't be negative.",
        ),
    ]

    @api.depends("form_ids", "declared_count")
    def _compute_counts(self):
        for package in self:
            package.actual_count = len(package.form_ids)
            package.count_mismatch = package.declared_count != package.actual_count

    @api.depends("form_ids.state")
    def _compute_progress(self):
        for package in self:
            states = package.form_ids.mapped("state")
            package.submitted_count = states.count("submitted")
            package.processed_count = states.count("processed")
            package.returned_count = states.count("returned")
            package.incomplete_count = len(
                package.form_ids.filtered(
                    lambda f: f.state in ("draft", "submitted") and not f.is_complete
                )
            )

    # === CRUD === #

    @api.model_create_multi
    def create(self, vals_list):
        Sequence = self.env["ir.sequence"].sudo()
        form_commands = []
        for vals in vals_list:
            forced = {key for key in PROTECTED_FIELDS if vals.get(key)}
            forced -= {"state"} if vals.get("state") == "draft" else set()
            if forced and not self.env.su and not self.env.context.get(TRANSITION):
                raise UserError(self.env._("A package starts as a draft."))
            # Forms chosen in the form view of a new package go in through
            # the package's checks once it exists.
            form_commands.append(vals.pop("form_ids", None))
            if vals.get("name", "/") == "/":
                vals["name"] = Sequence.next_by_code("multipas.registration.package") or "/"
        packages = super().create(vals_list)
        packages._check_school_access()
        for package, commands in zip(packages, form_commands, strict=True):
            if commands:
                package._write_forms(commands)
        return packages

    def write(self, vals):
        vals = dict(vals)
        form_commands = vals.pop("form_ids", None)
        if not self.env.context.get(TRANSITION) and not self.env.su:
            protected = PROTECTED_FIELDS & vals.keys()
            if protected:
                raise UserError(
                    self.env._(
                        "These fields change only through the buttons of the package: %(fields)s.",
                        fields=", ".join(sorted(protected)),
                    )
                )
            for package in self:
                if package.state != "draft":
                    raise UserError(
                        self.env._(
                            "Package %(name)s has been handed over: it can't be changed.",
                            name=package.name,
                        )
                    )
        result = super().write(vals) if vals else True
        if "school_id" in vals:
            self._check_school_access()
            if self.form_ids.filtered(lambda f: f.school_id != f.package_id.school_id):
                raise ValidationError(
                    self.env._("Take the forms out of the package before changing its school.")
                )
        if form_commands is not None:
            self._write_forms(form_commands)
        return result

    def _write_forms(self, commands):
        """Forms go in and out of a draft package through the package's own
        checks, never through a plain write on the form."""
        self.ensure_one()
        Form = self.env["multipas.registration.form"]
        keep = set(self.form_ids.ids)
        for command in commands:
            code = command[0]
            if code in (Command.LINK, Command.UPDATE):
                keep.add(command[1])
            elif code in (Command.UNLINK, Command.DELETE):
                keep.discard(command[1])
            elif code == Command.SET:
                keep = set(command[2])
            elif code == Command.CLEAR:
                keep = set()
            else:
                raise UserError(self.env._("Create forms first, then put them into a package."))
        self.action_set_forms(Form.browse(sorted(keep)))

    def action_set_forms(self, forms):
        """Make ``forms`` (drafts of this school) the content of this draft package."""
        self.ensure_one()
        if self.state != "draft":
            raise UserError(
                self.env._(
                    "Package %(name)s has been handed over: its forms can't change.",
                    name=self.name,
                )
            )
        forms.check_access("write")
        for form in forms - self.form_ids:
            if form.state != "draft" or form.package_id:
                raise UserError(
                    self.env._(
                        "Form %(form)s is %(state)s or in another package: only "
                        "unpacked drafts go into a package.",
                        form=form.name,
                        state=form._state_label(),
                    )
                )
            if form.school_id != self.school_id:
                raise UserError(
                    self.env._(
                        "Form %(form)s belongs to another school than package %(package)s.",
                        form=form.name,
                        package=self.name,
                    )
                )
        removed = self.form_ids - forms
        removed._transition({"package_id": False})
        (forms - self.form_ids)._transition({"package_id": self.id})

    @api.ondelete(at_uninstall=False)
    def _unlink_only_drafts(self):
        for package in self:
            if package.state != "draft":
                raise UserError(
                    self.env._(
                        "Package %(name)s has been handed over: it can't be deleted.",
                        name=package.name,
                    )
                )
        self.form_ids._transition({"package_id": False})

    def _check_school_access(self):
        if not self.env.su:
            self.check_access("write")

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _transition(self, vals):
        return self.with_context(**{TRANSITION: True}).write(vals)

    def _check_state(self, expected):
        for package in self:
            if package.state != expected:
                raise UserError(
                    self.env._(
                        "Package %(name)s is %(state)s: this step isn't possible now.",
                        name=package.name,
                        state=package._state_label(),
                    )
                )

    # === ACTIONS === #

    def action_collect_forms(self):
        """Put every unpacked draft form of the school into this package."""
        for package in self:
            package._check_state("draft")
            drafts = self.env["multipas.registration.form"].search(
                [
                    ("school_id", "=", package.school_id.id),
                    ("state", "=", "draft"),
                    ("package_id", "=", False),
                ]
            )
            if not drafts:
                raise UserError(
                    self.env._(
                        "%(school)s has no draft forms outside a package.",
                        school=package.school_id.name,
                    )
                )
            package.action_set_forms(package.form_ids | drafts)

    def action_hand_over(self):
        """The coordinator hands the package to the operator (§3.3.5). The
        forms become submitted; a count that differs from the declared one
        needs a note first."""
        self._check_state("draft")
        self.check_access("write")
        for package in self:
            if not package.form_ids:
                raise UserError(
                    self.env._("Package %(name)s is empty: put forms into it.", name=package.name)
                )
            if not package.declared_count:
                raise UserError(
                    self.env._(
                        "Enter how many forms you counted into package %(name)s.",
                        name=package.name,
                    )
                )
            if package.count_mismatch and not (package.mismatch_note or "").strip():
                raise UserError(
                    self.env._(
                        "Package %(name)s holds %(actual)s forms but %(declared)s were "
                        "declared: correct the count or explain the difference in the note.",
                        name=package.name,
                        actual=package.actual_count,
                        declared=package.declared_count,
                    )
                )
        for package in self:
            package.form_ids._submit(package)
        self._transition(
            {
                "state": "handed_over",
                "handed_over_date": fields.Datetime.now(),
                "handed_over_by_id": self.env.uid,
            }
        )

    def action_receive(self):
        """The operator confirms the package arrived."""
        self._check_operator()
        self._check_state("handed_over")
        self._transition(
            {
                "state": "received",
                "received_date": fields.Datetime.now(),
                "received_by_id": self.env.uid,
            }
        )

    def action_process(self):
        """Process every submitted form of the package, each on its own: a
        form that fails stays submitted with nothing half-created, and the
        operator reads why in the package's chatter."""
        self._check_operator()
        self._check_state("received")
        done, failed = self.env["multipas.registration.form"], []
        for form in self.form_ids.filtered(lambda f: f.state == "submitted"):
            try:
                with self.env.cr.savepoint():
                    form._check_processable()
                    form._process_one()
                done |= form
            except (UserError, ValidationError) as error:
                failed.append((form, str(error.args[0] if error.args else error)))
        self._update_processed()
        for package in self:
            mine = [(form, reason) for form, reason in failed if form.package_id == package]
            if mine:
                package.message_post(
                    body=self.env._(
                        "Not processed:\n%(forms)s",
                        forms="\n".join(f"{form.name}: {reason}" for form, reason in mine),
                    )
                )
        message = self.env._(
            "%(done)s forms processed, %(failed)s left: see the package's messages.",
            done=len(done),
            failed=len(failed),
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Processing"),
                "message": message,
                "type": "warning" if failed else "success",
                "sticky": bool(failed),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _check_operator(self):
        if not self.env["multipas.registration.form"]._is_operator():
            raise UserError(
                self.env._("Only the card operator's staff receive and process packages.")
            )
        self.check_access("write")

    def _update_processed(self):
        """A received package whose forms are all processed or returned is done."""
        for package in self.filtered(lambda p: p.state == "received"):
            if all(form.state in ("processed", "returned") for form in package.form_ids):
                package._transition({"state": "processed", "processed_date": fields.Datetime.now()})

    def action_open_forms(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Forms of %(name)s", name=self.name),
            "res_model": "multipas.registration.form",
            "view_mode": "list,form",
            "domain": [("package_id", "=", self.id)],
            "context": {"default_school_id": self.school_id.id},
        }
