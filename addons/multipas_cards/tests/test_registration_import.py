import base64
import io
from datetime import date

import openpyxl

from odoo.exceptions import UserError
from odoo.tests import tagged

from .registration_common import RegistrationCommon


@tagged("post_install", "-at_install", "multipas_registration")
class TestRegistrationImport(RegistrationCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.benefit = cls.env["multipas.benefit.category"].create(
            {"name": "Mptest large family", "code": "MPTEST_LARGE"}
        )

    def _wizard(self, user=None, school=None):
        return (
            self.env["multipas.registration.import.wizard"]
            .with_user(user or self.user_coordinator)
            .create({"school_id": (school or self.school_a).id})
        )

    def _template(self, wizard=None):
        wizard = wizard or self._wizard()
        action = wizard.action_download_template()
        self.assertIn(f"/web/content/{wizard._name}/{wizard.id}/template_file/", action["url"])
        return openpyxl.load_workbook(io.BytesIO(base64.b64decode(wizard.template_file)))

    def _row(self, **values):
        row = {
            "kind": "Ученик",
            "last_name": "Mpimportov",
            "first_name": "Pavel",
            "patronymic": "",
            "birth_date": date(2014, 10, 2),
            "class": "5A",
            "benefit": "",
            "allergies": "",
            "diet": "",
            "g_last_name": "Mpimportova",
            "g_first_name": "Elena",
            "g_patronymic": "",
            "g_relation": "Мать",
            "phone": "+7 912 222-33-44",
            "email": "elena.import@example.com",
            "contract_date": self.form_day,
            "contract_version": "",
            "consent_date": self.form_day,
        }
        row.update(values)
        return row

    def _import(self, rows, wizard=None, book=None):
        wizard = wizard or self._wizard()
        book = book or self._template(wizard)
        keys = [cell.value for cell in book["multipas"][4][1:] if cell.value]
        sheet = book["Анкеты"]
        for offset, row in enumerate(rows):
            for col, key in enumerate(keys, start=1):
                sheet.cell(row=3 + offset, column=col, value=row.get(key))
        output = io.BytesIO()
        book.save(output)
        wizard.write(
            {"import_file": base64.b64encode(output.getvalue()), "import_filename": "forms.xlsx"}
        )
        return wizard, wizard.action_import()

    def test_template_is_made_for_the_school(self):
        """Test that the template has Russian headers, a sample row, drop-down
        lists of the school's classes and of the benefit categories, and a
        hidden sheet naming the school."""
        book = self._template()
        self.assertEqual(book.sheetnames, ["Анкеты", "multipas"])
        meta = book["multipas"]
        self.assertEqual(meta.sheet_state, "hidden")
        self.assertEqual(meta["B1"].value, "MPTST-A")
        sheet = book["Анкеты"]
        headers = [cell.value for cell in sheet[1]]
        self.assertEqual(headers[:3], ["Ученик или сотрудник", "Фамилия", "Имя"])
        self.assertEqual(sheet["B2"].value, "Иванов")
        lists = {}
        for column in meta.iter_cols(min_row=6):
            values = [cell.value for cell in column if cell.value]
            if values:
                lists[values[0]] = values[1:]
        self.assertEqual(lists["class"], ["5A", "6B"])
        self.assertIn("Mptest large family", lists["benefit"])
        formulas = {v.formula1 for v in sheet.data_validations.dataValidation}
        self.assertTrue(any("multipas" in (f or "") for f in formulas), formulas)
        self.assertEqual({v.type for v in sheet.data_validations.dataValidation}, {"list", "date"})

    def test_import_creates_every_row(self):
        """Test that a valid file becomes one draft form per row, with the
        guardian, the consent and the contract, marked as imported."""
        _wizard, action = self._import(
            [
                self._row(benefit="mptest LARGE family"),
                self._row(
                    last_name="Mpimportova",
                    first_name="Sonya",
                    birth_date="14.03.2016",
                    **{"class": "6 b"},
                    g_relation="Отец",
                    g_last_name="Mpimportov",
                    g_first_name="Oleg",
                    email="",
                    phone=79123334455,
                ),
                self._row(
                    kind="Сотрудник",
                    last_name="Mpstaffova",
                    first_name="Lidia",
                    birth_date=None,
                    **{"class": ""},
                    g_last_name="",
                    g_first_name="",
                    g_relation="",
                    email="lidia@example.com",
                ),
            ]
        )
        forms = self.Form.search(action["domain"])
        self.assertEqual(len(forms), 3)
        self.assertEqual(set(forms.mapped("source")), {"import"})
        self.assertEqual(set(forms.mapped("state")), {"draft"})
        pavel = forms.filtered(lambda f: f.first_name == "Pavel")
        self.assertEqual(pavel.benefit_category_id, self.benefit)
        self.assertEqual(pavel.class_id, self.class_a1)
        self.assertEqual(pavel.guardian_ids.consent_taken_by_id, self.user_coordinator)
        self.assertEqual(pavel.guardian_ids.contract_version, self.Form._contract_version())
        self.assertTrue(pavel.is_complete, pavel.missing_info)
        sonya = forms.filtered(lambda f: f.first_name == "Sonya")
        self.assertEqual(sonya.birth_date, date(2016, 3, 14))
        self.assertEqual(sonya.class_id, self.class_a2)
        self.assertEqual(sonya.guardian_ids.relation, "father")
        self.assertEqual(sonya.guardian_ids.phone, "79123334455")
        staff = forms.filtered(lambda f: f.holder_kind == "staff")
        self.assertFalse(staff.guardian_ids)
        self.assertEqual(staff.holder_email, "lidia@example.com")
        self.assertEqual(staff.holder_consent_date, self.form_day)
        self.assertTrue(staff.is_complete, staff.missing_info)

    def test_one_bad_row_imports_nothing(self):
        """Test that a file with a bad row creates no form at all and lists
        each problem with its row number."""
        count = self.Form.search_count([])
        wizard, action = self._import(
            [
                self._row(),
                self._row(first_name="Second", birth_date="31.02.2015", email="x@"),
                self._row(first_name="Third", consent_date=None, **{"class": "5"}),
                self._row(),
            ]
        )
        self.assertEqual(self.Form.search_count([]), count)
        self.assertEqual(action["res_id"], wizard.id)
        self.assertEqual(wizard.state, "error")
        text = wizard.error_text
        self.assertIn("Row 4: Birth date", text)
        self.assertIn("Row 4: “x@” is not an email address.", text)
        self.assertIn("Row 5: Consent date is empty.", text)
        self.assertIn("Row 5: “5” is not a class", text)
        self.assertIn("Row 6: The same person as in row 3.", text)
        self.assertNotIn("Row 3:", text)

    def test_template_of_another_school_is_refused(self):
        """Test that a template made for another school is refused."""
        other = self._template(self._wizard(self.user_clerk, self.school_b))
        with self.assertRaisesRegex(UserError, "made for school MPTST-B"):
            self._import([self._row()], book=other)

    def test_a_file_that_is_not_our_template_is_refused(self):
        """Test that a random file or a foreign workbook is refused with a sentence."""
        wizard = self._wizard()
        wizard.import_file = base64.b64encode(b"not a workbook")
        with self.assertRaisesRegex(UserError, "can't be read"):
            wizard.action_import()
        book = openpyxl.Workbook()
        output = io.BytesIO()
        book.save(output)
        wizard.import_file = base64.b64encode(output.getvalue())
        with self.assertRaisesRegex(UserError, "not a registration template"):
            wizard.action_import()

    def test_empty_template_is_refused(self):
        """Test that importing the template untouched says there is nothing to import."""
        with self.assertRaisesRegex(UserError, "no filled rows"):
            self._import([])

    def test_coordinator_cannot_get_another_schools_template(self):
        """Test that a coordinator can't make a template for a school they don't serve."""
        wizard = self.env["multipas.registration.import.wizard"].with_user(self.user_coordinator)
        wizard = wizard.create({"school_id": self.school_b.id})
        with self.assertRaises(UserError):
            wizard.action_download_template()
