"""Registration forms (regulation §3.2–3.4) and change forms (§4.1.2).

A parent (or a staff member for themselves, §3.3.4) fills a form; the school's
coordinator packs forms into a package with a count (§3.3.5) and hands it over;
the operator processes each form into a cardholder, guardian partners and a
personal account (§3.4.1), or returns it with a reason. A change form targets
an existing cardholder and, once applied, may call for a new card.
"""

import re

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import email_normalize

FORM_STATES = [
    ("draft", "Draft"),
    ("submitted", "Submitted"),
    ("processed", "Processed"),
    ("returned", "Returned"),
]
FORM_TYPES = [("new", "New card"), ("change", "Change of data")]
HOLDER_KINDS = [("pupil", "Pupil"), ("staff", "Staff member")]
SOURCES = [("coordinator", "Coordinator"), ("import", "Import"), ("portal", "Portal")]
RELATIONS = [
    ("mother", "Mother"),
    ("father", "Father"),
    ("guardian", "Legal guardian"),
    ("other", "Other"),
]
# Form fields a change form compares with its cardholder, in display order.
# "class" is compared through the resolved class (or grade + letter).
CHANGE_FIELDS = (
    "last_name",
    "first_name",
    "patronymic",
    "birth_date",
    "holder_kind",
    "school_id",
    "class",
    "benefit_category_id",
    "allergies",
    "diet",
    "photo",
)
# What is printed on the card: a change of any of these calls for a new one.
PRINTED_FIELDS = {"last_name", "first_name", "patronymic", "school_id", "class"}
# Fields only the transitions below may write.
PROTECTED_FIELDS = {
    "state",
    "package_id",
    "cardholder_id",
    "processed_date",
    "processed_by_id",
    "returned_date",
    "returned_by_id",
    "return_reason",
    "change_summary",
    "reissue_suggested",
    "stale_card_id",
    "source",
    "submitter_partner_id",
}
LETTER_RE = re.compile(r"^[A-ZА-ЯЁ]$")
PHONE_CHARS_RE = re.compile(r"^\+?[\d\s()\-]{5,25}$")
TRANSITION = "multipas_registration_transition"


def normalize_name(value):
    """Compare names the way a person reads them: case, spaces and ё/е aside."""
    return " ".join((value or "").replace("ё", "е").replace("Ё", "Е").lower().split())


def normalize_phone(value):
    """The last ten digits: +7 912 480-15-27, 8 (912) 4801527 and 9124801527
    are the same Russian number."""
    digits = re.sub(r"\D", "", value or "")
    return digits[-10:]


