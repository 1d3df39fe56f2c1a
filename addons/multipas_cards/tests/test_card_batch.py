import base64
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged

from .common import MultipasCommon


class CardBatchCommon(MultipasCommon):
    """The common world plus people waiting for a card: two pupils of A1 (one
    whose guardian consented, one whose guardian did not), a staff member of
    school A with and one without their own consent, and a pupil of school B."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        today = fields.Date.today()
        cls.user_guardian_a.partner_id.multipas_consent_date = today
        cls.guardian_a2.multipas_consent_date = today
        cls.guardian_none = cls.env["res.partner"].create({"name": "Mptest Guardian No Consent"})
        Holder = cls.env["multipas.cardholder"]
        cls.pupil_new = Holder.create(
            {
                "last_name": "Mpnovikova",
                "first_name": "Dina",
                "school_id": cls.school_a.id,
                "class_id": cls.class_a1.id,
                "guardian_ids": [Command.set(cls.user_guardian_a.partner_id.ids)],
            }
        )
        cls.pupil_no_consent = Holder.create(
            {
                "last_name": "Mpbezsoglasiya",
                "first_name": "Egor",
                "school_id": cls.school_a.id,
                "class_id": cls.class_a1.id,
                "guardian_ids": [Command.set(cls.guardian_none.ids)],
            }
        )
        cls.staff_ok = Holder.create(
            {
                "last_name": "Mpuchitel",
                "first_name": "Fedor",
                "kind": "staff",
                "school_id": cls.school_a.id,
                "multipas_consent_date": today,
            }
        )
        cls.staff_no_consent = Holder.create(
            {
                "last_name": "Mpvakhter",
                "first_name": "Galina",
                "kind": "staff",
                "school_id": cls.school_a.id,
            }
        )
        cls.pupil_new_b = Holder.create(
            {
                "last_name": "Mpbelova",
                "first_name": "Inna",
                "school_id": cls.school_b.id,
                "class_id": cls.class_b1.id,
                "guardian_ids": [Command.set(cls.user_guardian_b.partner_id.ids)],
            }
        )
        cls.user_guardian_b.partner_id.multipas_consent_date = today
        cls.user_coordinator_b = cls._new_user(
            "mp_coordinator_b",
            "multipas_cards.group_school_coordinator",
            multipas_school_ids=[Command.set(cls.school_b.ids)],
        )

    def _batch(self, school=None, **vals):
        return (
            self.env["multipas.card.batch"]
            .with_user(self.user_clerk)
            .create(dict({"school_id": (school or self.school_a).id}, **vals))
        )

    def _encoded_batch(self):
        """A batch of school A with pupil_new's card and one reserve card, encoded."""
        batch = self._batch()
        batch._add_cards(self.pupil_new, reserve_count=1, first_number="MPB-0001")
        personal, reserve = batch._ordered_cards()
        personal.uid = "04AA000000000001"
        reserve.uid = "04AA000000000002"
        batch.action_mark_encoded()
        return batch

    def _handed_over_batch(self):
        batch = self._encoded_batch()
        batch.action_hand_over()
        return batch

    def _encoder_file(self, *lines):
        return base64.b64encode("\n".join(lines).encode())

    def _import(self, batch, *lines):
        wizard = (
            self.env["multipas.card.batch.import.wizard"]
            .with_user(self.user_clerk)
            .create({"batch_id": batch.id, "file": self._encoder_file(*lines)})
        )
        return wizard


