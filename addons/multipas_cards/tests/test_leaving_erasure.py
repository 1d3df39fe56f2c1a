import base64
import io
import json
import os
from collections import defaultdict
from datetime import date

from PIL import Image

from odoo import Command
from odoo.tests import new_test_user, tagged
from odoo.tools import SQL

from .common import MultipasCommon

# Name parts no other record of any database holds.
LAST = "Шкваркозябина"
FIRST = "Евдоксия"
FIRST_BEFORE = "Евдокиния"  # the first name before a correction, kept in tracking
PATRONYMIC = "Пантелеймоновна"
BIRTH = date(2015, 3, 7)
EMAIL = "shkvarkozyabina.e@example.com"
PHONE = "+7 900 765-43-21"
ALLERGY = "орехи кешью"
NEEDLES = [
    LAST,
    FIRST,
    FIRST_BEFORE,
    PATRONYMIC,
    "shkvarkozyabina",
    "765-43-21",
    ALLERGY,
    BIRTH.isoformat(),
    BIRTH.strftime("%d.%m.%Y"),
]
# JSON written as text (bus notifications) escapes non-ASCII letters.
NEEDLES += [json.dumps(needle)[1:-1] for needle in NEEDLES if not needle.isascii()]
TEXT_TYPES = ("text", "character varying", "character", "jsonb", "json")
DATE_TYPES = ("date", "timestamp without time zone", "timestamp with time zone")


def _photo():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue())


