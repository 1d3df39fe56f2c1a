"""A parent fills in a registration form on the portal (/my/registration).

The checks live here, not in the controller, so that tests call them
directly; the controller only moves values in and out. The form is written
as superuser after the checks, with the values listed below and nothing
else from the request.
"""

import base64
import re

from markupsafe import Markup
from psycopg2 import errors as pg_errors

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, email_normalize
from odoo.tools.image import image_process
from odoo.tools.mimetypes import guess_mimetype

from .multipas_registration_form import LETTER_RE, PHONE_CHARS_RE, RELATIONS, normalize_phone

NAME_LIMIT = 60
NOTE_LIMIT = 1000
PHOTO_LIMIT = 5 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png")
# A parent has few children: more open forms than this is a mistake or abuse.
OPEN_FORMS_LIMIT = 10
NAME_RE = re.compile(r"^[A-Za-zА-Яа-яЁё][A-Za-zА-Яа-яЁё'’ .\-]*$")
PORTAL_FIELDS = (
    "school_id",
    "last_name",
    "first_name",
    "patronymic",
    "birth_date",
    "class_grade",
    "class_letter",
    "benefit_category_id",
    "allergies",
    "diet",
    "g_last_name",
    "g_first_name",
    "g_patronymic",
    "g_relation",
    "g_phone",
    "g_email",
    "accept_contract",
    "accept_consent",
)
# What a guardian may correct about their child (§4.1.2). The school and the
# class are the school's to change (class moves, roll-over), the photo has its
# own page with the school's approval; the note tells the school the rest.
CHANGE_PORTAL_FIELDS = (
    "last_name",
    "first_name",
    "patronymic",
    "birth_date",
    "benefit_category_id",
    "allergies",
    "diet",
    "change_note",
)


# At most one portal change form per child is on its way at a time. The check
# in _portal_submit_change reads its request's snapshot, so two requests at
# once (a double tap on a slow connection) would both pass it: this index
# makes the second one fail instead, and that failure is answered like the check.
OPEN_PORTAL_CHANGE_INDEX = "multipas_registration_form_open_portal_change_uniq"