@tagged("post_install", "-at_install", "multipas_batch")
class TestCardBatch(CardBatchCommon):
    # === CONSENT AND BUILDING === #

    def test_consent_rule(self):
        """Test that a pupil needs a consenting guardian and a staff member their own consent."""
        self.assertTrue(self.pupil_new._multipas_has_consent())
        self.assertFalse(self.pupil_no_consent._multipas_has_consent())
        self.assertTrue(self.staff_ok._multipas_has_consent())
        self.assertFalse(self.staff_no_consent._multipas_has_consent())
        # A pupil with two guardians: one consent is enough.
        self.pupil_no_consent.guardian_ids = [Command.link(self.guardian_a2.id)]
        self.assertTrue(self.pupil_no_consent._multipas_has_consent())

    def test_batch_number_from_sequence(self):
        """Test that batches are numbered CB-<year>-NNNN."""
        first, second = self._batch(), self._batch()
        year = fields.Date.today().year
        self.assertRegex(first.name, rf"^CB-{year}-\d{{4}}$")
        self.assertNotEqual(first.name, second.name)

    def test_no_card_without_consent(self):
        """Test that holders without consent are refused by name and nothing is added."""
        batch = self._batch()
        with self.assertRaises(UserError) as caught:
            batch._add_cards(self.pupil_new | self.pupil_no_consent | self.staff_no_consent)
        message = str(caught.exception)
        self.assertIn("Mpbezsoglasiya", message)
        self.assertIn("Mpvakhter", message)
        self.assertNotIn("Mpnovikova", message)
        self.assertFalse(batch.card_ids)

    def test_add_cards(self):
        """Test that personal and reserve cards are planned new, numbered in order."""
        batch = self._batch()
        cards = batch._add_cards(
            self.pupil_new | self.staff_ok, reserve_count=2, first_number="MPB-0098"
        )
        self.assertEqual(len(cards), 4)
        self.assertEqual(set(cards.mapped("state")), {"new"})
        self.assertEqual(cards.mapped("number"), ["MPB-0098", "MPB-0099", "MPB-0100", "MPB-0101"])
        self.assertEqual((batch.personal_count, batch.reserve_count), (2, 2))
        self.assertEqual(batch.missing_uid_count, 4)
        # The pupils come first, the reserve last.
        self.assertEqual(cards[0].holder_id, self.pupil_new)
        self.assertFalse(cards[3].holder_id)

    def test_holder_with_card_in_use_refused(self):
        """Test that a holder with an issued card or a planned card gets no second one."""
        batch = self._batch()
        with self.assertRaisesRegex(UserError, "already have a card"):
            batch._add_cards(self.pupil_a1)
        batch._add_cards(self.pupil_new)
        with self.assertRaisesRegex(UserError, "already have a card"):
            self._batch()._add_cards(self.pupil_new)
        with self.assertRaisesRegex(UserError, "not at"):
            batch._add_cards(self.pupil_new_b)
        self.assertEqual(len(batch.card_ids), 1)

    def test_add_wizard_candidates(self):
        """Test that the wizard offers the free people, preselects those with consent
        and filters by class and kind."""
        Wizard = self.env["multipas.card.batch.add.wizard"].with_user(self.user_clerk)
        batch = self._batch()
        wizard = Wizard.create({"batch_id": batch.id})
        self.assertIn(self.pupil_new, wizard.candidate_ids)
        self.assertNotIn(self.pupil_a1, wizard.candidate_ids, "has an issued card")
        self.assertNotIn(self.pupil_new_b, wizard.candidate_ids, "other school")
        self.assertEqual(wizard.no_consent_ids, self.pupil_no_consent | self.staff_no_consent)
        self.assertEqual(wizard.holder_ids, self.pupil_new | self.staff_ok)
        wizard.kind = "staff"
        self.assertEqual(wizard.holder_ids, self.staff_ok)
        wizard.write({"kind": False, "class_ids": [Command.set(self.class_a1.ids)]})
        self.assertEqual(wizard.holder_ids, self.pupil_new)
        wizard.reserve_count = 2
        wizard.action_add()
        self.assertEqual((batch.personal_count, batch.reserve_count), (1, 2))
        # Choosing a holder without consent by hand is refused.
        wizard = Wizard.create({"batch_id": batch.id})
        wizard.holder_ids = self.pupil_no_consent
        with self.assertRaisesRegex(UserError, "Mpbezsoglasiya"):
            wizard.action_add()
        self.assertEqual(len(batch.card_ids), 3)

    # === UIDS === #

    def test_scan_gives_next_card_its_uid(self):
        """Test that scanned UIDs go to the cards without one, in order, and that
        a malformed or duplicate UID is not taken."""
        batch = self._batch()
        batch._add_cards(self.pupil_new | self.staff_ok, first_number="MPB-0001")
        first, second = batch._ordered_cards()
        with Form(batch.with_user(self.user_clerk)) as form:
            form.scan_uid = "04:aa:00:00:00:00:00:11"
            self.assertFalse(form.scan_uid)
            form.scan_uid = "04aa000000000011"  # the same card again: not taken
            form.scan_uid = "not a uid"
            form.scan_uid = self.card_a1.uid  # used by an issued card
            form.scan_uid = "04AA000000000012"
        self.assertEqual(first.uid, "04AA000000000011")
        self.assertEqual(second.uid, "04AA000000000012")
        self.assertEqual(batch.missing_uid_count, 0)

    def test_duplicate_uid_refused(self):
        """Test that two cards of a batch can't share a UID, nor take one in use."""
        batch = self._batch()
        batch._add_cards(self.pupil_new | self.staff_ok, first_number="MPB-0001")
        first, second = batch._ordered_cards()
        first.uid = "04AA000000000021"
        with self.assertRaisesRegex(ValidationError, "already used"):
            second.uid = "04:AA:00:00:00:00:00:21"
        with self.assertRaisesRegex(ValidationError, "already used"):
            second.uid = self.card_a1.uid
        self.assertFalse(second.uid)

    def test_allowlist_waits_for_the_uid(self):
        """Test that a planned card without a UID stays out of the devices'
        allow-list, and enters it (not allowed: not issued) once scanned."""
        Allowlist = self.env["multipas.allowlist"]
        since = Allowlist._version(self.school_a)
        batch = self._batch()
        batch._add_cards(self.pupil_new, first_number="MPB-0101")
        rows, _more = Allowlist._page(self.school_a, since, 100)
        self.assertFalse(rows)
        batch._ordered_cards().uid = "04AA000000000101"
        rows, _more = Allowlist._page(self.school_a, since, 100)
        self.assertEqual([(r["uid"], r["allow"]) for r in rows], [("04AA000000000101", False)])

    def test_card_without_uid_only_in_draft_batch(self):
        """Test that only a card planned in a draft batch may lack a UID or number."""
        with self.assertRaisesRegex(ValidationError, "needs a UID"):
            self.env["multipas.card"].create({"school_id": self.school_a.id, "number": "X-1"})
        with self.assertRaisesRegex(ValidationError, "needs a UID"):
            self.env["multipas.card"].create(
                {"school_id": self.school_a.id, "uid": "04AA000000000031"}
            )

    # === TRANSITIONS === #

    def test_mark_encoded_needs_every_uid(self):
        """Test that a batch with a card lacking its UID or number stays draft."""
        batch = self._batch()
        batch._add_cards(self.pupil_new, reserve_count=1)
        first, second = batch._ordered_cards()
        first.write({"number": "MPB-0001", "uid": "04AA000000000041"})
        second.uid = "04AA000000000042"
        with self.assertRaisesRegex(UserError, "no UID or no printed number"):
            batch.action_mark_encoded()
        self.assertEqual(batch.state, "draft")
        second.number = "MPB-0002"
        batch.action_mark_encoded()
        self.assertEqual(batch.state, "encoded")
        self.assertTrue(batch.encoded_date)

    def test_empty_batch_cannot_be_encoded(self):
        """Test that a batch without cards can't be marked encoded."""
        batch = self._batch()
        with self.assertRaisesRegex(UserError, "no card"):
            batch.action_mark_encoded()
        self.assertEqual(batch.state, "draft")

    def test_consent_withdrawn_before_encoding(self):
        """Test that a card whose holder lost the consent meanwhile blocks the encoding."""
        batch = self._batch()
        batch._add_cards(self.staff_ok)
        batch.card_ids.write({"number": "MPB-0001", "uid": "04AA000000000051"})
        self.staff_ok.multipas_consent_date = False
        with self.assertRaisesRegex(UserError, "Mpuchitel"):
            batch.action_mark_encoded()
        self.assertEqual(batch.state, "draft")

    def test_encoded_cards_frozen(self):
        """Test that the cards of an encoded batch can't change until it goes back to draft."""
        batch = self._encoded_batch()
        card = batch.card_ids[0]
        with self.assertRaisesRegex(UserError, "back to draft"):
            card.uid = "04AA000000000061"
        with self.assertRaisesRegex(UserError, "add cards"):
            batch._add_cards(self.staff_ok)
        batch.action_back_to_draft()
        card.uid = "04AA000000000061"
        self.assertEqual(batch.state, "draft")

    def test_full_cycle(self):
        """Test draft → encoded → handed over → signed: only the second signature
        puts the cards in the school's stock, personal ones bound, reserve free."""
        reserve_before = self.school_a.reserve_count
        batch = self._handed_over_batch()
        self.assertEqual(batch.state, "handed_over")
        self.assertEqual(batch.act_date, fields.Date.context_today(batch))
        personal, reserve = batch._ordered_cards()
        with self.assertRaisesRegex(UserError, "signed the transfer act"):
            personal.action_to_stock()
        batch.action_sign("operator", signatory_position="Manager")
        self.assertEqual(batch.state, "handed_over")
        self.assertEqual(set(batch.card_ids.mapped("state")), {"new"})
        batch.with_user(self.user_coordinator).action_sign(
            "school", signatory_name="Mptest Coordinator"
        )
        self.assertEqual(batch.state, "signed")
        self.assertEqual(batch.school_signed_uid, self.user_coordinator)
        self.assertEqual(batch.school_signatory_name, "Mptest Coordinator")
        self.assertEqual(set(batch.card_ids.mapped("state")), {"stock"})
        self.assertEqual(personal.holder_id, self.pupil_new)
        self.assertFalse(reserve.holder_id)
        self.school_a.invalidate_recordset(["reserve_count"])
        self.assertEqual(self.school_a.reserve_count, reserve_before + 1)
        # The personal card can now be issued, once.
        personal.action_issue()
        self.assertEqual(self.pupil_new.card_id, personal)
        with self.assertRaisesRegex(UserError, "can't become"):
            personal.action_issue()

    def test_cannot_sign_before_hand_over(self):
        """Test that an act that was not printed can't be signed."""
        batch = self._encoded_batch()
        with self.assertRaisesRegex(UserError, "can't sign"):
            batch.action_sign("operator")
        self.assertFalse(batch.operator_signed_date)
        self.assertEqual(batch.state, "encoded")

    def test_sign_checks(self):
        """Test that a side signs once, not before the act date nor in the future."""
        batch = self._handed_over_batch()
        today = fields.Date.context_today(batch)
        with self.assertRaisesRegex(UserError, "before it was handed over"):
            batch.action_sign("operator", date=today - timedelta(days=1))
        with self.assertRaisesRegex(UserError, "future"):
            batch.action_sign("operator", date=today + timedelta(days=1))
        with self.assertRaisesRegex(UserError, "Unknown side"):
            batch.action_sign("caterer")
        self.assertFalse(batch.operator_signed_date)
        batch.action_sign("operator")
        with self.assertRaisesRegex(UserError, "already signed"):
            batch.action_sign("operator")
        self.assertEqual(batch.state, "handed_over")

    def test_sign_wizard(self):
        """Test that the signature wizard records name, position and date."""
        batch = self._handed_over_batch()
        action = batch.with_context(multipas_sign_side="school").action_open_sign_wizard()
        wizard = (
            self.env["multipas.card.batch.sign.wizard"]
            .with_user(self.user_coordinator)
            .with_context(**action["context"])
            .create({"signatory_position": "Deputy head"})
        )
        self.assertEqual(wizard.side, "school")
        wizard.signatory_name = "Mptest Signer"
        wizard.action_confirm()
        self.assertEqual(batch.school_signatory_position, "Deputy head")
        self.assertEqual(batch.school_signatory_name, "Mptest Signer")
        self.assertTrue(batch.school_signed_date)

    def test_cancel_only_draft(self):
        """Test that a draft batch is cancelled with its planned cards, an encoded one not."""
        batch = self._batch()
        cards = batch._add_cards(self.pupil_new, reserve_count=2)
        batch.action_cancel()
        self.assertEqual(batch.state, "cancel")
        self.assertFalse(cards.exists())
        # The pupil may be planned again.
        self.assertFalse(self.pupil_new._multipas_busy_card_holders())
        encoded = self._encoded_batch()
        with self.assertRaisesRegex(UserError, "can't cancel"):
            encoded.action_cancel()
        self.assertEqual(encoded.state, "encoded")
        self.assertEqual(len(encoded.card_ids), 2)

    def test_remove_card_from_draft_batch(self):
        """Test that a planned card can be taken out of a draft batch only."""
        batch = self._batch()
        card = batch._add_cards(self.pupil_new, reserve_count=1)[:1]
        card.with_user(self.user_clerk).action_remove_from_batch()
        self.assertFalse(card.exists())
        self.assertEqual(len(batch.card_ids), 1)
        encoded = self._encoded_batch()
        with self.assertRaisesRegex(UserError, "draft batch"):
            encoded.card_ids[:1].action_remove_from_batch()

    # === ACCESS === #

    def test_coordinator_reads_own_school_batches_only(self):
        """Test that a coordinator reads their school's batches and nothing else,
        and can't change them."""
        batch_a, batch_b = self._batch(), self._batch(self.school_b)
        Batch = self.env["multipas.card.batch"].with_user(self.user_coordinator)
        self.assertEqual(Batch.search([("id", "in", (batch_a | batch_b).ids)]), batch_a)
        with self.assertRaises(AccessError):
            batch_b.with_user(self.user_coordinator).read(["name"])
        with self.assertRaises(AccessError):
            batch_a.with_user(self.user_coordinator).write({"note": "mine"})
        with self.assertRaises(AccessError):
            Batch.create({"school_id": self.school_a.id})
        batch_a._add_cards(self.pupil_new, reserve_count=1, first_number="MPB-0001")
        batch_a.card_ids[0].uid = "04AA000000000071"
        batch_a.card_ids[1].uid = "04AA000000000072"
        with self.assertRaises(AccessError):
            batch_a.with_user(self.user_coordinator).action_mark_encoded()
        with self.assertRaises(AccessError):
            batch_a.with_user(self.user_coordinator).action_cancel()
        self.assertEqual(batch_a.state, "draft")

    def test_coordinator_signs_only_school_side_of_own_school(self):
        """Test that a coordinator can't sign for the operator, nor for another school."""
        batch = self._handed_over_batch()
        with self.assertRaises(AccessError):
            batch.with_user(self.user_coordinator).action_sign("operator")
        with self.assertRaises(AccessError):
            batch.with_user(self.user_coordinator_b).action_sign("school")
        self.assertFalse(batch.operator_signed_date or batch.school_signed_date)

    def test_other_roles_see_no_batch(self):
        """Test that teachers, cashiers, guardians and plain users read no batch."""
        batch = self._batch()
        for user in (
            self.user_teacher,
            self.user_cashier,
            self.user_guardian_a,
            self.user_portal,
            self.user_internal,
        ):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                batch.with_user(user).read(["name"])
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.env["multipas.card.batch"].with_user(user).search([])
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                batch.with_user(user).action_sign("school")

    def test_clerk_sees_all_batches(self):
        """Test that the operator's clerk sees the batches of every school."""
        batches = self._batch() | self._batch(self.school_b)
        found = (
            self.env["multipas.card.batch"]
            .with_user(self.user_clerk)
            .search([("id", "in", batches.ids)])
        )
        self.assertEqual(found, batches)


