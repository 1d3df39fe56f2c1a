from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MultipasCommon


@tagged("post_install", "-at_install", "multipas_leaving")
class TestRollover(MultipasCommon):
    """Class A1 is grade 5, A2 grade 6 (school A), B1 grade 5 (school B)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.year = cls.class_a1.school_year
        start = int(cls.year[:4])
        cls.next_year = f"{start + 1}/{start + 2}"
        cls.Class = cls.env["multipas.class"].with_context(active_test=False)

    def wizard(self, user=None, **vals):
        vals.setdefault("school_ids", [(6, 0, self.schools.ids)])
        vals.setdefault("from_year", self.year)
        return (
            self.env["multipas.rollover.wizard"].with_user(user or self.user_manager).create(vals)
        )

    def successor(self, cls):
        return self.Class.search(
            [
                ("school_id", "=", cls.school_id.id),
                ("school_year", "=", self.next_year),
                ("grade", "=", cls.grade + 1),
                ("letter", "=", cls.letter),
            ]
        )

    def test_preview_and_run(self):
        """Test that the preview counts what the run then does: classes one
        grade up with the same letter and teacher, pupils moved, old classes
        archived with their history."""
        wizard = self.wizard()
        self.assertEqual(wizard.to_year, self.next_year)
        self.assertEqual(wizard.class_count, 3)
        self.assertEqual(wizard.new_class_count, 3)
        self.assertEqual(wizard.pupil_count, 3)
        self.assertEqual(wizard.graduate_count, 0)
        wizard.action_run()
        self.assertEqual(wizard.state, "done")
        self.assertIn("3 pupils moved up", wizard.result)
        new_a1 = self.successor(self.class_a1)
        self.assertEqual((new_a1.grade, new_a1.letter), (6, "A"))
        self.assertEqual(new_a1.teacher_id, self.user_teacher)
        self.assertTrue(new_a1.active)
        self.assertEqual(self.pupil_a1.class_id, new_a1)
        self.assertEqual(self.pupil_a2.class_id, self.successor(self.class_a2))
        self.assertEqual(self.pupil_b.class_id, self.successor(self.class_b1))
        self.assertFalse(any(self.classes.mapped("active")))
        # Ledger entries keep the class the pupil was in when they were posted.
        self.assertEqual(self.entry_a1.class_id, self.class_a1)
        # New postings carry the new class.
        entry = self.account_a1.post(10.0, "topup", "after-rollover")
        self.assertEqual(entry.class_id, new_a1)

    def test_second_run_does_nothing(self):
        """Test that running the roll-over again for the same year changes nothing."""
        self.wizard().action_run()
        classes = self.Class.search([("school_id", "in", self.schools.ids)])
        placement = {pupil: pupil.class_id for pupil in self.pupils}
        again = self.wizard()
        self.assertEqual((again.class_count, again.pupil_count, again.graduate_count), (0, 0, 0))
        again.action_run()
        self.assertEqual(self.Class.search([("school_id", "in", self.schools.ids)]), classes)
        self.assertEqual({pupil: pupil.class_id for pupil in self.pupils}, placement)

    def test_last_grade_graduates(self):
        """Test that pupils of the school's last grade get leaving requests
        (graduated, reported) instead of a class, and stay enrolled until the
        operator confirms."""
        self.school_a.last_grade = 6
        wizard = self.wizard()
        self.assertEqual(wizard.graduate_class_count, 1)
        self.assertEqual(wizard.graduate_count, 1)
        self.assertEqual(wizard.class_count, 2)
        wizard.action_run()
        leaving = self.env["multipas.leaving"].search([("holder_id", "=", self.pupil_a2.id)])
        self.assertEqual(leaving.state, "reported")
        self.assertEqual(leaving.reason, "graduated")
        self.assertEqual(leaving.leaving_date, wizard.graduation_date)
        self.assertEqual(leaving.class_id, self.class_a2)
        self.assertEqual(leaving.reported_by_id, self.user_manager)
        self.assertEqual(self.pupil_a2.state, "enrolled")
        self.assertFalse(self.successor(self.class_a2))
        self.assertFalse(self.class_a2.active)
        # A second run adds no second request.
        self.class_a2.active = True
        again = self.wizard()
        self.assertEqual(again.graduate_count, 0)
        again.action_run()
        self.assertEqual(
            self.env["multipas.leaving"].search_count([("holder_id", "=", self.pupil_a2.id)]), 1
        )

    def test_existing_successor_reused(self):
        """Test that a class of the new year made in advance (for registration
        forms after 1 June) is reused, not duplicated, and keeps its teacher."""
        early = self.Class.create(
            {
                "school_id": self.school_a.id,
                "school_year": self.next_year,
                "grade": 6,
                "letter": "A",
            }
        )
        wizard = self.wizard()
        self.assertEqual(wizard.new_class_count, 2)
        wizard.action_run()
        self.assertEqual(self.pupil_a1.class_id, early)
        self.assertFalse(early.teacher_id)

    def test_one_school_only(self):
        """Test that a roll-over of one school leaves the others alone."""
        self.wizard(school_ids=[(6, 0, self.school_a.ids)]).action_run()
        self.assertTrue(self.class_b1.active)
        self.assertEqual(self.pupil_b.class_id, self.class_b1)
        self.assertFalse(self.class_a1.active)

    def test_teachers_not_kept(self):
        """Test that new classes can start without a teacher."""
        self.wizard(keep_teachers=False).action_run()
        self.assertFalse(self.successor(self.class_a1).teacher_id)

    def test_left_pupils_stay(self):
        """Test that a pupil who has left is not moved up."""
        self.pupil_a2.state = "left"
        self.wizard().action_run()
        self.assertEqual(self.pupil_a2.class_id, self.class_a2)

    def test_bad_year_refused(self):
        """Test that a malformed school year is refused with a message."""
        wizard = self.wizard(from_year="2026-2027")
        self.assertFalse(wizard.to_year)
        self.assertEqual(wizard.class_count, 0)
        with self.assertRaisesRegex(UserError, "consecutive"):
            wizard.action_run()

    def test_only_managers_roll_over(self):
        """Test that clerks, coordinators and teachers can't run the roll-over."""
        for user in (self.user_clerk, self.user_coordinator, self.user_teacher):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.wizard(user=user)
        self.assertTrue(self.class_a1.active)

    def test_last_grade_range(self):
        """Test that the last grade stays within the grades a school has."""
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            self.school_a.write({"last_grade": 13})
            self.school_a.flush_recordset()
