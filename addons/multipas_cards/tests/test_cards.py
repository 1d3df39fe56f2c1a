from odoo.exceptions import UserError, ValidationError
from odoo.tests import TransactionCase, tagged

from ..models.multipas_card import normalize_uid


@tagged("post_install", "-at_install")
class TestCards(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.school = cls.env["multipas.school"].create({"name": "Card school", "code": "CARDS1"})
        cls.other_school = cls.env["multipas.school"].create(
            {"name": "Other school", "code": "CARDS2"}
        )
        cls.holder = cls.env["multipas.cardholder"].create(
            {"last_name": "Белова", "first_name": "Вера", "school_id": cls.school.id}
        )

    def _card(self, number, uid, **vals):
        return self.env["multipas.card"].create(
            dict({"number": number, "uid": uid, "school_id": self.school.id}, **vals)
        )

    def test_normalize_uid(self):
        """Test that the usual ways readers print a UID name the same card."""
        for raw in ("04:a2:2b:1c", "04 A2 2B 1C", "04a22b1c", "04-A2-2B-1C"):
            self.assertEqual(normalize_uid(raw), "04A22B1C")
        for bad in ("", None, "xyz", "04A22B1", "04A2", "0" * 22, 1234):
            self.assertIsNone(normalize_uid(bad))

    def test_bad_uid_refused(self):
        """Test that a card with a malformed UID is refused with a message."""
        with self.assertRaisesRegex(ValidationError, "not a card UID"):
            self._card("C-1", "hello")

    def test_uid_unique_among_cards_in_use(self):
        """Test that a UID can't be used twice, until the first card is retired."""
        first = self._card("C-1", "04A22B1C11AA80")
        with self.assertRaisesRegex(ValidationError, "already used"):
            self._card("C-2", "04:a2:2b:1c:11:aa:80")
        first.action_retire()
        second = self._card("C-2", "04A22B1C11AA80")
        self.assertEqual(self.env["multipas.card"]._find_by_uid("04a22b1c11aa80"), second)

    def test_lifecycle(self):
        """Test new → stock → issued → blocked → retired, with dates and reasons."""
        card = self._card("C-1", "04000000000001", holder_id=self.holder.id)
        self.assertEqual(card.state, "new")
        card.action_to_stock()
        card.action_issue()
        self.assertEqual(card.state, "issued")
        self.assertTrue(card.issued_date)
        self.assertEqual(self.holder.card_id, card)
        card.action_block("lost", "потеряна в автобусе")
        self.assertEqual((card.state, card.block_reason), ("blocked", "lost"))
        self.assertFalse(self.holder.card_id)
        card.action_retire()
        self.assertEqual(card.state, "retired")

    def test_refused_transitions(self):
        """Test that impossible transitions raise and change nothing."""
        card = self._card("C-1", "04000000000002", holder_id=self.holder.id)
        with self.assertRaisesRegex(UserError, "can't become"):
            card.action_issue()
        card.action_to_stock()
        card.action_issue()
        with self.assertRaisesRegex(UserError, "can't become"):
            card.action_issue()
        card.action_block("damaged")
        with self.assertRaisesRegex(UserError, "can't become"):
            card.action_block("lost")
        with self.assertRaisesRegex(UserError, "can't become"):
            card.action_to_stock()
        self.assertEqual(card.state, "blocked")

    def test_issue_needs_holder(self):
        """Test that a reserve card without a holder can't be issued."""
        card = self._card("C-1", "04000000000003", state="stock")
        self.assertTrue(card.is_reserve)
        with self.assertRaisesRegex(UserError, "no holder"):
            card.action_issue()

    def test_one_issued_card_per_holder(self):
        """Test that a holder can't hold two issued cards at once."""
        first = self._card("C-1", "04000000000004", state="stock", holder_id=self.holder.id)
        first.action_issue()
        second = self._card("C-2", "04000000000005", state="stock", holder_id=self.holder.id)
        with self.assertRaisesRegex(UserError, "already holds"):
            second.action_issue()
        first.action_block("lost")
        second.action_issue()
        self.assertEqual(self.holder.card_id, second)

    def test_no_card_for_leaver(self):
        """Test that a card can't be issued to someone who has left."""
        self.holder.state = "left"
        card = self._card("C-1", "04000000000006", state="stock", holder_id=self.holder.id)
        with self.assertRaisesRegex(UserError, "has left"):
            card.action_issue()

    def test_holder_of_other_school_refused(self):
        """Test that a card can't be bound to a person of another school."""
        with self.assertRaises(ValidationError):
            self.env["multipas.card"].create(
                {
                    "number": "C-1",
                    "uid": "04000000000007",
                    "school_id": self.other_school.id,
                    "holder_id": self.holder.id,
                }
            )

    def test_issued_card_keeps_holder(self):
        """Test that an issued card's holder can't be swapped."""
        other = self.env["multipas.cardholder"].create(
            {"last_name": "Белов", "first_name": "Олег", "school_id": self.school.id}
        )
        card = self._card("C-1", "04000000000008", state="stock", holder_id=self.holder.id)
        card.action_issue()
        with self.assertRaisesRegex(UserError, "can't change"):
            card.holder_id = other

    def test_block_wizard(self):
        """Test that the block wizard blocks with the chosen reason."""
        card = self._card("C-1", "04000000000009", state="stock", holder_id=self.holder.id)
        card.action_issue()
        action = card.action_open_block_wizard()
        wizard = (
            self.env[action["res_model"]]
            .with_context(**action["context"])
            .create({"reason": "stolen"})
        )
        wizard.action_block()
        self.assertEqual((card.state, card.block_reason), ("blocked", "stolen"))

    def test_new_card_state(self):
        """Test that a card can't be created already issued."""
        with self.assertRaises(UserError):
            self._card("C-1", "04000000000010", state="issued", holder_id=self.holder.id)

    def test_cardholder_name_and_class(self):
        """Test that the partner name follows the name parts and the class must be the school's."""
        self.holder.patronymic = "Андреевна"
        self.assertEqual(self.holder.partner_id.name, "Белова Вера Андреевна")
        foreign_class = self.env["multipas.class"].create(
            {"school_id": self.other_school.id, "grade": 5, "letter": "а"}
        )
        self.assertEqual(foreign_class.name, "5А")
        with self.assertRaises(ValidationError):
            self.holder.class_id = foreign_class