class MultipasRegistrationForm(models.Model):
    _name = "multipas.registration.form"
    _description = "Registration form"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Number",
        required=True,
        readonly=True,
        copy=False,
        index="trigram",
        default="/",
    )
    school_id = fields.Many2one(
        "multipas.school", required=True, index=True, tracking=True, ondelete="restrict"
    )
    company_id = fields.Many2one(related="school_id.company_id", store=True, index=True)
    form_type = fields.Selection(
        FORM_TYPES,
        string="Form type",
        required=True,
        default="new",
        tracking=True,
        help="A change form (regulation §4.1.2) updates the data of an existing cardholder.",
    )
    holder_kind = fields.Selection(
        HOLDER_KINDS,
        string="Holder",
        required=True,
        default="pupil",
        help="Staff members fill in their own form and give their own consent (§3.3.4).",
    )
    form_date = fields.Date(
        string="Filled in on",
        required=True,
        default=fields.Date.context_today,
        help="From 1 June the class named on a form is next school year's class (§3.3.2).",
    )
    last_name = fields.Char(tracking=True)
    first_name = fields.Char(tracking=True)
    patronymic = fields.Char(tracking=True)
    holder_name = fields.Char(string="Full name", compute="_compute_holder_name", store=True)
    birth_date = fields.Date(tracking=True)
    class_grade = fields.Integer(string="Grade", tracking=True)
    class_letter = fields.Char(string="Letter", size=2, tracking=True)
    class_label = fields.Char(string="Class", compute="_compute_class_label", store=True)
    class_year = fields.Char(
        string="For school year",
        compute="_compute_class_year",
        store=True,
        help="The school year the class on the form belongs to.",
    )
    class_id = fields.Many2one(
        "multipas.class",
        string="Resolved class",
        compute="_compute_class_id",
        store=True,
        index=True,
        help="The class of the school year that applies on the form date. Empty "
        "while that class doesn't exist yet: it is looked up again at processing.",
    )
    benefit_category_id = fields.Many2one("multipas.benefit.category", tracking=True)
    allergies = fields.Text()
    diet = fields.Text(string="Diet notes")
    photo = fields.Image(max_width=1024, max_height=1024)
    # A staff member is their own subscriber (§3.3.4).
    holder_phone = fields.Char(string="Phone")
    holder_email = fields.Char(string="Email")
    holder_contract_date = fields.Date(string="Contract accepted on")
    holder_contract_version = fields.Char(string="Contract terms version")
    holder_consent_date = fields.Date(string="Consent given on")
    holder_consent_scope = fields.Text(string="Consent scope")
    holder_consent_taken_by_id = fields.Many2one("res.users", string="Consent taken by")
    guardian_ids = fields.One2many(
        "multipas.registration.form.guardian", "form_id", string="Guardians", copy=True
    )
    source = fields.Selection(SOURCES, required=True, default="coordinator", readonly=True)
    submitter_partner_id = fields.Many2one(
        "res.partner",
        string="Filled in by",
        readonly=True,
        index=True,
        help="The guardian who filled in the form on the portal.",
    )
    state = fields.Selection(
        FORM_STATES,
        string="Status",
        required=True,
        default="draft",
        readonly=True,
        tracking=True,
        index=True,
    )
    package_id = fields.Many2one(
        "multipas.registration.package",
        readonly=True,
        index=True,
        tracking=True,
        ondelete="restrict",
        copy=False,
    )
    return_reason = fields.Text(readonly=True, tracking=True, copy=False)
    returned_date = fields.Datetime(string="Returned on", readonly=True, copy=False)
    returned_by_id = fields.Many2one("res.users", string="Returned by", readonly=True, copy=False)
    processed_date = fields.Datetime(string="Processed on", readonly=True, copy=False)
    processed_by_id = fields.Many2one("res.users", string="Processed by", readonly=True, copy=False)
    cardholder_id = fields.Many2one(
        "multipas.cardholder", readonly=True, index=True, copy=False, ondelete="set null"
    )
    target_cardholder_id = fields.Many2one(
        "multipas.cardholder",
        string="Cardholder to change",
        index=True,
        tracking=True,
        ondelete="set null",
    )
    changes_html = fields.Html(
        string="Changes", compute="_compute_changes", sanitize=False, readonly=True
    )
    changed_fields = fields.Char(compute="_compute_changes")
    change_summary = fields.Html(
        string="Applied changes", readonly=True, copy=False, sanitize=False
    )
    reissue_suggested = fields.Boolean(
        readonly=True,
        copy=False,
        help="The change touched what is printed on the card (name, class or school).",
    )
    stale_card_id = fields.Many2one(
        "multipas.card",
        string="Card with the old data",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The card the holder carried when the change was applied; it still "
        "shows the old name, class or school until it is replaced.",
    )
    reissue_pending = fields.Boolean(compute="_compute_reissue_pending")
    missing_info = fields.Text(string="Missing", compute="_compute_missing_info")
    is_complete = fields.Boolean(
        string="Complete", compute="_compute_missing_info", search="_search_is_complete"
    )
    duplicate_cardholder_id = fields.Many2one(
        "multipas.cardholder",
        string="Already registered as",
        compute="_compute_duplicates",
        help="The same child (name and birth date) already known at this school: "
        "processing links the form to this person instead of creating a second one.",
    )
    duplicate_note = fields.Text(
        compute="_compute_duplicates", groups="multipas_cards.group_operator_clerk"
    )
    can_edit = fields.Boolean(compute="_compute_can_edit")

    _sql_constraints = [
        (
            "class_grade_range",
            "CHECK(class_grade IS NULL OR class_grade BETWEEN 0 AND 12)",
            "The grade must be between 0 and 12.",
        ),
    ]

    # === COMPUTES === #

    @api.depends("last_name", "first_name", "patronymic")
    def _compute_holder_name(self):
        compose = self.env["multipas.cardholder"]._compose_name
        for form in self:
            form.holder_name = compose(form.last_name, form.first_name, form.patronymic)

    @api.depends("class_grade", "class_letter", "holder_kind")
    def _compute_class_label(self):
        for form in self:
            if form.holder_kind == "pupil" and form.class_letter:
                form.class_label = f"{form.class_grade}{form.class_letter}"
            else:
                form.class_label = False

    @api.depends("form_date")
    def _compute_class_year(self):
        for form in self:
            form.class_year = form.form_date and self._school_year_for_form(form.form_date)

    @api.depends("school_id", "class_grade", "class_letter", "class_year", "holder_kind")
    def _compute_class_id(self):
        for form in self:
            form.class_id = form._find_class()

    @api.depends(
        "form_type",
        "target_cardholder_id",
        *(f for f in CHANGE_FIELDS if f != "class"),
        "class_id",
        "class_grade",
        "class_letter",
    )
    def _compute_changes(self):
        for form in self:
            changes = form._diff_with_target() if form.form_type == "change" else []
            form.changed_fields = ",".join(key for key, _label, _old, _new in changes)
            form.changes_html = form._changes_table(changes) if changes else False

    @api.depends("state", "stale_card_id.state")
    def _compute_reissue_pending(self):
        for form in self:
            form.reissue_pending = (
                form.state == "processed" and form.stale_card_id.sudo().state == "issued"
            )

    @api.depends(
        "holder_kind",
        "form_type",
        "last_name",
        "first_name",
        "birth_date",
        "class_letter",
        "class_id",
        "target_cardholder_id",
        "guardian_ids.consent_date",
        "guardian_ids.contract_date",
        "guardian_ids.phone",
        "guardian_ids.email",
        "guardian_ids.last_name",
        "guardian_ids.first_name",
        "holder_consent_date",
        "holder_contract_date",
    )
    def _compute_missing_info(self):
        for form in self:
            problems = form._completeness_problems()
            form.missing_info = "\n".join(problems) or False
            form.is_complete = not problems

    def _search_is_complete(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on complete forms."))
        wanted = (operator == "=") == value
        forms = self.search([("state", "in", ("draft", "submitted"))])
        ids = forms.filtered(lambda f: f.is_complete == wanted).ids
        return [("id", "in", ids)]

    @api.depends("school_id", "last_name", "first_name", "patronymic", "birth_date", "form_type")
    def _compute_duplicates(self):
        # The operator sees which school already knows the child; nobody else
        # learns anything about another school's pupils from this field.
        for form in self:
            same, elsewhere = form._find_duplicates()
            form.duplicate_cardholder_id = same if form.form_type == "new" else False
            note = []
            if same and form.form_type == "new":
                note.append(
                    self.env._(
                        "%(name)s is already registered at this school: processing "
                        "links the form to that person and adds the guardians.",
                        name=same.name,
                    )
                )
            if elsewhere:
                note.append(
                    self.env._(
                        "A child with the same name and birth date is registered at: "
                        "%(schools)s. Check that this is not the same person moving school "
                        "(use a change form then).",
                        schools=", ".join(elsewhere.school_id.mapped("name")),
                    )
                )
            form.duplicate_note = "\n".join(note) or False

    @api.depends_context("uid")
    @api.depends("state")
    def _compute_can_edit(self):
        is_operator = self._is_operator()
        for form in self:
            form.can_edit = form.state == "draft" or (form.state == "submitted" and is_operator)

    # === HELPERS === #

    @api.model
    def _school_year_for_form(self, day):
        """The school year whose class a form filled on ``day`` names: from
        1 June parents write the class the child starts in September (§3.3.2)."""
        start = day.year if day.month >= 6 else day.year - 1
        return f"{start}/{start + 1}"

    @api.model
    def _is_operator(self):
        return self.env.su or self.env.user.has_group("multipas_cards.group_operator_clerk")

    @api.model
    def _default_consent_scope(self):
        return self.env._(
            "Full name, birth date, class and photo of the cardholder; full name, phone "
            "and email of the guardian; personal account operations, meals and entries. "
            "Purposes: meal accounting, access control, the parents' cabinet. Valid until "
            "the end of studies or work at the school."
        )

    @api.model
    def _contract_version(self):
        """The subscriber contract terms in force (regulation §1.3)."""
        return (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("multipas_cards.contract_terms_version", "")
        )

    def _find_class(self):
        """The class named on the form in the school year its date gives, if it exists."""
        self.ensure_one()
        if self.holder_kind != "pupil" or not (self.school_id and self.class_letter):
            return self.env["multipas.class"]
        return (
            self.env["multipas.class"]
            .sudo()
            .search(
                [
                    ("school_id", "=", self.school_id.id),
                    ("school_year", "=", self.class_year),
                    ("grade", "=", self.class_grade),
                    ("letter", "=", self.class_letter),
                ],
                limit=1,
            )
        )

    def _find_duplicates(self):
        """Enrolled cardholders with this form's name and birth date: (same
        school, other schools). Read as superuser: the answer, not the data,
        is what the caller gets."""
        self.ensure_one()
        Holder = self.env["multipas.cardholder"]
        if not (self.last_name and self.first_name and self.birth_date):
            return Holder, Holder
        key = (
            normalize_name(self.last_name),
            normalize_name(self.first_name),
            normalize_name(self.patronymic),
        )
        candidates = (
            Holder.sudo()
            .with_context(active_test=False)
            .search([("birth_date", "=", self.birth_date), ("state", "=", "enrolled")])
        )
        if self.form_type == "change" and self.target_cardholder_id:
            candidates -= self.target_cardholder_id.sudo()
        matches = candidates.filtered(
            lambda h: (
                (
                    normalize_name(h.last_name),
                    normalize_name(h.first_name),
                    normalize_name(h.patronymic),
                )
                == key
            )
        )
        same = matches.filtered(lambda h: h.school_id == self.school_id)[:1]
        return same, matches - same

    def _completeness_problems(self):
        """What keeps this form from being processed, one sentence each."""
        self.ensure_one()
        _ = self.env._
        problems = []
        if self.form_type == "change":
            if not self.target_cardholder_id:
                problems.append(_("Choose the cardholder whose data changes."))
            elif self.target_cardholder_id.sudo().state != "enrolled":
                problems.append(_("The cardholder to change has left."))
        if not self.last_name or not self.first_name:
            problems.append(_("The last and first name of the cardholder are required."))
        # A change form keeps the consent already on file, if there is one.
        keeps_consent = bool(
            self.form_type == "change"
            and self.target_cardholder_id
            and self.target_cardholder_id.sudo()._multipas_has_consent()
        )
        if self.holder_kind == "pupil":
            problems += self._pupil_problems(keeps_consent)
        elif not keeps_consent:
            if not self.holder_consent_date:
                problems.append(_("The staff member's own personal data consent (152-FZ)."))
            if not self.holder_contract_date and self.form_type == "new":
                problems.append(_("The subscriber contract accepted by the staff member."))
        return problems

    def _pupil_problems(self, keeps_consent):
        _ = self.env._
        problems = []
        if not self.birth_date:
            problems.append(_("The pupil's birth date is required."))
        if not self.class_letter:
            problems.append(_("The pupil's class (grade and letter) is required."))
        lines = self.guardian_ids
        if not lines and not keeps_consent:
            problems.append(_("At least one guardian (parent or legal representative)."))
        for line in lines:
            label = line.name or _("a guardian")
            if not line.last_name or not line.first_name:
                problems.append(_("The last and first name of every guardian are required."))
            if not line.phone and not line.email:
                problems.append(_("A phone or an email of %(name)s.", name=label))
            if not line.consent_date:
                problems.append(_("The personal data consent of %(name)s (152-FZ).", name=label))
        if lines and not keeps_consent and not lines.filtered("contract_date"):
            problems.append(_("The subscriber contract accepted by a guardian."))
        return problems

    def _target_class_value(self):
        """The class a change form asks for, as (record, label)."""
        cls = self.class_id or self._find_class()
        return cls, cls.name if cls else (self.class_label or "")

    def _diff_with_target(self):
        """[(key, label, current, on the form)] where the form differs from its cardholder."""
        self.ensure_one()
        holder = self.target_cardholder_id.sudo()
        if not holder:
            return []
        labels = {
            "class": self.env._("Class"),
            "photo": self.env._("Photo"),
        }
        changes = []
        for key in CHANGE_FIELDS:
            if key == "class":
                if self.holder_kind != "pupil":
                    continue
                cls, label = self._target_class_value()
                old = holder.class_id
                same = (
                    (cls == old)
                    if cls
                    else (
                        old.grade == self.class_grade
                        and (old.letter or "") == (self.class_letter or "")
                    )
                )
                if not same:
                    changes.append((key, labels[key], old.name or "", label))
                continue
            if key == "photo":
                if self.photo and self.photo != holder.image_1920:
                    changes.append((key, labels[key], "", self.env._("new photo")))
                continue
            holder_key = "kind" if key == "holder_kind" else key
            field = self._fields[key]
            new, old = self[key], holder[holder_key]
            if field.type == "many2one":
                if new != old:
                    changes.append(
                        (
                            key,
                            field._description_string(self.env),
                            old.display_name or "",
                            new.display_name or "",
                        )
                    )
            elif field.type == "selection":
                if new != old:
                    options = dict(field._description_selection(self.env))
                    changes.append(
                        (
                            key,
                            field._description_string(self.env),
                            options.get(old, ""),
                            options.get(new, ""),
                        )
                    )
            elif (new or "") != (old or ""):
                if field.type == "date":
                    old = old and fields.Date.to_string(old)
                    new = new and fields.Date.to_string(new)
                changes.append((key, field._description_string(self.env), old or "", new or ""))
        return changes

    def _changes_table(self, changes, applied=False):
        """The changed data, underlined as the regulation asks (§4.1.2)."""
        _ = self.env._
        before, after = (_("Before"), _("After")) if applied else (_("Now"), _("On the form"))
        rows = Markup("").join(
            Markup(
                "<tr><td>%s</td><td class='text-muted'>%s</td>"
                "<td><u class='fw-bold text-warning-emphasis'>%s</u></td></tr>"
            )
            % (label, old or "—", new or "—")
            for _key, label, old, new in changes
        )
        return Markup(
            "<table class='table table-sm o_multipas_changes mb-0'><thead><tr>"
            "<th>%s</th><th>%s</th><th>%s</th></tr></thead><tbody>%s</tbody></table>"
        ) % (_("Data"), before, after, rows)

    # === CRUD === #

    @api.model_create_multi
    def create(self, vals_list):
        Sequence = self.env["ir.sequence"].sudo()
        for vals in vals_list:
            self._normalize_vals(vals)
            if not self.env.context.get(TRANSITION) and not self.env.su:
                # A form starts as a draft filed by its author; only the
                # transitions move it on (the portal and the import mark
                # their own forms through them).
                forced = {key for key in PROTECTED_FIELDS if vals.get(key)}
                forced -= {"state"} if vals.get("state") == "draft" else set()
                forced -= {"source"} if vals.get("source") == "coordinator" else set()
                if forced:
                    raise UserError(
                        self.env._(
                            "A registration form starts as a draft; the buttons of the "
                            "form move it on."
                        )
                    )
            if vals.get("name", "/") == "/":
                vals["name"] = Sequence.next_by_code("multipas.registration.form") or "/"
        forms = super().create(vals_list)
        forms._check_school_access()
        return forms

    def write(self, vals):
        vals = self._normalize_vals(dict(vals))
        if not self.env.context.get(TRANSITION) and not self.env.su:
            protected = PROTECTED_FIELDS & vals.keys()
            if protected:
                raise UserError(
                    self.env._(
                        "These fields change only through the buttons of the form: %(fields)s.",
                        fields=", ".join(sorted(protected)),
                    )
                )
            self._check_editable()
        result = super().write(vals)
        if {"school_id", "target_cardholder_id"} & vals.keys():
            self._check_school_access()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_only_drafts(self):
        for form in self:
            if form.state != "draft" or form.package_id:
                raise UserError(
                    self.env._(
                        "Form %(name)s has been packed or handed over: it can't be deleted.",
                        name=form.name,
                    )
                )

    @api.model
    def _normalize_vals(self, vals):
        for key in ("last_name", "first_name", "patronymic"):
            if isinstance(vals.get(key), str):
                vals[key] = " ".join(vals[key].split())
        if isinstance(vals.get("class_letter"), str):
            vals["class_letter"] = vals["class_letter"].strip().upper() or False
        if isinstance(vals.get("holder_email"), str):
            vals["holder_email"] = vals["holder_email"].strip() or False
        return vals

    def _check_editable(self):
        """Coordinators edit drafts; the operator may still correct a
        submitted form before processing it. Processed and returned forms
        are a record of what happened and stay as they are."""
        is_operator = self._is_operator()
        for form in self:
            if form.state == "draft" or (form.state == "submitted" and is_operator):
                continue
            raise UserError(
                self.env._(
                    "Form %(name)s is %(state)s: it can't be changed any more.",
                    name=form.name,
                    state=form._state_label(),
                )
            )

    def _check_school_access(self):
        # Rules are checked on the records before a write: check again so
        # nobody files a form for a school they don't serve, nor names a
        # cardholder they may not see (the changes table reads it as superuser).
        if not self.env.su:
            self.check_access("write")
            self.target_cardholder_id.check_access("read")

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    # === CONSTRAINTS === #

    @api.constrains("class_letter")
    def _check_class_letter(self):
        for form in self:
            if form.class_letter and not LETTER_RE.match(form.class_letter):
                raise ValidationError(
                    self.env._(
                        "The class letter must be one letter, e.g. А or Б (got %(value)s).",
                        value=form.class_letter,
                    )
                )

    @api.constrains("birth_date", "form_date")
    def _check_dates(self):
        today = fields.Date.context_today(self)
        for form in self:
            if form.birth_date and form.birth_date > today:
                raise ValidationError(self.env._("The birth date is in the future."))
            if form.form_date and form.form_date > today:
                raise ValidationError(self.env._("The form can't be dated in the future."))

    @api.constrains("holder_email")
    def _check_holder_email(self):
        for form in self:
            if form.holder_email and not email_normalize(form.holder_email):
                raise ValidationError(
                    self.env._("“%(email)s” is not an email address.", email=form.holder_email)
                )

    @api.constrains("form_type", "target_cardholder_id", "school_id")
    def _check_target(self):
        for form in self:
            if form.form_type == "new" and form.target_cardholder_id:
                raise ValidationError(
                    self.env._("Only a change form names a cardholder to change.")
                )

    @api.constrains("package_id", "school_id")
    def _check_package_school(self):
        for form in self:
            if form.package_id and form.package_id.school_id != form.school_id:
                raise ValidationError(
                    self.env._(
                        "Form %(form)s belongs to %(school)s, not to the school of "
                        "package %(package)s.",
                        form=form.name,
                        school=form.school_id.name,
                        package=form.package_id.name,
                    )
                )

    # === ONCHANGE === #

    @api.onchange("target_cardholder_id")
    def _onchange_target_cardholder_id(self):
        if self.form_type == "change" and self.target_cardholder_id and self.state == "draft":
            self.update(self._change_form_defaults(self.target_cardholder_id))

    @api.model
    def _change_form_defaults(self, holder):
        """Start a change form from the cardholder's current data: the
        coordinator then corrects what changed."""
        holder = holder.sudo()
        return {
            "school_id": holder.school_id.id,
            "holder_kind": holder.kind,
            "last_name": holder.last_name,
            "first_name": holder.first_name,
            "patronymic": holder.patronymic,
            "birth_date": holder.birth_date,
            "class_grade": holder.class_id.grade,
            "class_letter": holder.class_id.letter or False,
            "benefit_category_id": holder.benefit_category_id.id,
            "allergies": holder.allergies,
            "diet": holder.diet,
        }

    # === TRANSITIONS === #

    def _transition(self, vals):
        return self.with_context(**{TRANSITION: True}).write(vals)

    def _submit(self, package):
        """Hand the form over inside ``package`` (called by the package)."""
        for form in self:
            if form.state != "draft":
                raise UserError(
                    self.env._(
                        "Form %(name)s is %(state)s: only drafts are handed over.",
                        name=form.name,
                        state=form._state_label(),
                    )
                )
        self._transition({"state": "submitted", "package_id": package.id})

    def action_process(self):
        """Process submitted forms (operator): a new form becomes a cardholder
        with guardians and a personal account, a change form updates its
        cardholder. Each form is all or nothing."""
        self._check_operator()
        for form in self:
            form._check_processable()
        action = False
        for form in self:
            with self.env.cr.savepoint():
                form._process_one()
            if len(self) == 1 and form.reissue_pending:
                action = form.action_open_reissue_wizard()
        self.package_id._update_processed()
        return action

    def _check_operator(self):
        if not self._is_operator():
            raise UserError(self.env._("Only the card operator's staff process forms."))
        self.check_access("write")

    def _check_processable(self):
        self.ensure_one()
        if self.state != "submitted":
            raise UserError(
                self.env._(
                    "Form %(name)s is %(state)s: only submitted forms are processed.",
                    name=self.name,
                    state=self._state_label(),
                )
            )
        if self.package_id.state not in ("received", "processed"):
            raise UserError(
                self.env._(
                    "Package %(package)s hasn't been received yet: receive it first.",
                    package=self.package_id.name,
                )
            )
        problems = self._completeness_problems()
        if problems:
            raise UserError(
                self.env._(
                    "Form %(name)s is incomplete; return it to the school with a reason:\n%(problems)s",
                    name=self.name,
                    problems="\n".join(f"• {p}" for p in problems),
                )
            )
        if self.holder_kind == "pupil" and not self._find_class():
            raise UserError(
                self.env._(
                    "Class %(cls)s of %(year)s doesn't exist at %(school)s yet: create it "
                    "(or run the year roll-over) before processing form %(name)s.",
                    cls=self.class_label,
                    year=self.class_year,
                    school=self.school_id.name,
                    name=self.name,
                )
            )

    def _process_one(self):
        self.ensure_one()
        if self.form_type == "change":
            self._apply_change()
        else:
            self._create_cardholder()

    def _holder_vals(self):
        cls = self._find_class()
        vals = {
            "last_name": self.last_name,
            "first_name": self.first_name,
            "patronymic": self.patronymic or False,
            "kind": self.holder_kind,
            "school_id": self.school_id.id,
            "class_id": cls.id if self.holder_kind == "pupil" else False,
            "birth_date": self.birth_date,
            "benefit_category_id": self.benefit_category_id.id,
            "allergies": self.allergies or False,
            "diet": self.diet or False,
        }
        if self.photo:
            vals["image_1920"] = self.photo
        return vals

    def _holder_consent_vals(self):
        return {
            "multipas_contract_date": self.holder_contract_date,
            "multipas_contract_version": self.holder_contract_version or False,
            "multipas_consent_date": self.holder_consent_date,
            "multipas_consent_scope": self.holder_consent_scope or self._default_consent_scope(),
            "multipas_consent_taken_by": self.holder_consent_taken_by_id.id or self.env.uid,
        }

    def _create_cardholder(self):
        Holder = self.env["multipas.cardholder"]
        same, _elsewhere = self._find_duplicates()
        if same:
            holder = same.with_env(self.env)
            body = self.env._(
                "Registration form %(form)s names this person again: linked to the "
                "existing record, guardians added.",
                form=self.name,
            )
        else:
            vals = self._holder_vals()
            if self.holder_kind == "staff":
                vals.update(
                    phone=self.holder_phone or False,
                    email=self.holder_email or False,
                    **self._holder_consent_vals(),
                )
            holder = Holder.create(vals)
            body = self.env._("Registered from form %(form)s.", form=self.name)
        if self.holder_kind == "staff" and same:
            holder.partner_id.sudo().write(self._holder_consent_vals())
        guardians = self.guardian_ids._find_or_create_partners()
        if guardians:
            holder.write({"guardian_ids": [Command.link(p.id) for p in guardians]})
        holder._ensure_account()
        holder.message_post(body=body)
        self._transition(
            {
                "state": "processed",
                "cardholder_id": holder.id,
                "processed_date": fields.Datetime.now(),
                "processed_by_id": self.env.uid,
            }
        )
        self.message_post(
            body=self.env._(
                "Processed: cardholder %(holder)s, personal account %(account)s.",
                holder=holder.name,
                account=holder.account_id.sudo().display_name,
            )
        )

    def _apply_change(self):
        holder = self.target_cardholder_id
        changes = self._diff_with_target()
        keys = {key for key, *_rest in changes}
        vals = {}
        full = self._holder_vals()
        for key in keys:
            if key == "class":
                vals["class_id"] = full["class_id"]
            elif key == "photo":
                vals["image_1920"] = full["image_1920"]
            elif key == "holder_kind":
                vals["kind"] = full["kind"]
            else:
                vals[key] = full[key]
        if "school_id" in vals and "class_id" not in vals and holder.class_id:
            vals["class_id"] = full["class_id"]
        if (
            not vals
            and not self.guardian_ids
            and not (self.holder_kind == "staff" and self.holder_consent_date)
        ):
            raise UserError(
                self.env._(
                    "Form %(name)s changes nothing: the data match the cardholder's.",
                    name=self.name,
                )
            )
        if vals:
            holder.write(vals)
        if self.holder_kind == "staff":
            if self.holder_phone or self.holder_email:
                holder.write(
                    {
                        k: v
                        for k, v in (("phone", self.holder_phone), ("email", self.holder_email))
                        if v
                    }
                )
            if self.holder_consent_date:
                consent = self._holder_consent_vals()
                if not self.holder_contract_date:
                    consent.pop("multipas_contract_date")
                    consent.pop("multipas_contract_version")
                holder.partner_id.sudo().write(consent)
        guardians = self.guardian_ids._find_or_create_partners()
        if guardians:
            holder.write({"guardian_ids": [Command.link(p.id) for p in guardians]})
        summary = self._changes_table(changes, applied=True) if changes else False
        body = Markup("%s<br/>%s") % (
            self.env._("Data changed by form %(form)s (§4.1.2):", form=self.name),
            summary or self.env._("guardians and consents updated"),
        )
        holder.message_post(body=body)
        printed = bool(PRINTED_FIELDS & keys)
        self._transition(
            {
                "state": "processed",
                "cardholder_id": holder.id,
                "processed_date": fields.Datetime.now(),
                "processed_by_id": self.env.uid,
                "change_summary": summary,
                "reissue_suggested": printed and bool(holder.sudo().card_id),
                "stale_card_id": printed and holder.sudo().card_id.id,
            }
        )
        self.message_post(
            body=self.env._("Changes applied to %(holder)s.", holder=holder.name)
            if not printed
            else self.env._(
                "Changes applied to %(holder)s. The card shows the old data: reissue it.",
                holder=holder.name,
            )
        )

    def action_open_return_wizard(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Return the form"),
            "res_model": "multipas.registration.return.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_form_ids": [Command.set(self.ids)]},
        }

    def _return(self, reason):
        """Send the form back with a reason the school and the parent see.
        The operator returns submitted forms; a coordinator may return a
        draft (e.g. a portal form that can't be right)."""
        reason = (reason or "").strip()
        if not reason:
            raise UserError(self.env._("Say why the form is returned."))
        is_operator = self._is_operator()
        for form in self:
            if form.state == "submitted" and not is_operator:
                raise UserError(
                    self.env._(
                        "Form %(name)s is with the operator: only the operator returns it now.",
                        name=form.name,
                    )
                )
            if form.state not in ("draft", "submitted"):
                raise UserError(
                    self.env._(
                        "Form %(name)s is %(state)s: it can't be returned.",
                        name=form.name,
                        state=form._state_label(),
                    )
                )
        self.check_access("write")
        self._transition(
            {
                "state": "returned",
                "return_reason": reason,
                "returned_date": fields.Datetime.now(),
                "returned_by_id": self.env.uid,
            }
        )
        for form in self:
            form._log_return(reason)
        self.package_id._update_processed()

    def _log_return(self, reason):
        """Say in the chatter why the form came back. A form filled in on the
        portal: addressed to that guardian (so mailed), in their language,
        with where to correct it; any other form: a note for the school."""
        self.ensure_one()
        submitter = self.submitter_partner_id
        if not submitter:
            self.message_post(body=self.env._("Returned: %(reason)s", reason=reason))
            return
        form = self.with_context(lang=submitter.lang or self.env.lang)
        form.message_post(
            body=form.env._(
                "Your registration form %(name)s was returned. Correct it and send it "
                "again in your cabinet, under “Registration forms”. The reason: %(reason)s",
                name=form.name,
                reason=reason,
            ),
            partner_ids=submitter.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )

    def action_copy_returned(self):
        """Start a corrected copy of a returned form as a new draft."""
        self.ensure_one()
        if self.state != "returned":
            raise UserError(self.env._("Only a returned form is filed again."))
        copy = self.copy({"form_date": fields.Date.context_today(self)})
        copy.message_post(
            body=self.env._("Corrected copy of returned form %(name)s.", name=self.name)
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": copy.id,
            "view_mode": "form",
        }

    def copy_data(self, default=None):
        # A copy is a new draft filed by whoever copies it.
        vals_list = super().copy_data(default=default)
        for vals in vals_list:
            for key in ("source", "submitter_partner_id", "state"):
                vals.pop(key, None)
        return vals_list

    def copy(self, default=None):
        # Keep the portal origin (the parent still sees their form) when the
        # coordinator refiles it.
        new = super().copy(default)
        for old, form in zip(self, new, strict=True):
            if old.source != "coordinator" or old.submitter_partner_id:
                form._transition(
                    {"source": old.source, "submitter_partner_id": old.submitter_partner_id.id}
                )
            for old_line, line in zip(old.guardian_ids, form.guardian_ids, strict=True):
                if old_line.partner_id:
                    line.sudo().partner_id = old_line.partner_id
        return new

    def action_open_reissue_wizard(self):
        self.ensure_one()
        holder = self.cardholder_id
        action = holder.action_open_reissue_wizard()
        action["context"] = dict(
            action["context"],
            default_reason="data_changed",
            default_waive_fee=True,
            default_waive_reason=self.env._(
                "Data changed by registration form %(form)s (§4.1.2)", form=self.name
            ),
        )
        return action

    def action_open_cardholder(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "multipas.cardholder",
            "res_id": (self.cardholder_id or self.target_cardholder_id).id,
            "view_mode": "form",
        }

    # === PERSONAL DATA === #

    def _erase_personal_data(self):
        """Blank the personal data a form holds (regulation §8.6: when the
        child leaves, nothing may allow the person to be reconstructed). The
        form keeps its number, dates and states as the operator's record; its
        chatter goes too, since tracking keeps old names."""
        forms = self.sudo()
        label = self.env._("Erased")
        forms.guardian_ids.unlink()
        forms.message_ids.unlink()
        forms.activity_ids.unlink()
        forms._transition(
            {
                "last_name": label,
                "first_name": label,
                "patronymic": False,
                "birth_date": False,
                "allergies": False,
                "diet": False,
                "photo": False,
                "holder_phone": False,
                "holder_email": False,
                "holder_consent_scope": False,
                "return_reason": False,
                "change_summary": False,
            }
        )
        for form in forms:
            form.message_post(body=self.env._("Personal data erased (§8.6)."))


