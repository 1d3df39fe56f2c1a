"""Registration forms from a spreadsheet the system itself generates for the
school: the coordinator types the paper forms into it (or lets the school's
secretary do it), then imports it here. All rows or nothing."""

import base64
import io
import re
import zipfile
from datetime import date, datetime

import openpyxl
import xlsxwriter
from openpyxl.utils.exceptions import InvalidFileException
from xlsxwriter.utility import xl_col_to_name

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize

from ..models.multipas_registration_form import TRANSITION, normalize_name, normalize_phone

# The template is a Russian school's document (the paper form of regulation
# §3.2 is Russian), whatever language the person downloading it reads: its
# headers and list values are data, not interface text. The import finds the
# columns by the keys on the hidden sheet, never by these headers.
SHEET_FORMS = "Анкеты"
SHEET_META = "multipas"
TEMPLATE_FORMAT = "multipas-registration-1"
FIRST_DATA_ROW = 3  # 1-based: row 1 headers, row 2 the sample
MAX_ROWS = 2000
# (key, header, width, kind)
COLUMNS = [
    ("kind", "Ученик или сотрудник", 14, "list"),
    ("last_name", "Фамилия", 16, "text"),
    ("first_name", "Имя", 14, "text"),
    ("patronymic", "Отчество", 16, "text"),
    ("birth_date", "Дата рождения", 13, "date"),
    ("class", "Класс (например, 5А)", 10, "list"),
    ("benefit", "Льготная категория", 20, "list"),
    ("allergies", "Аллергии", 18, "text"),
    ("diet", "Особенности питания", 18, "text"),
    ("g_last_name", "Фамилия представителя", 18, "text"),
    ("g_first_name", "Имя представителя", 14, "text"),
    ("g_patronymic", "Отчество представителя", 18, "text"),
    ("g_relation", "Кем приходится", 12, "list"),
    ("phone", "Телефон", 18, "text"),
    ("email", "E-mail", 22, "text"),
    ("contract_date", "Договор подписан (дата)", 14, "date"),
    ("contract_version", "Редакция договора", 16, "text"),
    ("consent_date", "Согласие на обработку ПДн (дата)", 16, "date"),
]
COLUMN_KEYS = [key for key, *_rest in COLUMNS]
KINDS = {"ученик": "pupil", "сотрудник": "staff", "pupil": "pupil", "staff": "staff"}
KIND_LABELS = ["Ученик", "Сотрудник"]
RELATIONS = {
    "мать": "mother",
    "отец": "father",
    "опекун": "guardian",
    "законный представитель": "guardian",
    "другое": "other",
    "mother": "mother",
    "father": "father",
    "guardian": "guardian",
    "other": "other",
}
RELATION_LABELS = ["Мать", "Отец", "Опекун", "Другое"]
CLASS_RE = re.compile(r"^(\d{1,2})\s*-?\s*([A-Za-zА-Яа-яЁё])$")