class MultipasRegistrationForm(models.Model):
    _inherit = "multipas.registration.form"

    def init(self):
        res = super().init()
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS %s ON multipas_registration_form "
                "(target_cardholder_id) WHERE form_type = 'change' AND source = 'portal' "
                "AND state IN ('draft', 'submitted')",
                SQL.identifier(OPEN_PORTAL_CHANGE_INDEX),
            )
        )
        return res

    @api.model
    def _portal_domain(self, partner):
        """The forms a guardian sees on the portal: filled in by them or naming them."""
        return [
            "|",
            ("submitter_partner_id", "=", partner.id),
            ("guardian_ids.partner_id", "=", partner.id),
        ]

    @api.model
    def _portal_options(self):
        """What the portal form offers to choose from."""
        return {
            "schools": self.env["multipas.school"].sudo().search([]),
            "benefits": self.env["multipas.benefit.category"].sudo().search([]),
            "grades": list(range(1, 12)),
            "relations": [
                (key, label)
                for key, label in self.env["multipas.registration.form.guardian"]
                ._fields["relation"]
                ._description_selection(self.env)
            ],
            "contract_version": self._contract_version(),
            "consent_scope": self._default_consent_scope(),
        }

    @api.model
    def _portal_defaults(self, partner):
        """Prefill the guardian's own data from their contact."""
        words = (partner.name or "").split()
        last = words[0] if words else ""
        first = words[1] if len(words) > 1 else ""
        patronymic = " ".join(words[2:])
        schools = partner.sudo().multipas_child_ids.school_id
        return {
            "school_id": str(schools.id) if len(schools) == 1 else "",
            "g_last_name": last,
            "g_first_name": first,
            "g_patronymic": patronymic,
            "g_phone": partner.phone or "",
            "g_email": partner.email or "",
            "g_relation": "",
        }

    @api.model
    def _portal_state_label(self, form):
        """The state as a parent reads it."""
        _ = self.env._
        return {
            "draft": _("At the school"),
            "submitted": _("With the card operator"),
            "processed": _("Changes applied") if form.form_type == "change" else _("Registered"),
            "returned": _("Returned"),
        }[form.state]

    @api.model
    def _portal_read_photo(self, upload, errors):
        if not upload or not getattr(upload, "filename", None):
            return False
        data = upload.read(PHOTO_LIMIT + 1)
        if not data:
            return False
        if len(data) > PHOTO_LIMIT:
            errors["photo"] = self.env._("The photo is larger than 5 MB.")
            return False
        if guess_mimetype(data) not in PHOTO_TYPES:
            errors["photo"] = self.env._("The photo must be a JPEG or PNG image.")
            return False
        try:
            # Decoded and written again: nothing but pixels survives.
            data = image_process(
                data, size=(1024, 1024), verify_resolution=True, output_format="JPEG"
            )
        except (UserError, ValueError, OSError):
            errors["photo"] = self.env._("The photo can't be read as an image.")
            return False
        return base64.b64encode(data)

    @api.model
    def _portal_submit(self, partner, post, photo=None):
        """Check what a guardian typed and file the form.

        :returns: ``(form, errors)``; the form is empty and ``errors`` maps
            each wrong input to a sentence when anything is wrong.
        """
        _ = self.env._
        options = self._portal_options()
        check = _PortalCheck(self.env, post)
        school = options["schools"].filtered(lambda s: str(s.id) == check.values["school_id"])
        if not school:
            check.errors["school_id"] = _("Choose the school.")
        child = self._portal_check_child(check, options)
        guardian = self._portal_check_guardian(check)
        errors = check.errors
        photo_data = self._portal_read_photo(photo, errors)
        open_forms = self.sudo().search_count(
            [("submitter_partner_id", "=", partner.id), ("state", "=", "draft")]
        )
        if open_forms >= OPEN_FORMS_LIMIT:
            errors["form"] = _(
                "You have %(count)s forms waiting at the school already: wait until they are "
                "handed over, or call the school.",
                count=open_forms,
            )
        if errors:
            return self.browse(), errors
        today = fields.Date.context_today(self)
        guardian.update(
            is_primary=True,
            contract_date=today,
            contract_version=options["contract_version"],
            consent_date=today,
            consent_scope=options["consent_scope"],
            consent_taken_by_id=self.env.uid,
            partner_id=partner.id,
        )
        form = (
            self.sudo()
            .with_context(mail_create_nosubscribe=True)
            .create(
                {
                    **child,
                    "school_id": school.id,
                    "form_type": "new",
                    "holder_kind": "pupil",
                    "form_date": today,
                    "source": "portal",
                    "submitter_partner_id": partner.id,
                    "photo": photo_data,
                    "guardian_ids": [Command.create(guardian)],
                }
            )
        )
        form.message_post(
            body=_(
                "Filled in on the portal by %(name)s, who accepted the subscriber contract "
                "(%(version)s) and consented to the processing of personal data.",
                name=partner.name,
                version=options["contract_version"] or "—",
            )
        )
        return form, {}

    # === CHANGE FORMS (§4.1.2) === #

    @api.model
    def _portal_change_defaults(self, holder):
        """The child's data on file, as the change form shows them first."""
        vals = self._change_form_defaults(holder)
        values = {key: vals.get(key) or "" for key in CHANGE_PORTAL_FIELDS}
        values.update(
            birth_date=fields.Date.to_string(vals["birth_date"]) if vals["birth_date"] else "",
            benefit_category_id=str(vals["benefit_category_id"] or ""),
        )
        return values

    @api.model
    def _portal_pending_change(self, holder):
        """A change form for ``holder`` still on its way (at the school or
        with the operator), read as superuser: the guardian may not have
        filled it in themselves."""
        return self.sudo().search(
            [
                ("form_type", "=", "change"),
                ("target_cardholder_id", "=", holder.id),
                ("state", "in", ("draft", "submitted")),
            ],
            limit=1,
        )

    @api.model
    def _portal_submit_change(self, holder, post):
        """File a change form for ``holder`` with what the current user, one
        of their guardians, typed: the new data, underlined for the school
        (the form's table of changes), go the way of a paper form.

        :returns: ``(form, errors)`` as :meth:`_portal_submit`
        """
        _ = self.env._
        holder = self.env["res.partner"]._multipas_guardian_check(holder, act=True)
        partner = self.env.user.partner_id
        check = _PortalCheck(self.env, post, CHANGE_PORTAL_FIELDS)
        child = self._portal_check_child(check, self._portal_options(), with_class=False)
        note = check.note("change_note")
        errors = check.errors
        pending = self._portal_pending_change(holder)
        if pending:
            errors["form"] = self._portal_change_pending_error(holder, pending)
        if errors:
            return self.browse(), errors
        holder_sudo = holder.sudo()
        vals = {
            **child,
            "school_id": holder_sudo.school_id.id,
            "class_grade": holder_sudo.class_id.grade,
            "class_letter": holder_sudo.class_id.letter or False,
            "form_type": "change",
            "holder_kind": holder_sudo.kind,
            "target_cardholder_id": holder.id,
            "form_date": fields.Date.context_today(self),
            "source": "portal",
            "submitter_partner_id": partner.id,
        }
        if not self.sudo().new(vals)._diff_with_target():
            return self.browse(), {
                "form": _(
                    "This is what we have on file already: correct what has changed, or go back."
                )
            }
        try:
            with self.env.cr.savepoint():
                form = self.sudo().with_context(mail_create_nosubscribe=True).create(vals)
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name != OPEN_PORTAL_CHANGE_INDEX:
                raise
            return self.browse(), {"form": self._portal_change_pending_error(holder)}
        body = _(
            "Filled in on the portal by %(name)s, guardian of %(child)s: new data for the "
            "cardholder.",
            name=partner.name,
            child=holder.name,
        )
        if note:
            body = Markup("%s<br/>%s") % (body, _("Their note: %(note)s", note=note))
        form.message_post(body=body)
        return form, {}

    @api.model
    def _portal_change_pending_error(self, holder, pending=None):
        if pending:
            return self.env._(
                "Form %(name)s with changes for %(child)s is already on its way: wait until "
                "it is processed, or call the school.",
                name=pending.name,
                child=holder.name,
            )
        return self.env._(
            "A form with changes for %(child)s is already on its way: wait until it is "
            "processed, or call the school.",
            child=holder.name,
        )

    @api.model
    def _portal_check_child(self, check, options, with_class=True):
        _ = self.env._
        errors, values = check.errors, check.values
        birth_date = check.date("birth_date")
        today = fields.Date.context_today(self)
        if not birth_date:
            errors["birth_date"] = _("Enter the child's birth date.")
        elif birth_date >= today or birth_date.year < today.year - 25:
            errors["birth_date"] = _("The birth date doesn't look right.")
        school_class = {}
        if with_class:
            grade = int(values["class_grade"]) if values["class_grade"].isdigit() else None
            if grade not in options["grades"]:
                errors["class_grade"] = _("Choose the grade.")
            letter = values["class_letter"].upper()
            if not LETTER_RE.match(letter):
                errors["class_letter"] = _("Enter the class letter, e.g. А.")
            school_class = {"class_grade": grade, "class_letter": letter}
        benefit = options["benefits"].browse()
        if values["benefit_category_id"]:
            benefit = options["benefits"].filtered(
                lambda b: str(b.id) == values["benefit_category_id"]
            )
            if not benefit:
                errors["benefit_category_id"] = _("Choose a benefit category from the list.")
        return {
            "last_name": check.name("last_name", _("Enter the child's last name.")),
            "first_name": check.name("first_name", _("Enter the child's first name.")),
            "patronymic": check.name("patronymic"),
            "birth_date": birth_date,
            **school_class,
            "benefit_category_id": benefit.id,
            "allergies": check.note("allergies"),
            "diet": check.note("diet"),
        }

    @api.model
    def _portal_check_guardian(self, check):
        _ = self.env._
        errors, values = check.errors, check.values
        relation = values["g_relation"]
        if relation not in dict(RELATIONS):
            errors["g_relation"] = _("Say who you are to the child.")
        phone, email = values["g_phone"], values["g_email"]
        if phone and (not PHONE_CHARS_RE.match(phone) or len(normalize_phone(phone)) < 10):
            errors["g_phone"] = _("Enter the phone with the area code, e.g. +7 912 480-15-27.")
        if email and not email_normalize(email):
            errors["g_email"] = _("This is not an email address.")
        if not phone and not email:
            errors["g_phone"] = _("Enter a phone or an email so that the school can reach you.")
        if values["accept_contract"] != "on":
            errors["accept_contract"] = _("Accept the subscriber contract to register a card.")
        if values["accept_consent"] != "on":
            errors["accept_consent"] = _(
                "Without your consent to the processing of personal data no card can be made."
            )
        return {
            "last_name": check.name("g_last_name", _("Enter your last name.")),
            "first_name": check.name("g_first_name", _("Enter your first name.")),
            "patronymic": check.name("g_patronymic"),
            "relation": relation,
            "phone": phone or False,
            "email": email or False,
        }


class _PortalCheck:
    """The typed values of a portal form and the errors found in them."""

    def __init__(self, env, post, keys=PORTAL_FIELDS):
        self.env = env
        self.values = {key: (post.get(key) or "").strip() for key in keys}
        self.errors = {}

    def name(self, key, missing=None):
        value = " ".join(self.values[key].split())
        if not value:
            if missing:
                self.errors[key] = missing
            return False
        if len(value) > NAME_LIMIT or not NAME_RE.match(value):
            self.errors[key] = self.env._("Use letters, spaces and hyphens only.")
            return False
        return value

    def note(self, key):
        value = self.values[key]
        if len(value) > NOTE_LIMIT:
            self.errors[key] = self.env._("Write at most %(count)s characters.", count=NOTE_LIMIT)
        return value[:NOTE_LIMIT] or False

    def date(self, key):
        try:
            return fields.Date.to_date(self.values[key]) if self.values[key] else False
        except ValueError:
            return False
