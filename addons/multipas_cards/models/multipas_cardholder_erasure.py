"""Leaving and the erasure of a cardholder's personal data (regulation §8.6).

The erasure is one entry point, :meth:`MultipasCardholder._multipas_erase`,
built from three hooks other models extend with ``_inherit =
"multipas.cardholder"``:

``_multipas_erasure_scope()``
    ``{model: ids}`` of the records that belong to the person: their chatter,
    tracked values, activities, attachments and free-text fields are swept.
    The base gives the cardholder, its partner, cards, account, card reissues
    and leaving requests. Add your records (registration forms, …) and call
    ``super()``.

``_multipas_erase_personal_data(terms)``
    Blanks the person's own fields and returns ``{category: count}`` for the
    erasure log (categories are the selection of
    ``multipas.erasure.log.line.category``; extend it with ``selection_add``).
    Extensions call ``super()`` and erase their own fields (e.g. a form's
    name and birth date). ``self`` carries a context without tracking, so
    nothing new is written into the chatter.

``_multipas_erasure_terms()``
    The strings that identify the person (name parts, contacts, birth date
    in the usual spellings), read before anything is erased. The sweep looks
    for them (and for the stems of the name parts, so that declined forms
    such as «Ивановой» are caught) in the scope's texts.

Ledger entries stay: money history is kept for accounting. Their amounts,
kinds, keys and dates are never touched; only a free-text ``note`` that
names the person is replaced, because a note is the one place where a clerk
may have typed a name.
"""

import contextlib
import json
import os
import re
from collections import Counter

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

# Partner fields that are not personal (kept on the anonymised partner).
PARTNER_KEEP = frozenset(
    {
        "name",
        "complete_name",
        "lang",
        "tz",
        "type",
        "active",
        "is_company",
        "company_id",
        "color",
        "partner_share",
        "commercial_partner_id",
        "commercial_company_name",
        "email_normalized",
        "display_name",
    }
)
# Partner fields blanked, and how the log counts them.
PARTNER_CATEGORIES = {
    "email": "contacts",
    "phone": "contacts",
    "mobile": "contacts",
    "street": "address",
    "street2": "address",
    "city": "address",
    "zip": "address",
    "state_id": "address",
    "country_id": "address",
    "image_1920": "photo",
    "comment": "notes",
}
PARTNER_RELATIONS_CLEARED = {
    "state_id": "address",
    "country_id": "address",
    "category_id": "other_fields",
    "title": "other_fields",
    "parent_id": "other_fields",
    "user_id": "other_fields",
    "industry_id": "other_fields",
}
ERASURE_CONTEXT = {
    "tracking_disable": True,
    "mail_notrack": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "active_test": False,
}
MIN_STEM = 3


def _stem(part):
    """The part of a name that all its Russian case forms share, roughly:
    «Иванова» → «Ивано» (Ивановой, Ивановым), «Анна» → «Анн» (Анны, Анне)."""
    part = part.strip()
    if len(part) <= MIN_STEM:
        return part
    if len(part) == 4:
        return part[:3]
    return part[:-2]