class MultipasRegistrationImportWizard(models.TransientModel):
    _name = "multipas.registration.import.wizard"
    _description = "Import registration forms"

    school_id = fields.Many2one(
        "multipas.school", required=True, default=lambda self: self._default_school()
    )
    template_file = fields.Binary(readonly=True, attachment=False)
    template_filename = fields.Char(readonly=True)
    import_file = fields.Binary(string="Filled template", attachment=False)
    import_filename = fields.Char()
    error_text = fields.Text(string="Errors", readonly=True)
    state = fields.Selection([("choose", "Choose"), ("error", "Errors")], default="choose")

    @api.model
    def _default_school(self):
        schools = self.env.user.multipas_school_ids
        return schools.id if len(schools) == 1 else False

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    # === TEMPLATE === #

    def _template_lists(self):
        """The values offered in the template's drop-down lists."""
        school = self.school_id
        Form = self.env["multipas.registration.form"]
        today = fields.Date.context_today(self)
        years = {Form._school_year_for_form(today), school._current_school_year(today)}
        classes = self.env["multipas.class"].search(
            [("school_id", "=", school.id), ("school_year", "in", list(years))]
        )
        class_names = sorted(set(classes.mapped("name")), key=lambda n: (len(n), n))
        benefits = self.env["multipas.benefit.category"].search([]).mapped("name")
        return {
            "kind": KIND_LABELS,
            "g_relation": RELATION_LABELS,
            "class": class_names,
            "benefit": benefits,
        }

    def _template_bytes(self):
        self.ensure_one()
        school = self.school_id
        lists = self._template_lists()
        output = io.BytesIO()
        book = xlsxwriter.Workbook(output, {"in_memory": True})
        sheet = book.add_worksheet(SHEET_FORMS)
        meta = book.add_worksheet(SHEET_META)
        header = book.add_format(
            {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7", "border": 1}
        )
        sample = book.add_format({"italic": True, "font_color": "#7F7F7F"})
        sample_date = book.add_format(
            {"italic": True, "font_color": "#7F7F7F", "num_format": "dd.mm.yyyy"}
        )
        date_format = book.add_format({"num_format": "dd.mm.yyyy"})
        text_format = book.add_format({"num_format": "@"})

        # The hidden sheet: which school and which columns this file is for,
        # and the sources of the drop-down lists.
        meta.write_row(0, 0, ["school_code", school.code])
        meta.write_row(1, 0, ["format", TEMPLATE_FORMAT])
        meta.write_row(2, 0, ["first_row", FIRST_DATA_ROW])
        meta.write_row(3, 0, ["columns", *COLUMN_KEYS])
        list_ranges = {}
        for offset, (key, values) in enumerate(lists.items()):
            col = offset
            meta.write(5, col, key)
            for index, value in enumerate(values):
                meta.write_string(6 + index, col, value)
            if values:
                letter = xl_col_to_name(col)
                list_ranges[key] = f"='{SHEET_META}'!${letter}$7:${letter}${6 + len(values)}"
        meta.hide()

        today = fields.Date.context_today(self)
        example = {
            "kind": "Ученик",
            "last_name": "Иванов",
            "first_name": "Иван",
            "patronymic": "Иванович",
            "birth_date": date(today.year - 10, 3, 14),
            "class": (lists["class"] or ["4А"])[0],
            "benefit": "",
            "allergies": "арахис",
            "diet": "",
            "g_last_name": "Иванова",
            "g_first_name": "Мария",
            "g_patronymic": "Петровна",
            "g_relation": "Мать",
            "phone": "+7 912 000-00-00",
            "email": "ivanova@example.com",
            "contract_date": today,
            "contract_version": self.env["multipas.registration.form"]._contract_version(),
            "consent_date": today,
        }
        last_row = FIRST_DATA_ROW - 1 + MAX_ROWS - 1  # 0-based
        first = FIRST_DATA_ROW - 1
        for col, (key, title, width, kind) in enumerate(COLUMNS):
            sheet.set_column(col, col, width, date_format if kind == "date" else text_format)
            sheet.write_string(0, col, title, header)
            value = example[key]
            if isinstance(value, date):
                sheet.write_datetime(
                    1, col, datetime.combine(value, datetime.min.time()), sample_date
                )
            else:
                sheet.write_string(1, col, value or "", sample)
            if kind == "date":
                sheet.data_validation(
                    first,
                    col,
                    last_row,
                    col,
                    {
                        "validate": "date",
                        "criteria": "between",
                        "minimum": date(1930, 1, 1),
                        "maximum": date(today.year + 1, 12, 31),
                        "error_title": "Дата",
                        "error_message": "Введите дату в виде ДД.ММ.ГГГГ.",
                    },
                )
            elif kind == "list" and key in list_ranges:
                sheet.data_validation(
                    first,
                    col,
                    last_row,
                    col,
                    {
                        "validate": "list",
                        "source": list_ranges[key],
                        # A class may be new this year: warn, don't forbid.
                        "error_type": "warning" if key == "class" else "stop",
                        "error_title": title,
                        "error_message": "Выберите значение из списка.",
                    },
                )
        sheet.write_comment(
            1, 0, "Образец заполнения: эта строка не загружается.", {"visible": False}
        )
        sheet.set_row(0, 45)
        sheet.freeze_panes(FIRST_DATA_ROW - 1, 2)
        book.close()
        return output.getvalue()

    def action_download_template(self):
        self.ensure_one()
        filename = f"registration_forms_{self.school_id.code}.xlsx"
        self.write(
            {
                "template_file": base64.b64encode(self._template_bytes()),
                "template_filename": filename,
            }
        )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self._name}/{self.id}/template_file/{filename}?download=true",
            "target": "download",
        }

    # === IMPORT === #

    def _read_rows(self, data):
        """[(row number, {key: value})] of the filled rows of the template."""
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
            raise UserError(
                self.env._("This file can't be read as an Excel workbook (.xlsx).")
            ) from error
        if SHEET_META not in book.sheetnames:
            raise UserError(
                self.env._(
                    "This is not a registration template from Multipas: download the "
                    "template for the school and fill it in."
                )
            )
        meta = book[SHEET_META]
        if meta["B2"].value != TEMPLATE_FORMAT:
            raise UserError(
                self.env._("This template is out of date: download a new one and copy the rows.")
            )
        if (meta["B1"].value or "") != self.school_id.code:
            raise UserError(
                self.env._(
                    "This template was made for school %(code)s, not for %(school)s.",
                    code=meta["B1"].value or "?",
                    school=self.school_id.name,
                )
            )
        keys = [cell.value for cell in meta[4][1:] if cell.value]
        first_row = int(meta["B3"].value or FIRST_DATA_ROW)
        sheet = next(book[name] for name in book.sheetnames if name != SHEET_META)
        rows = []
        for number, values in enumerate(
            sheet.iter_rows(min_row=first_row, values_only=True), start=first_row
        ):
            cells = dict(zip(keys, values, strict=False))
            if all(value in (None, "") or str(value).strip() == "" for value in cells.values()):
                continue
            rows.append((number, cells))
            if len(rows) > MAX_ROWS:
                raise UserError(self.env._("At most %(count)s forms per file.", count=MAX_ROWS))
        return rows

    @staticmethod
    def _text(value):
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return " ".join(str(value).split())

    def _date(self, value, label, errors, required=True):
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            result = value
        else:
            text = self._text(value)
            if not text:
                if required:
                    errors.append(self.env._("%(column)s is empty.", column=label))
                return False
            for pattern in ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y"):
                try:
                    result = datetime.strptime(text, pattern).date()
                    break
                except ValueError:
                    continue
            else:
                errors.append(
                    self.env._(
                        "%(column)s: “%(value)s” is not a date (write 14.03.2015).",
                        column=label,
                        value=text,
                    )
                )
                return False
        if result > fields.Date.context_today(self):
            errors.append(self.env._("%(column)s is in the future.", column=label))
            return False
        return result

    def _row_vals(self, cells, errors, benefits):
        """The registration form values of one row; problems go to ``errors``."""
        _ = self.env._
        text = {key: self._text(cells.get(key)) for key in COLUMN_KEYS}
        today = fields.Date.context_today(self)
        kind = KINDS.get(text["kind"].lower()) if text["kind"] else "pupil"
        if not kind:
            errors.append(_("Write “Ученик” or “Сотрудник” in the first column."))
            kind = "pupil"
        for key, label in (("last_name", _("Last name")), ("first_name", _("First name"))):
            if not text[key]:
                errors.append(_("%(column)s is empty.", column=label))
        birth_date = self._date(
            cells.get("birth_date"), _("Birth date"), errors, required=kind == "pupil"
        )
        vals = {
            "school_id": self.school_id.id,
            "holder_kind": kind,
            "form_date": today,
            "last_name": text["last_name"],
            "first_name": text["first_name"],
            "patronymic": text["patronymic"] or False,
            "birth_date": birth_date,
            "allergies": text["allergies"] or False,
            "diet": text["diet"] or False,
        }
        if text["benefit"]:
            benefit = benefits.get(normalize_name(text["benefit"]))
            if not benefit:
                errors.append(_("Unknown benefit category “%(value)s”.", value=text["benefit"]))
            vals["benefit_category_id"] = benefit or False
        phone, email = text["phone"], text["email"]
        if phone and len(normalize_phone(phone)) < 10:
            errors.append(_("“%(value)s” is not a phone number with the area code.", value=phone))
        if email and not email_normalize(email):
            errors.append(_("“%(value)s” is not an email address.", value=email))
        if not phone and not email:
            errors.append(_("A phone or an email is needed."))
        contract_date = self._date(cells.get("contract_date"), _("Contract date"), errors)
        consent_date = self._date(cells.get("consent_date"), _("Consent date"), errors)
        contract_version = (
            text["contract_version"] or self.env["multipas.registration.form"]._contract_version()
        )
        if kind == "pupil":
            match = CLASS_RE.match(text["class"])
            if not text["class"]:
                errors.append(_("The class is empty."))
            elif not match or int(match[1]) > 12:
                errors.append(
                    _(
                        "“%(value)s” is not a class: write the grade and the letter, e.g. 5А.",
                        value=text["class"],
                    )
                )
            else:
                vals.update(class_grade=int(match[1]), class_letter=match[2].upper())
            for key, label in (
                ("g_last_name", _("Guardian's last name")),
                ("g_first_name", _("Guardian's first name")),
            ):
                if not text[key]:
                    errors.append(_("%(column)s is empty.", column=label))
            relation = RELATIONS.get(text["g_relation"].lower()) if text["g_relation"] else "other"
            if not relation:
                errors.append(
                    _(
                        "Unknown relation “%(value)s”: choose from the list.",
                        value=text["g_relation"],
                    )
                )
            vals["guardian_ids"] = [
                Command.create(
                    {
                        "last_name": text["g_last_name"],
                        "first_name": text["g_first_name"],
                        "patronymic": text["g_patronymic"] or False,
                        "relation": relation or "other",
                        "is_primary": True,
                        "phone": phone or False,
                        "email": email or False,
                        "contract_date": contract_date,
                        "contract_version": contract_version,
                        "consent_date": consent_date,
                        "consent_taken_by_id": self.env.uid,
                    }
                )
            ]
        else:
            vals.update(
                holder_phone=phone or False,
                holder_email=email or False,
                holder_contract_date=contract_date,
                holder_contract_version=contract_version,
                holder_consent_date=consent_date,
                holder_consent_scope=self.env[
                    "multipas.registration.form"
                ]._default_consent_scope(),
                holder_consent_taken_by_id=self.env.uid,
            )
        return vals

    def action_import(self):
        """Create one draft form per filled row, or none at all and list the
        problems by row number."""
        self.ensure_one()
        if not self.import_file:
            raise UserError(self.env._("Choose the filled template to import."))
        rows = self._read_rows(base64.b64decode(self.import_file))
        if not rows:
            raise UserError(self.env._("The template has no filled rows."))
        benefits = {}
        for category in self.env["multipas.benefit.category"].search([]):
            benefits[normalize_name(category.name)] = category.id
            if category.code:
                benefits[normalize_name(category.code)] = category.id
        all_vals, errors, seen = [], [], {}
        for number, cells in rows:
            row_errors = []
            vals = self._row_vals(cells, row_errors, benefits)
            person = (
                normalize_name(vals["last_name"]),
                normalize_name(vals["first_name"]),
                normalize_name(vals["patronymic"] or ""),
                vals["birth_date"],
            )
            if person in seen and vals["last_name"]:
                row_errors.append(
                    self.env._("The same person as in row %(row)s.", row=seen[person])
                )
            seen.setdefault(person, number)
            errors.extend(
                self.env._("Row %(row)s: %(error)s", row=number, error=error)
                for error in row_errors
            )
            all_vals.append(vals)
        if errors:
            shown = errors[:200]
            if len(errors) > len(shown):
                shown.append(self.env._("… and %(count)s more.", count=len(errors) - len(shown)))
            self.write(
                {
                    "state": "error",
                    "error_text": self.env._(
                        "Nothing was imported. Correct these rows and import the file again:"
                    )
                    + "\n"
                    + "\n".join(shown),
                }
            )
            return self._reopen()
        for vals in all_vals:
            vals["source"] = "import"
        forms = (
            self.env["multipas.registration.form"]
            .with_context(**{TRANSITION: True})
            .create(all_vals)
        )
        for form in forms:
            form.message_post(
                body=self.env._("Imported from %(file)s.", file=self.import_filename or "xlsx")
            )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Imported forms"),
            "res_model": "multipas.registration.form",
            "view_mode": "list,form",
            "domain": [("id", "in", forms.ids)],
        }