@tagged("post_install", "-at_install", "multipas_batch")
class TestCardBatchImport(CardBatchCommon):
    def setUp(self):
        super().setUp()
        self.batch = self._batch()
        self.batch._add_cards(self.pupil_new | self.staff_ok, reserve_count=1)
        self.first, self.second, self.reserve = self.batch._ordered_cards()

    def test_import_numbers_cards_in_order(self):
        """Test that a file with a header and comments numbers the cards in order."""
        wizard = self._import(
            self.batch,
            "number;uid",
            "# made on line 3",
            "MPI-0001;04:bb:00:00:00:00:00:01",
            "",
            "MPI-0002,04BB000000000002",
            "MPI-0003\t04 BB 00 00 00 00 00 03",
        )
        self.assertEqual((wizard.line_count, wizard.error_count), (3, 0))
        self.assertIn("Mpnovikova", wizard.preview)
        wizard.action_import()
        self.assertEqual(
            [(c.number, c.uid) for c in (self.first, self.second, self.reserve)],
            [
                ("MPI-0001", "04BB000000000001"),
                ("MPI-0002", "04BB000000000002"),
                ("MPI-0003", "04BB000000000003"),
            ],
        )
        self.batch.action_mark_encoded()

    def test_import_matches_existing_numbers(self):
        """Test that a line whose number is on a card of the batch gives that card its UID,
        and that two cards may swap their UIDs."""
        self.first.write({"number": "MPI-0010", "uid": "04BB000000000011"})
        self.second.write({"number": "MPI-0011", "uid": "04BB000000000010"})
        self._import(
            self.batch,
            "MPI-0011;04BB000000000011",
            "MPI-0010;04BB000000000010",
            "MPI-0012;04BB000000000012",
        ).action_import()
        self.assertEqual(self.first.uid, "04BB000000000010")
        self.assertEqual(self.second.uid, "04BB000000000011")
        self.assertEqual((self.reserve.number, self.reserve.uid), ("MPI-0012", "04BB000000000012"))

    def test_import_all_or_nothing(self):
        """Test that any bad line refuses the whole file with line-numbered errors."""
        wizard = self._import(
            self.batch,
            "MPI-0001;04BB000000000001",
            "MPI-0002;hello",
            "MPI-0003;04BB000000000001",
            "MPI-0001;04BB000000000004",
            f"MPI-0005;{self.card_a1.uid}",
            "MPI-0006",
            f"{self.card_a1.number};04BB000000000007",
        )
        self.assertEqual(wizard.error_count, 6)
        with self.assertRaises(UserError) as caught:
            wizard.action_import()
        message = str(caught.exception)
        for expected in (
            "Line 2:",
            "“hello” is not a card UID",
            "Line 3: UID 04BB000000000001 is also on line 1",
            "Line 4: number MPI-0001 is also on line 1",
            "Line 5: UID",
            "Line 6: expected two fields",
            "Line 7: ",
        ):
            self.assertIn(expected, message)
        self.assertFalse(self.batch.card_ids.filtered("uid"), "nothing was written")
        self.assertFalse(self.batch.card_ids.filtered("number"))

    def test_import_more_lines_than_cards(self):
        """Test that a file with more cards than the batch is refused."""
        wizard = self._import(self.batch, *[f"MPI-000{n};04BB00000000000{n}" for n in range(1, 5)])
        with self.assertRaisesRegex(UserError, "Line 4: no card of the batch is left"):
            wizard.action_import()
        self.assertFalse(self.batch.card_ids.filtered("uid"))

    def test_import_only_into_draft(self):
        """Test that an encoded batch takes no file."""
        self.batch.action_cancel()
        batch = self._encoded_batch()
        wizard = self._import(batch, "MPB-0001;04BB000000000001")
        with self.assertRaisesRegex(UserError, "can't import"):
            wizard.action_import()

    def test_import_cp1251_file(self):
        """Test that a Windows-1251 file with a Russian header is read."""
        content = "номер;uid\nMPI-0001;04BB000000000001\n".encode("cp1251")
        wizard = (
            self.env["multipas.card.batch.import.wizard"]
            .with_user(self.user_clerk)
            .create({"batch_id": self.batch.id, "file": base64.b64encode(content)})
        )
        self.assertEqual((wizard.line_count, wizard.error_count), (1, 0))