class MultipasCardholder(models.Model):
    _inherit = "multipas.cardholder"

    # Who changed a pupil's allergies or diet matters for the canteen's
    # safety (§8.3); the values are swept from the chatter on erasure.
    allergies = fields.Text(tracking=True)
    diet = fields.Text(tracking=True)
    leaving_ids = fields.One2many(
        "multipas.leaving",
        "holder_id",
        string="Leaving requests",
        groups="multipas_cards.group_operator_clerk,multipas_cards.group_school_coordinator",
    )

    # === LEAVING === #

    def _check_can_report_leaving(self):
        if not self:
            raise UserError(self.env._("Choose the cardholder who leaves."))
        for holder in self:
            if holder.state != "enrolled":
                raise UserError(
                    self.env._("%(name)s has already left the school.", name=holder.name)
                )
            open_request = (
                self.env["multipas.leaving"]
                .sudo()
                .search([("holder_id", "=", holder.id), ("state", "!=", "cancelled")], limit=1)
            )
            if open_request:
                raise UserError(
                    self.env._(
                        "%(name)s is already reported as leaving (%(request)s).",
                        name=holder.name,
                        request=open_request.name,
                    )
                )

    def action_report_leaving(self):
        """Open a new leaving request for this person (the coordinator's step)."""
        self.ensure_one()
        self._check_can_report_leaving()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Report leaving"),
            "res_model": "multipas.leaving",
            "view_mode": "form",
            "target": "current",
            "context": {"default_holder_id": self.id},
        }

    def _multipas_revoke_portal_access(self):
        """Take the portal away from guardians who have no other enrolled
        child; returns how many lost it.

        The portal user is archived and moved from the portal group to the
        public one, as Odoo's own portal wizard does when access is revoked:
        archiving changes the session token (it covers ``active``), so open
        sessions end, and the account can be reactivated if a younger child
        enrols later. The guardian's partner stays: it may be owed a refund.
        """
        self.ensure_one()
        group_portal = self.env.ref("base.group_portal")
        group_public = self.env.ref("base.group_public")
        revoked = 0
        for guardian in self.sudo().guardian_ids:
            others = (guardian.multipas_child_ids - self).filtered(lambda c: c.state == "enrolled")
            if others:
                continue
            users = guardian.with_context(active_test=False).user_ids.filtered(
                lambda u: u.active and u._is_portal()
            )
            if not users:
                continue
            users.write(
                {
                    "groups_id": [
                        fields.Command.unlink(group_portal.id),
                        fields.Command.link(group_public.id),
                    ],
                    "active": False,
                }
            )
            guardian.signup_type = False
            revoked += 1
        return revoked

    # === ERASURE === #

    def _multipas_erasure_label(self):
        return self.env._("Former pupil #%s", self.id)

    def _multipas_erasure_terms(self):
        """The strings that identify this person, read before erasing."""
        self.ensure_one()
        holder = self.sudo()
        terms = {
            "names": [
                p.strip()
                for p in (holder.last_name, holder.first_name, holder.patronymic)
                if p and p.strip()
            ],
            "strings": [
                s.strip()
                for s in (holder.name, holder.email, holder.phone, holder.mobile)
                if s and s.strip()
            ],
        }
        terms["birth_date"] = holder.birth_date
        if holder.birth_date:
            day = holder.birth_date
            terms["strings"] += [
                day.isoformat(),
                day.strftime("%d.%m.%Y"),
                day.strftime("%d/%m/%Y"),
                day.strftime("%m/%d/%Y"),
            ]
        terms["stems"] = sorted({_stem(p) for p in terms["names"]} | set(terms["strings"]))
        return terms

    def _multipas_erasure_scope(self):
        """``{model: ids}`` of the records that belong to this person."""
        self.ensure_one()
        holder = self.sudo()
        return {
            "multipas.cardholder": set(holder.ids),
            "res.partner": set(holder.partner_id.ids),
            "multipas.card": set(
                self.env["multipas.card"].sudo().search([("holder_id", "=", holder.id)]).ids
            ),
            "multipas.account": set(holder.account_ids.ids),
            "multipas.card.reissue": set(
                self.env["multipas.card.reissue"].sudo().search([("holder_id", "=", holder.id)]).ids
            ),
            "multipas.leaving": set(holder.leaving_ids.ids),
        }

    def _multipas_erase_personal_data(self, terms):
        """Blank this person's own fields; returns ``{category: count}``."""
        self.ensure_one()
        holder = self.sudo().with_context(**ERASURE_CONTEXT)
        partner = holder.partner_id
        label = holder._multipas_erasure_label()
        counts = holder._multipas_erase_partner()

        if holder.birth_date:
            counts["birth_date"] += 1
        if holder.allergies or holder.diet:
            counts["health"] += 1
        if holder.benefit_category_id:
            counts["benefit"] += 1
        if holder.guardian_ids:
            counts["guardians"] += len(holder.guardian_ids)
        own_vals = {
            "last_name": label,
            "first_name": "—",
            "patronymic": False,
            "birth_date": False,
            "allergies": False,
            "diet": False,
            "benefit_category_id": False,
            "guardian_ids": [fields.Command.clear()],
        }
        # Fields added by other addons on the cardholder itself.
        for name, field in holder._fields.items():
            if name in own_vals or field.inherited or not field.store:
                continue
            if field.compute or field.related or field.required or field.automatic:
                continue
            if field.type in ("char", "text", "html", "binary", "date") and holder[name]:
                own_vals[name] = False
                counts["other_fields"] += 1
        holder.write(own_vals)
        # The composed name would read "<label> —": the partner shows the label.
        partner.write({"name": label})
        counts["name"] += 1
        return counts

    def _multipas_erase_partner(self):
        """Blank the personal fields of the person's partner, whichever addon
        added them; returns ``{category: count}``."""
        counts = Counter()
        partner = self.partner_id
        partner_vals = {}
        for name, field in partner._fields.items():
            if name in PARTNER_KEEP or not field.store or field.compute or field.related:
                continue
            if field.automatic:
                continue
            if field.type in ("char", "text", "html", "binary", "date"):
                if field.required or not partner[name]:
                    continue
                partner_vals[name] = False
                counts[PARTNER_CATEGORIES.get(name, "other_fields")] += 1
        for name, category in PARTNER_RELATIONS_CLEARED.items():
            if name in partner._fields and partner[name]:
                field = partner._fields[name]
                partner_vals[name] = (
                    [fields.Command.clear()] if field.type == "many2many" else False
                )
                counts[category] += 1
        if partner.bank_ids:
            counts["contacts"] += len(partner.bank_ids)
            partner.bank_ids.unlink()
        if partner_vals:
            partner.write(partner_vals)
        return counts

    def _multipas_erase(self, leaving=None):
        """Erase this person's data for good and log what was erased.

        Called by the leaving confirmation after the card, the balance and the
        account are settled. Returns the ``multipas.erasure.log``.
        """
        self.ensure_one()
        holder = self.sudo().with_context(**ERASURE_CONTEXT)
        # Pending tracking and notifications are written now, so that they
        # are swept below instead of being written at commit with the name.
        holder._multipas_flush_pending()
        terms = holder._multipas_erasure_terms()
        scope = holder._multipas_erasure_scope()
        counts = Counter(holder._multipas_erase_personal_data(terms))
        holder._multipas_flush_pending()
        counts.update(holder._multipas_erase_traces(terms, scope))
        lines = [
            fields.Command.create({"category": category, "count": count})
            for category, count in sorted(counts.items())
            if count
        ]
        return (
            self.env["multipas.erasure.log"]
            .sudo()
            .create(
                {
                    "res_model": self._name,
                    "res_id": self.id,
                    "leaving_id": leaving.id if leaving else False,
                    "company_id": holder.company_id.id,
                    "line_ids": lines,
                }
            )
        )

    def _multipas_flush_pending(self):
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.flush_all()

    # === SWEEP OF TRACES === #

    def _multipas_erase_traces(self, terms, scope):
        """Remove the person from chatter, tracked values, followers,
        activities, attachments, notes and pending notifications of the
        records in ``scope``; returns ``{category: count}``."""
        self.ensure_one()
        counts = Counter()
        env = self.env(su=True)
        partner = self.partner_id
        patterns = self._multipas_like_patterns(terms["stems"])
        own = {("multipas.cardholder", self.id), ("res.partner", partner.id)}
        pairs = [(model, res_id) for model, ids in scope.items() for res_id in ids]

        Message = env["mail.message"].with_context(**ERASURE_CONTEXT)
        scope_domain = self._multipas_scope_domain(scope, "model", "res_id")
        messages = Message.search(scope_domain) if scope_domain else Message
        own_messages = messages.filtered(lambda m: (m.model, m.res_id) in own)

        # Tracked values naming the person through a relation, anywhere.
        Tracking = env["mail.tracking.value"]
        relational = (
            Tracking.search(
                [
                    "|",
                    "&",
                    ("field_id.relation", "=", "multipas.cardholder"),
                    "|",
                    ("old_value_integer", "=", self.id),
                    ("new_value_integer", "=", self.id),
                    "&",
                    ("field_id.relation", "=", "res.partner"),
                    "|",
                    ("old_value_integer", "=", partner.id),
                    ("new_value_integer", "=", partner.id),
                ]
            )
            - own_messages.tracking_value_ids
        )
        label = self.display_name
        for tracking in relational:
            tracking_vals = {}
            if tracking.old_value_integer in (self.id, partner.id):
                tracking_vals["old_value_char"] = label
            if tracking.new_value_integer in (self.id, partner.id):
                tracking_vals["new_value_char"] = label
            tracking.write(tracking_vals)
        counts["tracking"] += len(relational)
        # The searches below read the table in SQL.
        relational.flush_recordset()

        # Tracked values that spell a name, an e-mail or the birth date.
        other_messages = messages - own_messages
        named_tracking = Tracking.browse()
        if other_messages and patterns:
            # A tracked date (a form's birth date) is no text: compare it too.
            birth_date = terms.get("birth_date") or None
            named_tracking = Tracking.browse(
                row[0]
                for row in env.execute_query(
                    SQL(
                        "SELECT id FROM mail_tracking_value WHERE mail_message_id IN %s AND ("
                        "old_value_char ILIKE ANY(%s) OR new_value_char ILIKE ANY(%s) OR "
                        "old_value_text ILIKE ANY(%s) OR new_value_text ILIKE ANY(%s) OR "
                        "old_value_datetime::date = %s OR new_value_datetime::date = %s)",
                        tuple(other_messages.ids),
                        patterns,
                        patterns,
                        patterns,
                        patterns,
                        birth_date,
                        birth_date,
                    )
                )
            )
        counts["tracking"] += len(named_tracking) + len(own_messages.tracking_value_ids)
        named_tracking.unlink()

        # Messages: all of the person's own records; elsewhere those that
        # name them, and those left empty once their tracked values went.
        named = other_messages.filtered(
            lambda m: self._multipas_text_matches(
                " ".join(filter(None, [m.body, m.email_from])), terms["stems"]
            )
        )
        # A subject naming the person is usually the record's old name, set
        # by the e-mail notification ("Re: <record>"): the message itself stays.
        for message in other_messages - named:
            if self._multipas_text_matches(message.subject, terms["stems"]):
                message.subject = False
        empty = (other_messages - named).filtered(
            lambda m: (
                not m.tracking_value_ids
                and not m.attachment_ids
                and m.message_type == "notification"
                and not (m.body or "").strip()
            )
        )
        doomed = own_messages | named | empty
        counts["messages"] += len(doomed)
        doomed.unlink()
        # Outgoing e-mail copies of the remaining messages carry the record's
        # old name in their subject and layout.
        kept = (other_messages - doomed).exists()
        if kept and patterns:
            mails = env["mail.mail"].browse(
                row[0]
                for row in env.execute_query(
                    SQL(
                        "SELECT id FROM mail_mail WHERE mail_message_id IN %s AND ("
                        "body_html ILIKE ANY(%s) OR email_to ILIKE ANY(%s))",
                        tuple(kept.ids),
                        patterns,
                        patterns,
                    )
                )
            )
            counts["messages"] += len(mails)
            mails.unlink()
        for model, res_id in pairs:
            if (model, res_id) in own or model not in env:
                continue
            record = env[model].browse(res_id).exists()
            if record:
                env.execute_query(
                    SQL(
                        "UPDATE mail_message SET record_name = %s WHERE model = %s AND res_id = %s",
                        record.display_name,
                        model,
                        res_id,
                    )
                )
        env.execute_query(
            SQL(
                "UPDATE mail_message SET author_id = NULL, email_from = NULL WHERE author_id = %s",
                partner.id,
            )
        )
        for table in ("mail_message_res_partner_rel", "mail_message_res_partner_starred_rel"):
            env.execute_query(
                SQL("DELETE FROM %s WHERE res_partner_id = %s", SQL.identifier(table), partner.id)
            )
        env.execute_query(
            SQL("DELETE FROM mail_notification WHERE res_partner_id = %s", partner.id)
        )
        env["mail.message"].invalidate_model(
            ["record_name", "author_id", "email_from", "partner_ids", "starred_partner_ids"]
        )
        env["mail.notification"].invalidate_model()

        # Followers of the person's records, and the person following anything.
        followers = env["mail.followers"].search(
            [
                "|",
                "|",
                ("partner_id", "=", partner.id),
                "&",
                ("res_model", "=", self._name),
                ("res_id", "=", self.id),
                "&",
                ("res_model", "=", "res.partner"),
                ("res_id", "=", partner.id),
            ]
        )
        counts["followers"] += len(followers)
        followers.unlink()

        # Activities: gone on the person's records; elsewhere renamed, and
        # gone when they name the person.
        Activity = env["mail.activity"]
        activity_domain = self._multipas_scope_domain(scope, "res_model", "res_id")
        activities = Activity.search(activity_domain) if activity_domain else Activity
        doomed_activities = activities.filtered(
            lambda a: (
                (a.res_model, a.res_id) in own
                or self._multipas_text_matches(
                    " ".join(filter(None, [a.summary, a.note])), terms["stems"]
                )
            )
        )
        counts["activities"] += len(doomed_activities)
        doomed_activities.unlink()
        for activity in activities - doomed_activities:
            record = env[activity.res_model].browse(activity.res_id)
            activity.res_name = record.display_name

        counts["attachments"] += self._multipas_erase_attachments(scope, own, terms)
        counts["notes"] += self._multipas_erase_texts(scope, own, terms)
        counts["ledger_notes"] += self._multipas_erase_ledger_notes(patterns)

        # Notifications waiting for browsers (names in their payload).
        if patterns:
            deleted = env.execute_query(
                SQL(
                    "DELETE FROM bus_bus WHERE message ILIKE ANY(%s) RETURNING id",
                    patterns,
                )
            )
            counts["notifications"] += len(deleted)
        return counts

    @api.model
    def _multipas_like_escape(self, text):
        return re.sub(r"([\\%_])", r"\\\1", text)

    @api.model
    def _multipas_like_patterns(self, stems):
        """ILIKE patterns for ``stems`` as written and as JSON escapes them
        (bus notifications store «Ш» as ``\\u0428``), in any letter case."""
        variants = set()
        for stem in stems:
            for form in {stem, stem.lower(), stem.upper(), stem.capitalize()}:
                variants.add(form)
                variants.add(json.dumps(form)[1:-1])
        return sorted(f"%{self._multipas_like_escape(v)}%" for v in variants)

    @api.model
    def _multipas_text_matches(self, text, stems):
        text = (text or "").casefold()
        return any(stem.casefold() in text for stem in stems)

    @api.model
    def _multipas_scope_domain(self, scope, model_field, id_field):
        """A domain matching the records of ``scope`` on a (model, id) pair."""
        domains = [
            ["&", (model_field, "=", model), (id_field, "in", list(ids))]
            for model, ids in scope.items()
            if ids
        ]
        if not domains:
            return []
        return ["|"] * (len(domains) - 1) + [leaf for domain in domains for leaf in domain]

    def _multipas_erase_attachments(self, scope, own, terms):
        """Delete the attachments of the person's records (their photo
        included) and, on the other records of the scope, those that name
        them. The files are removed from the filestore after the commit."""
        env = self.env(su=True)
        Attachment = env["ir.attachment"].with_context(active_test=False)
        domain = self._multipas_scope_domain(scope, "res_model", "res_id")
        if not domain:
            return 0
        # res_field: binary fields (the photo) are attachments too; the
        # default search hides them.
        attachments = Attachment.search(
            domain + ["|", ("res_field", "=", False), ("res_field", "!=", False)]
        )
        doomed = attachments.filtered(lambda a: (a.res_model, a.res_id) in own)
        for attachment in attachments - doomed:
            text = " ".join(filter(None, [attachment.name, attachment.description]))
            text += " " + (attachment.index_content or "")
            if attachment.mimetype and attachment.mimetype.startswith("text"):
                text += " " + (attachment.raw or b"").decode("utf-8", "replace")
            if self._multipas_text_matches(text, terms["stems"]):
                doomed |= attachment
        fnames = {a.store_fname for a in doomed if a.store_fname}
        count = len(doomed)
        doomed.unlink()
        if fnames:
            dbname, uid = self.env.cr.dbname, self.env.uid
            self.env.cr.postcommit.add(
                lambda: self._multipas_purge_files_after_commit(dbname, uid, fnames)
            )
        return count

    @api.model
    def _multipas_purge_files_after_commit(self, dbname, uid, fnames):
        """Remove the erased attachments' files now rather than at the next
        nightly filestore cleanup. Under the lock Odoo's own cleanup takes, so
        that no concurrent transaction adds a reference meanwhile; when the
        lock can't be had the nightly cleanup removes them (they are on its
        list already)."""
        # Imported here: the registry module imports the models.
        from odoo.modules.registry import Registry  # pylint: disable=import-outside-toplevel

        with Registry(dbname).cursor() as cr:
            cr.execute("SET LOCAL lock_timeout TO '5s'")
            try:
                cr.execute("LOCK ir_attachment IN SHARE MODE")
            except psycopg2.errors.LockNotAvailable:
                cr.rollback()
                return
            env = api.Environment(cr, uid, {})
            env["multipas.cardholder"]._multipas_unlink_files(fnames)

    @api.model
    def _multipas_unlink_files(self, fnames):
        """Delete the files among ``fnames`` that no attachment refers to."""
        Attachment = self.env["ir.attachment"]
        rows = self.env.execute_query(
            SQL("SELECT store_fname FROM ir_attachment WHERE store_fname IN %s", tuple(fnames))
        )
        still_used = {row[0] for row in rows}
        removed = 0
        for fname in set(fnames) - still_used:
            path = Attachment._full_path(fname)
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                continue
            # Done as the filestore cleanup would do it: off its list too.
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(Attachment._full_path("checklist"), fname))
        return removed

    def _multipas_erase_texts(self, scope, own, terms):
        """Blank free-text fields that name the person on the other records
        of the scope (a card's block note, a waived fee's reason, …)."""
        env = self.env(su=True)
        count = 0
        for model, ids in scope.items():
            if model in ("multipas.cardholder", "res.partner") or model not in env or not ids:
                continue
            records = env[model].with_context(**ERASURE_CONTEXT).browse(list(ids)).exists()
            if model == "multipas.leaving":
                # Its free text goes whatever it says; the refund's bank
                # details are the guardian's and the accountant needs them.
                with_note = records.filtered("note")
                with_note.write({"note": False})
                count += len(with_note)
                continue
            text_fields = [
                name
                for name, field in records._fields.items()
                if field.store
                and field.type in ("char", "text", "html")
                and not (field.compute or field.related or field.required)
            ]
            for record in records:
                vals = {
                    name: False
                    for name in text_fields
                    if record[name]
                    and self._multipas_text_matches(str(record[name]), terms["stems"])
                }
                if vals:
                    record.write(vals)
                    count += len(vals)
        return count

    def _multipas_erase_ledger_notes(self, patterns):
        """Replace ledger notes that name the person. Only the note: the
        amounts, kinds, keys and dates of entries never change."""
        if not patterns or not self.account_ids:
            return 0
        rows = self.env.execute_query(
            SQL(
                "UPDATE multipas_account_entry SET note = %s "
                "WHERE account_id IN %s AND note ILIKE ANY(%s) RETURNING id",
                self.env._("(note erased with the personal data)"),
                tuple(self.account_ids.ids),
                patterns,
            )
        )
        self.env["multipas.account.entry"].invalidate_model(["note"])
        return len(rows)