@tagged("post_install", "-at_install", "multipas_leaving")
class TestLeavingErasure(MultipasCommon):
    """Leaving erases the person so that nothing in the whole database, nor
    in the filestore, holds their name, contacts or birth date any more."""

    def _columns(self, data_types):
        rows = self.env.execute_query(
            SQL(
                """
                SELECT c.table_name, c.column_name
                  FROM information_schema.columns c
                  JOIN information_schema.tables t
                    ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                 WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                   AND c.data_type IN %s
                 ORDER BY 1, 2
                """,
                tuple(data_types),
            )
        )
        by_table = defaultdict(list)
        for table, column in rows:
            by_table[table].append(column)
        return by_table

    def _scan_database(self, needles):
        """Every text, varchar and json(b) column of every table and every
        bytea column: which ones hold any of ``needles``."""
        self.env.flush_all()
        patterns = [f"%{needle}%".replace("\\", "\\\\") for needle in needles]
        hits = []
        for table, columns in self._columns(TEXT_TYPES).items():
            condition = SQL(" OR ").join(
                SQL("%s::text ILIKE ANY(%s)", SQL.identifier(column), patterns)
                for column in columns
            )
            if not self.env.execute_query(
                SQL("SELECT 1 FROM %s WHERE %s LIMIT 1", SQL.identifier(table), condition)
            ):
                continue
            for column in columns:
                rows = self.env.execute_query(
                    SQL(
                        "SELECT %s::text FROM %s WHERE %s::text ILIKE ANY(%s) LIMIT 3",
                        SQL.identifier(column),
                        SQL.identifier(table),
                        SQL.identifier(column),
                        patterns,
                    )
                )
                hits += [(table, column, value[:200]) for (value,) in rows]
        for table, columns in self._columns(["bytea"]).items():
            for column in columns:
                for needle in needles:
                    if self.env.execute_query(
                        SQL(
                            "SELECT 1 FROM %s WHERE position(convert_to(%s, 'UTF8') in %s) > 0 "
                            "LIMIT 1",
                            SQL.identifier(table),
                            needle,
                            SQL.identifier(column),
                        )
                    ):
                        hits.append((table, column, needle))
        return hits

    def _scan_filestore(self, needles):
        """The files of every attachment in the database."""
        hits = []
        encoded = [needle.encode() for needle in needles]
        Attachment = self.env["ir.attachment"]
        for (fname,) in self.env.execute_query(
            SQL("SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL")
        ):
            path = Attachment._full_path(fname)
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                content = handle.read()
            hits += [(fname, needle) for needle in encoded if needle in content]
        return hits

    def _count_dates(self, day):
        """How many values equal ``day`` in each date and timestamp column."""
        counts = {}
        for table, columns in self._columns(DATE_TYPES).items():
            for column in columns:
                (count,) = self.env.execute_query(
                    SQL(
                        "SELECT count(*) FROM %s WHERE %s::date = %s",
                        SQL.identifier(table),
                        SQL.identifier(column),
                        day,
                    )
                )[0]
                if count:
                    counts[(table, column)] = count
        return counts

    def _flush_tracking(self):
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.flush_all()

    def test_erasure_leaves_no_trace(self):
        """Test that after the leaving is confirmed no text, json or binary
        column of any table, and no attachment file, holds the pupil's name
        parts, contacts, allergies or birth date; and that the birth date is
        gone from every date column. The scans are shown to find the pupil
        before the erasure."""
        self.assertEqual(self._scan_database(NEEDLES), [], "the needles must be unique")
        dates_before = self._count_dates(BIRTH)

        # The chatter works as it does for users: tracking on, messages logged.
        env = self.env(
            context=dict(
                self.env.context,
                tracking_disable=False,
                mail_notrack=False,
                mail_create_nolog=False,
            )
        )
        mother = env["res.partner"].create(
            {"name": "Mptest Mother Of The Leaver", "email": "mother.leaver@example.com"}
        )
        father_user = new_test_user(
            env,
            login="mp_leaver_father",
            groups="base.group_portal",
            name="Mptest Father Of The Leaver",
            email="father.leaver@example.com",
        )
        holder = env["multipas.cardholder"].create(
            {
                "last_name": LAST,
                "first_name": FIRST_BEFORE,
                "patronymic": PATRONYMIC,
                "birth_date": BIRTH,
                "email": EMAIL,
                "phone": PHONE,
                "street": "ул. Тестовая, 7",
                "school_id": self.school_a.id,
                "class_id": self.class_a1.id,
                "allergies": "арахис",
                "diet": "без глютена",
                "comment": f"Записала мама, {FIRST_BEFORE} любит рисовать",
                "image_1920": _photo(),
                "guardian_ids": [Command.set((mother | father_user.partner_id).ids)],
            }
        )
        self._flush_tracking()
        holder.write({"first_name": FIRST, "allergies": f"арахис, {ALLERGY}"})
        # An internal follower gets the messages in the web client (bus),
        # the mother by e-mail.
        self.user_manager.notification_type = "inbox"
        holder.message_subscribe(partner_ids=(mother | self.user_manager.partner_id).ids)
        holder.message_post(
            body=f"Мама {FIRST} звонила: {LAST} болеет до пятницы.",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            attachments=[("справка.txt", f"Справка: {LAST} {FIRST}, {BIRTH:%d.%m.%Y}".encode())],
        )
        env["ir.attachment"].create(
            {
                "name": f"Заявление {LAST}.txt",
                "raw": f"{LAST} {FIRST} {PATRONYMIC}, {BIRTH:%d.%m.%Y}, {PHONE}".encode(),
                "res_model": "multipas.cardholder",
                "res_id": holder.id,
            }
        )
        holder.activity_schedule(
            "mail.mail_activity_data_todo", summary=f"Фото для {LAST}", user_id=self.env.uid
        )
        # A reserve card given to the pupil: the holder change is tracked.
        card = env["multipas.card"].create(
            {
                "number": "MPTST-0777",
                "uid": "A1B2C3D477",
                "school_id": self.school_a.id,
                "state": "stock",
            }
        )
        self._flush_tracking()
        card.holder_id = holder
        self._flush_tracking()
        card.action_issue()
        card.message_post(body=f"Карту выдали лично {LAST}ой {FIRST}")
        account = holder.account_id
        account.post(500.0, "topup", "erasure-topup", note=f"Перевод за {FIRST} {LAST}")
        account.post(-65.0, "purchase", "erasure-lunch", note="Обед")
        account.message_post(body=f"Звонок по счёту {LAST}ой", message_type="comment")
        # A message without the name still carries it as the record's name,
        # in the chatter and in the e-mail to the follower.
        account.message_subscribe(partner_ids=mother.ids)
        account.message_post(
            body="Договор проверен.", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        account.activity_schedule(
            "mail.mail_activity_data_todo", summary="Сверить пополнение", user_id=self.env.uid
        )
        # A change form about the pupil (§4.1.2), with the guardian's line.
        env["multipas.registration.form"].create(
            {
                "form_type": "change",
                "target_cardholder_id": holder.id,
                "school_id": self.school_a.id,
                "last_name": LAST,
                "first_name": FIRST,
                "patronymic": PATRONYMIC,
                "birth_date": BIRTH,
                "class_grade": 5,
                "class_letter": "A",
                "allergies": ALLERGY,
                "guardian_ids": [
                    Command.create(
                        {
                            "last_name": LAST,
                            "first_name": "Мать",
                            "relation": "mother",
                            "is_primary": True,
                            "phone": PHONE,
                            "email": EMAIL,
                        }
                    )
                ],
            }
        )
        self._flush_tracking()

        before = self._scan_database(NEEDLES)
        tables = {table for table, _column, _value in before}
        for table in (
            "res_partner",
            "multipas_cardholder",
            "mail_message",
            "mail_tracking_value",
            "ir_attachment",
            "multipas_account_entry",
            "mail_activity",
            "bus_bus",
            "multipas_registration_form",
            "multipas_registration_form_guardian",
        ):
            self.assertIn(table, tables, f"the scan should find the pupil in {table}")
        self.assertTrue(self._scan_filestore(NEEDLES), "the files hold the pupil too")
        self.assertNotEqual(self._count_dates(BIRTH), dates_before)
        files = set(
            env["ir.attachment"]
            .search(
                [
                    "|",
                    "&",
                    ("res_model", "=", "multipas.cardholder"),
                    ("res_id", "=", holder.id),
                    "&",
                    ("res_model", "=", "res.partner"),
                    ("res_id", "=", holder.partner_id.id),
                    "|",
                    ("res_field", "=", False),
                    ("res_field", "!=", False),
                ]
            )
            .mapped("store_fname")
        )
        self.assertTrue(files)

        leaving = (
            env["multipas.leaving"]
            .with_user(self.user_coordinator)
            .create(
                {"holder_id": holder.id, "reason": "moved", "note": f"{FIRST} уезжает в Казань"}
            )
        )
        log = leaving.with_user(self.user_clerk)._confirm(
            card_outcome="not_returned",
            block_reason="lost",
            balance_action="refund",
            refund_partner=mother,
            bank_details="Bank: test, BIC 000000000, account 40817810000000000002",
        )
        self._flush_tracking()
        # What the post-commit hook does once the transaction is committed.
        holder._multipas_unlink_files(files)

        self.assertEqual(self._scan_database(NEEDLES), [])
        self.assertEqual(self._scan_filestore(NEEDLES), [])
        for fname in files:
            self.assertFalse(os.path.exists(env["ir.attachment"]._full_path(fname)), fname)
        self.assertEqual(self._count_dates(BIRTH), dates_before)

        # What remains: an anonymous holder, the money history, the refund owed.
        self.assertEqual(holder.name, f"Former pupil #{holder.id}")
        self.assertFalse(holder.guardian_ids)
        self.assertFalse(holder.image_1920)
        self.assertEqual(len(account.entry_ids), 3)
        self.assertEqual(sum(account.entry_ids.mapped("amount")), 0)
        self.assertEqual(leaving.refund_partner_id, mother)
        self.assertEqual(leaving.refund_amount, 435.0)
        self.assertFalse(father_user.active, "the father has no other child at school")
        self.assertFalse(self.env["multipas.account"]._find_inconsistent_accounts())
        # History without the person stays, under the new name.
        kept = account.message_ids.filtered(lambda m: "Договор проверен" in (m.body or ""))
        self.assertEqual(kept.record_name, account.display_name)
        self.assertIn(f"#{holder.id}", account.display_name)
        relabelled = card.message_ids.tracking_value_ids.filtered(
            lambda t: t.field_id.name == "holder_id"
        )
        self.assertEqual(relabelled.mapped("new_value_char"), [holder.display_name])
        # The log says what kinds of data went, and nothing about the person.
        categories = set(log.line_ids.mapped("category"))
        self.assertTrue(
            {
                "name",
                "birth_date",
                "photo",
                "contacts",
                "health",
                "guardians",
                "messages",
                "tracking",
                "attachments",
                "activities",
                "followers",
                "ledger_notes",
                "notes",
            }
            <= categories,
            categories,
        )
