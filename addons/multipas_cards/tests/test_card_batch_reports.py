import os
import re
import shutil
import subprocess
import tempfile

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools.safe_eval import safe_eval

from .test_card_batch import CardBatchCommon

ACT = "multipas_cards.action_report_card_batch_act"
CLASS_SHEET = "multipas_cards.action_report_class_issuance"
BATCH_SHEETS = "multipas_cards.action_report_card_batch_issuance"


class CardBatchReportCommon(CardBatchCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A Cyrillic name: the PDF must print it.
        cls.pupil_ru = cls.env["multipas.cardholder"].create(
            {
                "last_name": "Ёлкина",
                "first_name": "Дарья",
                "patronymic": "Сергеевна",
                "school_id": cls.school_a.id,
                "class_id": cls.class_a2.id,
                "guardian_ids": [Command.set(cls.guardian_a2.ids)],
            }
        )

    def _signed_batch(self):
        batch = self._batch(operator_signatory_position="Mptest manager")
        batch._add_cards(
            self.pupil_new | self.pupil_ru | self.staff_ok, reserve_count=2, first_number="MPR-0001"
        )
        for n, card in enumerate(batch._ordered_cards(), start=1):
            card.uid = f"04CC0000000000{n:02d}"
        batch.action_mark_encoded()
        batch.action_hand_over()
        batch.action_sign("operator")
        batch.action_sign("school", signatory_name="Mptest School Signer")
        return batch

    def _html(self, report, records, user=None):
        Report = self.env["ir.actions.report"]
        if user:
            Report = Report.with_user(user)
        html, kind = Report._render_qweb_html(report, records.ids)
        self.assertEqual(kind, "html")
        return html.decode()

    def _pdf_text(self, report, records, name):
        """Render a real PDF through wkhtmltopdf and return its text. With
        MULTIPAS_REPORT_DIR set, the PDF is also kept there to be looked at."""
        pdf, kind = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(report, records.ids)
        )
        keep = os.environ.get("MULTIPAS_REPORT_DIR")
        if keep:
            with open(os.path.join(keep, f"{name}.pdf"), "wb") as out:
                out.write(pdf)
        self.assertEqual(kind, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"), "wkhtmltopdf made a PDF")
        pdftotext = shutil.which("pdftotext")
        self.assertTrue(pdftotext, "poppler-utils (pdftotext) is installed by tools/setup.sh")
        with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
            tmp.write(pdf)
            tmp.flush()
            result = subprocess.run(
                [pdftotext, "-layout", tmp.name, "-"],
                capture_output=True,
                check=True,
                timeout=60,
            )
        return result.stdout.decode()


@tagged("post_install", "-at_install", "multipas_batch")
class TestCardBatchReports(CardBatchReportCommon):
    def test_transfer_act_lists_cards(self):
        """Test that the act names operator, school, batch, every card and holder,
        the count, and the signatories."""
        batch = self._signed_batch()
        html = self._html(ACT, batch)
        for text in (
            batch.name,
            self.company.name,
            self.school_a.name,
            "Mpnovikova Dina",
            "Ёлкина Дарья Сергеевна",
            "Mpuchitel Fedor",
            "MPR-0001",
            "MPR-0005",
            "04CC000000000005",
            self.class_a1.name,
            "Mptest manager",
            "Mptest School Signer",
        ):
            self.assertIn(text, html)
        self.assertRegex(html, r'o_multipas_act_total"[^>]*>5<')
        # Five rows, numbered 1 to 5.
        self.assertEqual(len(re.findall(r"<tr>\s*<td class=\"text-center\">", html)), 5)

    def test_transfer_act_in_russian(self):
        """Test that the act is printed in Russian once the language is there, through
        the translations of its template."""
        self.env["res.lang"]._activate_lang("ru_RU")
        batch = self._signed_batch()
        self.assertEqual(batch._act_lang(), "ru_RU")
        view = self.env.ref("multipas_cards.report_card_batch_act_document")
        terms = view._fields["arch_db"].get_trans_terms(view.arch_db)
        title = next(term for term in terms if term.startswith("Card transfer act No."))
        view.update_field_translations(
            "arch_db",
            {
                "ru_RU": {
                    title: title.replace("Card transfer act No.", "Акт приёма-передачи карт №")
                }
            },
        )
        html = self._html(ACT, batch)
        self.assertIn("Акт приёма-передачи карт №", html)
        self.assertNotIn("Card transfer act No.", html)
        # Every heading of the act is a translatable term.
        for source in (
            "The card operator hands over, and the school accepts, the contactless school "
            "cards listed below, produced and encoded for the persons named in the "
            "registration forms and as reserve cards.",
            "Card number",
            "Cardholder",
            "<em>Reserve card</em>",
            "Cards handed over in total:",
            "<strong>Received by the school</strong>",
        ):
            self.assertIn(source, terms)

    def test_act_only_once_handed_over(self):
        """Test that a draft batch has no act to print."""
        batch = self._batch()
        with self.assertRaisesRegex(UserError, "print the transfer act"):
            batch.action_print_act()

    def test_class_issuance_sheet(self):
        """Test that a class's sheet names school, class, teacher and each pupil's card."""
        batch = self._signed_batch()
        new_card = batch.card_ids.filtered(lambda c: c.holder_id == self.pupil_new)
        html = self._html(CLASS_SHEET, self.class_a1 | self.class_a2)
        for text in (
            self.school_a.name,
            self.class_a1.name,
            self.class_a2.name,
            self.user_teacher.name,
            self.pupil_a1.name,
            self.card_a1.number,
            self.pupil_new.name,
            new_card.number,
            "Ёлкина Дарья Сергеевна",
        ):
            self.assertIn(text, html)
        self.assertEqual(html.count("o_multipas_issuance"), 2, "one sheet per class")
        # A1: pupil_a1 (issued) and pupil_new (in stock); no line for pupils without a card.
        self.assertRegex(html, r'o_multipas_sheet_total"[^>]*>2<')
        self.assertNotIn(self.pupil_no_consent.name, html)

    def test_batch_issuance_sheets_one_page_per_class(self):
        """Test that a batch prints one sheet per class, staff apart, reserve cards not at all."""
        batch = self._signed_batch()
        html = self._html(BATCH_SHEETS, batch)
        self.assertEqual(html.count("o_multipas_issuance"), 3, "A1, A2 and staff")
        self.assertIn("Mpuchitel Fedor", html)
        self.assertNotIn("MPR-0004", html, "reserve cards are not issued by class")

    def test_teacher_prints_own_class_sheet_only(self):
        """Test that a class teacher prints the sheet of their class, not of another."""
        html = self._html(CLASS_SHEET, self.class_a1, user=self.user_teacher)
        self.assertIn(self.pupil_a1.name, html)
        with self.assertRaises(AccessError):
            self._html(CLASS_SHEET, self.class_a2, user=self.user_teacher)
        with self.assertRaises(AccessError):
            self._html(ACT, self._batch(), user=self.user_teacher)


@tagged("post_install", "-at_install", "multipas_batch")
class TestCardBatchPdf(CardBatchReportCommon, HttpCase):
    """Real PDFs through wkhtmltopdf. An HttpCase: wkhtmltopdf fetches the
    report's stylesheets from the running server, which must see the test's
    transaction."""

    def test_transfer_act_pdf(self):
        """Test that the act renders to a PDF with the Cyrillic names in it."""
        batch = self._signed_batch()
        text = self._pdf_text(ACT, batch, "transfer_act")
        self.assertIn(batch.name, text)
        # The letterhead is in the page itself, above the title, whether or not
        # this wkhtmltopdf can print page headers (Debian's cannot).
        company = batch.company_id
        self.assertLess(text.index(company.name), text.index("Card transfer act"))
        if company.phone:
            self.assertLess(text.index(company.phone), text.index("Card transfer act"))
        self.assertIn("Ёлкина Дарья Сергеевна", text)
        self.assertIn("04CC000000000001", text)

    def test_class_issuance_sheet_pdf(self):
        """Test that the class sheet renders to a PDF."""
        self._signed_batch()
        text = self._pdf_text(CLASS_SHEET, self.class_a1, "issuance_sheet_class")
        self.assertIn(self.pupil_new.name, text)
        # a long name may wrap in the page: compare with the line breaks taken out
        self.assertIn(self.user_teacher.name, " ".join(text.split()))

    def test_batch_issuance_sheets_pdf(self):
        """Test that the batch's issuance sheets print one page per class."""
        batch = self._signed_batch()
        text = self._pdf_text(BATCH_SHEETS, batch, "issuance_sheets_batch")
        self.assertIn("Ёлкина Дарья Сергеевна", text)
        self.assertIn("Mpuchitel Fedor", text)
        self.assertEqual(text.count("\f"), 3, "three pages")
        self.assertEqual(text.count("Card issuance sheet"), 3)


@tagged("post_install", "-at_install", "multipas_batch")
class TestClassIssue(CardBatchReportCommon):
    def _issue_class(self, cls, user=None):
        Wizard = self.env["multipas.class.issue.wizard"]
        if user:
            Wizard = Wizard.with_user(user)
        wizard = Wizard.create({"class_id": cls.id})
        wizard.action_issue()
        return wizard

    def test_issue_whole_class(self):
        """Test that every pupil whose card waits in stock gets it, and the others
        are reported with the reason."""
        self._signed_batch()
        pupil_left = self.env["multipas.cardholder"].create(
            {
                "last_name": "Mpushedshiy",
                "first_name": "Kirill",
                "school_id": self.school_a.id,
                "class_id": self.class_a1.id,
            }
        )
        left_card = self.env["multipas.card"].create(
            {
                "number": "MPR-0100",
                "uid": "04CC000000000100",
                "school_id": self.school_a.id,
                "holder_id": pupil_left.id,
                "state": "stock",
            }
        )
        pupil_left.state = "left"
        wizard = self.env["multipas.class.issue.wizard"].with_user(self.user_coordinator)
        wizard = wizard.create({"class_id": self.class_a1.id})
        self.assertEqual(wizard.waiting_count, 2)
        wizard.action_issue()
        self.assertEqual((wizard.state, wizard.issued_count, wizard.skipped_count), ("done", 1, 3))
        self.assertEqual(self.pupil_new.card_id.state, "issued")
        self.assertEqual(left_card.state, "stock")
        for text in (
            "1 cards issued",
            f"{self.pupil_a1.name} — already holds card {self.card_a1.number}",
            f"{self.pupil_no_consent.name} — no card of theirs",
            f"{pupil_left.name} — has left the school",
        ):
            self.assertIn(text, wizard.result)
        # Nothing is issued twice.
        again = self._issue_class(self.class_a1, self.user_coordinator)
        self.assertEqual(again.issued_count, 0)
        with self.assertRaisesRegex(UserError, "issued already"):
            again.action_issue()

    def test_refused_card_left_untouched(self):
        """Test that a card whose issue is refused stays in stock while the others go."""
        self._signed_batch()
        # pupil_a1 holds card_a1 and gets a second card in stock: refused.
        extra = self.env["multipas.card"].create(
            {
                "number": "MPR-0200",
                "uid": "04CC000000000200",
                "school_id": self.school_a.id,
                "holder_id": self.pupil_a1.id,
                "state": "stock",
            }
        )
        wizard = self._issue_class(self.class_a1, self.user_coordinator)
        self.assertEqual(wizard.issued_count, 1)
        self.assertEqual(extra.state, "stock")
        self.assertFalse(extra.issued_date)
        self.assertIn("already holds card", wizard.result)
        self.assertEqual(self.pupil_new.card_id.state, "issued")

    def test_issue_rights(self):
        """Test that a teacher can't issue, and a coordinator not at another school."""
        with self.assertRaises(AccessError):
            self.env["multipas.class.issue.wizard"].with_user(self.user_teacher).create(
                {"class_id": self.class_a1.id}
            )
        with self.assertRaises(AccessError):
            self._issue_class(self.class_b1, self.user_coordinator)

    def test_reserve_stock_action(self):
        """Test that the reserve stock lists cards in stock only, grouped by school."""
        batch = self._signed_batch()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "multipas_cards.action_multipas_card_stock"
        )
        Card = self.env["multipas.card"].with_user(self.user_coordinator)
        groups = Card.read_group(
            safe_eval(action["domain"]),
            ["school_id"],
            ["school_id", "is_reserve"],
            lazy=False,
        )
        counts = {(g["school_id"][0], g["is_reserve"]): g["__count"] for g in groups}
        # School A: the reserve card of the common world, the two of the batch,
        # and the three personal cards of the batch.
        self.assertEqual(counts[(self.school_a.id, True)], 3)
        self.assertEqual(counts[(self.school_a.id, False)], 3)
        self.assertNotIn(self.school_b.id, {key[0] for key in counts})
        self.assertEqual(len(batch.card_ids), 5)
        self.assertEqual(
            self.school_a.action_open_reserve_stock()["domain"],
            [("school_id", "=", self.school_a.id), ("state", "=", "stock")],
        )
