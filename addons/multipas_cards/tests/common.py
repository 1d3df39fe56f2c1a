from odoo import Command
from odoo.tests import TransactionCase, new_test_user


class MultipasCommon(TransactionCase):
    """A small world of our own, independent of demo data.

    Schools A and B of one company; class A1 (with a class teacher) and A2 at
    school A, class B1 at school B; one pupil per class, each with a guardian
    partner, a personal account with a top-up and a purchase, and an issued
    card; one reserve card per school; a user for every role.

    Logins are at least 8 characters long so that ``new_test_user`` sets the
    password equal to the login, which ``HttpCase.authenticate`` expects.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(
            context=dict(
                cls.env.context,
                tracking_disable=True,
                mail_create_nolog=True,
                mail_notrack=True,
                no_reset_password=True,
            )
        )
        cls.company = cls.env.company

        cls.school_a = cls.env["multipas.school"].create(
            {"name": "Test school A", "code": "MPTST-A", "tz": "Asia/Yekaterinburg"}
        )
        cls.school_b = cls.env["multipas.school"].create(
            {"name": "Test school B", "code": "MPTST-B", "tz": "Asia/Yekaterinburg"}
        )
        cls.schools = cls.school_a | cls.school_b

        cls.user_manager = cls._new_user("mp_manager", "multipas_cards.group_operator_manager")
        cls.user_clerk = cls._new_user("mp_clerk_", "multipas_cards.group_operator_clerk")
        cls.user_coordinator = cls._new_user(
            "mp_coordinator",
            "multipas_cards.group_school_coordinator",
            multipas_school_ids=[Command.set(cls.school_a.ids)],
        )
        cls.user_teacher = cls._new_user("mp_teacher", "multipas_cards.group_class_teacher")
        cls.user_cashier = cls._new_user(
            "mp_cashier",
            "multipas_cards.group_cashier",
            multipas_school_ids=[Command.set(cls.school_a.ids)],
        )
        cls.user_guardian_a = cls._new_user("mp_guardian_a", "base.group_portal")
        cls.user_guardian_b = cls._new_user("mp_guardian_b", "base.group_portal")
        cls.user_portal = cls._new_user("mp_portal", "base.group_portal")
        cls.user_internal = cls._new_user("mp_internal", "base.group_user")

        school_year = cls.env["multipas.school"]._current_school_year()
        Class = cls.env["multipas.class"]
        cls.class_a1 = Class.create(
            {
                "school_id": cls.school_a.id,
                "grade": 5,
                "letter": "A",
                "school_year": school_year,
                "teacher_id": cls.user_teacher.id,
            }
        )
        cls.class_a2 = Class.create(
            {"school_id": cls.school_a.id, "grade": 6, "letter": "B", "school_year": school_year}
        )
        cls.class_b1 = Class.create(
            {"school_id": cls.school_b.id, "grade": 5, "letter": "A", "school_year": school_year}
        )
        cls.classes = cls.class_a1 | cls.class_a2 | cls.class_b1

        # A guardian of a pupil at A2 who has no login: a plain partner.
        cls.guardian_a2 = cls.env["res.partner"].create(
            {"name": "Mptest Guardian Of A2", "email": "guardian.a2@example.com"}
        )
        Holder = cls.env["multipas.cardholder"]
        cls.pupil_a1 = Holder.create(
            {
                "last_name": "Mptestova",
                "first_name": "Alisa",
                "school_id": cls.school_a.id,
                "class_id": cls.class_a1.id,
                "allergies": "peanuts",
                "guardian_ids": [Command.set(cls.user_guardian_a.partner_id.ids)],
            }
        )
        cls.pupil_a2 = Holder.create(
            {
                "last_name": "Mptestov",
                "first_name": "Boris",
                "school_id": cls.school_a.id,
                "class_id": cls.class_a2.id,
                "guardian_ids": [Command.set(cls.guardian_a2.ids)],
            }
        )
        cls.pupil_b = Holder.create(
            {
                "last_name": "Mptestina",
                "first_name": "Vera",
                "school_id": cls.school_b.id,
                "class_id": cls.class_b1.id,
                "guardian_ids": [Command.set(cls.user_guardian_b.partner_id.ids)],
            }
        )
        cls.pupils = cls.pupil_a1 | cls.pupil_a2 | cls.pupil_b

        cls.account_a1 = cls.pupil_a1.account_id
        cls.account_a2 = cls.pupil_a2.account_id
        cls.account_b = cls.pupil_b.account_id
        cls.accounts = cls.account_a1 | cls.account_a2 | cls.account_b

        Card = cls.env["multipas.card"]
        cls.card_a1, cls.card_a2, cls.card_b = Card.create(
            [
                {
                    "number": "MPTST-0001",
                    "uid": "A1B2C3D401",
                    "school_id": cls.school_a.id,
                    "holder_id": cls.pupil_a1.id,
                    "state": "stock",
                },
                {
                    "number": "MPTST-0002",
                    "uid": "A1B2C3D402",
                    "school_id": cls.school_a.id,
                    "holder_id": cls.pupil_a2.id,
                    "state": "stock",
                },
                {
                    "number": "MPTST-0003",
                    "uid": "A1B2C3D403",
                    "school_id": cls.school_b.id,
                    "holder_id": cls.pupil_b.id,
                    "state": "stock",
                },
            ]
        )
        (cls.card_a1 | cls.card_a2 | cls.card_b).action_issue()
        cls.reserve_a, cls.reserve_b = Card.create(
            [
                {
                    "number": "MPTST-0101",
                    "uid": "A1B2C3D411",
                    "school_id": cls.school_a.id,
                    "state": "stock",
                },
                {
                    "number": "MPTST-0102",
                    "uid": "A1B2C3D412",
                    "school_id": cls.school_b.id,
                    "state": "stock",
                },
            ]
        )
        cls.cards = cls.card_a1 | cls.card_a2 | cls.card_b | cls.reserve_a | cls.reserve_b

        cls.entry_a1 = cls.account_a1.post(500.0, "topup", "mptest-topup-a1", note="Test top-up")
        cls.entry_a1_purchase = cls.account_a1.post(-85.5, "purchase", "mptest-lunch-a1")
        cls.entry_a2 = cls.account_a2.post(300.0, "topup", "mptest-topup-a2")
        cls.entry_b = cls.account_b.post(200.0, "topup", "mptest-topup-b")
        cls.entries = cls.entry_a1 | cls.entry_a1_purchase | cls.entry_a2 | cls.entry_b

    @classmethod
    def _new_user(cls, login, groups, **kwargs):
        kwargs.setdefault("tz", "Asia/Yekaterinburg")
        user = new_test_user(cls.env, login=login, groups=groups, **kwargs)
        if "tour_enabled" in user._fields:
            # Onboarding tours would pop up in the browser tests.
            user.tour_enabled = False
        return user