class MultipasRegistrationFormGuardian(models.Model):
    """A guardian named on a registration form, with their contract
    acceptance (§1.3, §1.6) and personal data consent (152-FZ)."""

    _name = "multipas.registration.form.guardian"
    _description = "Guardian on a registration form"
    _order = "form_id, is_primary desc, sequence, id"

    form_id = fields.Many2one(
        "multipas.registration.form", required=True, ondelete="cascade", index=True
    )
    school_id = fields.Many2one(related="form_id.school_id", store=True)
    company_id = fields.Many2one(related="form_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    last_name = fields.Char(required=True)
    first_name = fields.Char(required=True)
    patronymic = fields.Char()
    name = fields.Char(compute="_compute_name", store=True)
    phone = fields.Char()
    email = fields.Char()
    relation = fields.Selection(RELATIONS, required=True, default="mother")
    is_primary = fields.Boolean(
        string="Primary",
        help="The guardian the operator and the school contact first.",
    )
    contract_date = fields.Date(
        string="Contract accepted on",
        help="The day this guardian accepted the subscriber contract (§1.3, §1.6).",
    )
    contract_version = fields.Char(
        string="Contract terms version",
        default=lambda self: self.env["multipas.registration.form"]._contract_version(),
    )
    consent_date = fields.Date(
        string="Consent given on",
        help="Consent to the processing of personal data (Federal Law 152-FZ).",
    )
    consent_scope = fields.Text(
        default=lambda self: self.env["multipas.registration.form"]._default_consent_scope(),
    )
    consent_taken_by_id = fields.Many2one(
        "res.users", string="Consent taken by", default=lambda self: self.env.user
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Contact",
        readonly=True,
        index=True,
        copy=False,
        ondelete="set null",
        help="The guardian's contact once known: the portal user who filled in "
        "the form, or the contact found or created at processing.",
    )

    @api.depends("last_name", "first_name", "patronymic")
    def _compute_name(self):
        compose = self.env["multipas.cardholder"]._compose_name
        for line in self:
            line.name = compose(line.last_name, line.first_name, line.patronymic)

    @api.constrains("email")
    def _check_email(self):
        for line in self:
            if line.email and not email_normalize(line.email):
                raise ValidationError(
                    self.env._("“%(email)s” is not an email address.", email=line.email)
                )

    @api.constrains("phone")
    def _check_phone(self):
        for line in self:
            if line.phone and (
                not PHONE_CHARS_RE.match(line.phone) or len(normalize_phone(line.phone)) < 10
            ):
                raise ValidationError(
                    self.env._(
                        "“%(phone)s” is not a phone number: write it with the area code, "
                        "e.g. +7 912 480-15-27.",
                        phone=line.phone,
                    )
                )

    @api.constrains("consent_date", "contract_date")
    def _check_dates(self):
        today = fields.Date.context_today(self)
        for line in self:
            if (line.consent_date and line.consent_date > today) or (
                line.contract_date and line.contract_date > today
            ):
                raise ValidationError(
                    self.env._("A consent or a contract can't be dated in the future.")
                )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            for key in ("last_name", "first_name", "patronymic", "phone", "email"):
                if isinstance(vals.get(key), str):
                    vals[key] = " ".join(vals[key].split()) or False
            if vals.get("partner_id") and not self.env.su:
                raise UserError(self.env._("The guardian's contact is set at processing."))
        lines = super().create(vals_list)
        lines.form_id._check_editable()
        lines.form_id._check_school_access()
        return lines

    def write(self, vals):
        if "partner_id" in vals and not self.env.su and not self.env.context.get(TRANSITION):
            raise UserError(self.env._("The guardian's contact is set at processing."))
        for key in ("last_name", "first_name", "patronymic", "phone", "email"):
            if isinstance(vals.get(key), str):
                vals[key] = " ".join(vals[key].split()) or False
        if not self.env.context.get(TRANSITION) and not self.env.su:
            self.form_id._check_editable()
        result = super().write(vals)
        if "form_id" in vals:
            self.form_id._check_editable()
            self.form_id._check_school_access()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_only_on_editable_forms(self):
        if not self.env.su:
            self.form_id._check_editable()

    def _consent_vals(self):
        return {
            "multipas_contract_date": self.contract_date,
            "multipas_contract_version": self.contract_version or False,
            "multipas_consent_date": self.consent_date,
            "multipas_consent_scope": self.consent_scope
            or self.env["multipas.registration.form"]._default_consent_scope(),
            "multipas_consent_taken_by": self.consent_taken_by_id.id or self.env.uid,
        }

    def _find_partner(self):
        """An existing contact of this guardian: the same email or phone AND
        the same name. A shared family phone must not merge two parents."""
        self.ensure_one()
        Partner = self.env["res.partner"].sudo().with_context(active_test=False)
        wanted = (normalize_name(self.last_name), normalize_name(self.first_name))

        def same_person(partner):
            words = normalize_name(partner.name).split()
            return len(words) >= 2 and (words[0], words[1]) == wanted

        email = email_normalize(self.email) if self.email else False
        if email:
            found = Partner.search([("email", "=ilike", email)], order="id", limit=20).filtered(
                same_person
            )
            if found:
                return found.sorted(lambda p: not p.multipas_is_guardian)[:1]
        phone = normalize_phone(self.phone)
        if len(phone) >= 10:
            # The digits in order with anything between them: the stored
            # number may be written with spaces, brackets or dashes.
            pattern = "%" + "%".join(phone)
            candidates = Partner.search(
                [("phone", "=ilike", pattern)], order="id", limit=200
            ).filtered(lambda p: normalize_phone(p.phone) == phone and same_person(p))
            if candidates:
                return candidates.sorted(lambda p: not p.multipas_is_guardian)[:1]
        return Partner.browse()

    def _find_or_create_partners(self):
        """The guardian partners of these lines, found or created, with the
        consent and contract of each copied onto them (§1.3, 152-FZ)."""
        partners = self.env["res.partner"]
        for line in self.sorted(lambda line: (not line.is_primary, line.sequence, line.id)):
            partner = line.partner_id.sudo() or line._find_partner()
            if partner:
                updates = {
                    key: value
                    for key, value in (("phone", line.phone), ("email", line.email))
                    if value and not partner[key]
                }
            else:
                partner = (
                    self.env["res.partner"]
                    .sudo()
                    .create(
                        {
                            "name": line.name,
                            "phone": line.phone or False,
                            "email": line.email or False,
                            "is_company": False,
                            "lang": line.form_id.submitter_partner_id.lang or self.env.lang,
                        }
                    )
                )
                updates = {}
            updates.update(line._consent_vals())
            if not line.contract_date:
                # Only consent on this line: don't wipe an older contract.
                updates.pop("multipas_contract_date")
                updates.pop("multipas_contract_version")
            partner.write(updates)
            line.sudo().write({"partner_id": partner.id})
            partners |= partner
        return partners


class MultipasCardholder(models.Model):
    _inherit = "multipas.cardholder"

    registration_form_count = fields.Integer(
        compute="_compute_registration_form_count",
        string="Registration forms",
        groups="multipas_cards.group_operator_clerk,multipas_cards.group_school_coordinator",
    )

    def _compute_registration_form_count(self):
        Form = self.env["multipas.registration.form"]
        for holder in self:
            holder.registration_form_count = Form.search_count(
                ["|", ("cardholder_id", "=", holder.id), ("target_cardholder_id", "=", holder.id)]
            )

    def _multipas_has_consent(self):
        """True when the personal data of this cardholder may be processed
        (152-FZ): a guardian of a pupil, or a staff member themselves, has
        given consent. No card is produced without it."""
        self.ensure_one()
        holder = self.sudo()
        if holder.kind == "staff":
            return bool(holder.partner_id.multipas_consent_date)
        return any(holder.guardian_ids.mapped("multipas_consent_date"))

    def _multipas_without_consent(self):
        """The cardholders among ``self`` for whom no card may be produced yet."""
        return self.filtered(lambda holder: not holder._multipas_has_consent())

    def _multipas_erase_registration_forms(self):
        """Erase the personal data of the registration forms of these
        cardholders; the leaving procedure (§8.6) calls this."""
        forms = (
            self.env["multipas.registration.form"]
            .sudo()
            .search(
                ["|", ("cardholder_id", "in", self.ids), ("target_cardholder_id", "in", self.ids)]
            )
        )
        for form in forms:
            form._erase_personal_data()
        return forms

    def action_new_change_form(self):
        """A change form (§4.1.2) started from this person's current data."""
        self.ensure_one()
        Form = self.env["multipas.registration.form"]
        defaults = {
            f"default_{key}": fields.Date.to_string(value) if key == "birth_date" else value
            for key, value in Form._change_form_defaults(self).items()
        }
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Change form"),
            "res_model": "multipas.registration.form",
            "view_mode": "form",
            "context": {
                **defaults,
                "default_form_type": "change",
                "default_target_cardholder_id": self.id,
            },
        }

    def action_open_registration_forms(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Registration forms"),
            "res_model": "multipas.registration.form",
            "view_mode": "list,form",
            "domain": [
                "|",
                ("cardholder_id", "=", self.id),
                ("target_cardholder_id", "=", self.id),
            ],
        }
