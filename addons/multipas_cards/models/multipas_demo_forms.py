"""Demo registration forms and packages, in every state the work goes through.

SCH108: a processed package (three new pupils and a change of surname whose
card waits to be reissued), a received one still being processed (two forms
to process, a change of class to apply, a form returned for want of consent),
a handed-over package whose count didn't match (with the coordinator's note),
and a draft package with a staff member's form; the demo parent has filled in
a form on the portal. GYM2: a draft package whose declared count is wrong, so
it can't be handed over yet, and a change of diet the second demo parent
reported on the portal.
"""

import logging
from datetime import date, timedelta

from odoo import Command, api, fields, models

from .multipas_demo import CONSENT_SCOPE, CONTRACT_VERSIONS, DEMO_CONTEXT

_logger = logging.getLogger(__name__)

# (last, first, patronymic, grade, letter, guardian (last, first, patronymic,
# relation), phone, email); a falsy email means a phone only.
NEW_PUPILS = [
    (
        "Сафонова",
        "Милана",
        "Романовна",
        1,
        "А",
        ("Сафонова", "Ольга", "Викторовна", "mother"),
        "+7 912 301-22-41",
        "o.safonova@example.com",
    ),
    (
        "Гарипов",
        "Тимур",
        "Ильдарович",
        1,
        "Б",
        ("Гарипов", "Ильдар", "Маратович", "father"),
        "+7 902 775-10-38",
        "i.garipov@example.org",
    ),
    (
        "Кочурова",
        "Ева",
        "Андреевна",
        2,
        "А",
        ("Кочурова", "Наталья", "Сергеевна", "mother"),
        "+7 922 640-55-12",
        False,
    ),
    (
        "Бушуев",
        "Арсений",
        "Павлович",
        5,
        "Б",
        ("Бушуева", "Екатерина", "Олеговна", "mother"),
        "+7 908 212-63-70",
        "e.bushueva@example.net",
    ),
    (
        "Латыпова",
        "Алсу",
        "Ринатовна",
        3,
        "А",
        ("Латыпов", "Ринат", "Фаритович", "father"),
        "+7 919 455-08-27",
        "r.latypov@example.com",
    ),
    (
        "Мальцев",
        "Глеб",
        "Денисович",
        8,
        "А",
        ("Мальцева", "Ирина", "Юрьевна", "mother"),
        "+7 950 471-33-09",
        "i.maltseva@example.org",
    ),
    (
        "Пестова",
        "Варвара",
        "Игоревна",
        6,
        "Б",
        ("Пестов", "Игорь", "Николаевич", "father"),
        "+7 912 588-14-60",
        "i.pestov@example.net",
    ),
    (
        "Зырянов",
        "Матвей",
        "Алексеевич",
        4,
        "А",
        ("Зырянова", "Светлана", "Петровна", "mother"),
        "+7 902 830-27-95",
        "s.zyryanova@example.com",
    ),
    (
        "Чащина",
        "Дарья",
        "Кирилловна",
        10,
        "А",
        ("Чащин", "Кирилл", "Вадимович", "father"),
        "+7 922 119-40-52",
        "k.chashchin@example.org",
    ),
    (
        "Ветошкин",
        "Егор",
        "Степанович",
        2,
        "Б",
        ("Ветошкина", "Анна", "Михайловна", "mother"),
        "+7 908 664-71-18",
        "a.vetoshkina@example.net",
    ),
    (
        "Осокина",
        "Полина",
        "Евгеньевна",
        7,
        "Б",
        ("Осокина", "Марина", "Алексеевна", "mother"),
        "+7 919 302-86-44",
        "m.osokina@example.com",
    ),
]


class MultipasDemo(models.AbstractModel):
    _inherit = "multipas.demo"

    @api.model
    def _generate_demo(self, **kw):
        result = super()._generate_demo(**kw)
        self.with_context(**DEMO_CONTEXT)._generate_demo_forms()
        return result

    @api.model
    def _generate_demo_forms(self):
        sch108 = self.env.ref("multipas_cards.school_sch108", raise_if_not_found=False)
        gym2 = self.env.ref("multipas_cards.school_gym2", raise_if_not_found=False)
        if not sch108 or not gym2:
            return
        Package = self.env["multipas.registration.package"].sudo()
        if Package.search_count([("school_id", "in", (sch108 | gym2).ids)], limit=1):
            _logger.info("Multipas demo: the demo schools already have form packages; skipped.")
            return
        if not self.env["multipas.cardholder"].search_count(
            [("school_id", "=", sch108.id)], limit=1
        ):
            return  # the demo people aren't there: nothing to change
        self.env["ir.config_parameter"].sudo().set_param(
            "multipas_cards.contract_terms_version", CONTRACT_VERSIONS[-1][1]
        )
        _DemoForms(self.env, sch108, gym2).run()


class _DemoForms:
    """The forms and packages of the demo; not a model."""

    def __init__(self, env, sch108, gym2):
        self.env = env
        self.sch108 = sch108
        self.gym2 = gym2
        self.coordinator = env.ref("multipas_cards.user_coordinator")
        self.coordinator2 = env.ref("multipas_cards.user_coordinator_gym2")
        self.clerk = env.ref("multipas_cards.user_clerk")
        self.today = fields.Date.context_today(sch108.with_context(tz=sch108.tz))
        self.pupils = iter(NEW_PUPILS)

    def _as(self, user):
        return self.env(user=user, su=False)

    def _form_date(self, days_ago):
        """A date whose class is this school year's: in summer a form names
        next year's class (§3.3.2), which the demo school doesn't have yet."""
        day = self.today - timedelta(days=days_ago)
        if day.month in (6, 7, 8):
            day = date(day.year, 5, 31) - timedelta(days=days_ago % 20)
        return day

    def _pupil_form(self, env, school, days_ago, consent=True):
        last, first, patronymic, grade, letter, guardian, phone, email = next(self.pupils)
        form_date = self._form_date(days_ago)
        year_start = int(env["multipas.registration.form"]._school_year_for_form(form_date)[:4])
        g_last, g_first, g_patronymic, relation = guardian
        return env["multipas.registration.form"].create(
            {
                "school_id": school.id,
                "form_date": form_date,
                "last_name": last,
                "first_name": first,
                "patronymic": patronymic,
                "birth_date": date(year_start - 6 - grade, 1 + (grade * 5) % 12, 3 + grade * 2),
                "class_grade": grade,
                "class_letter": letter,
                "guardian_ids": [
                    Command.create(
                        {
                            "last_name": g_last,
                            "first_name": g_first,
                            "patronymic": g_patronymic,
                            "relation": relation,
                            "is_primary": True,
                            "phone": phone,
                            "email": email,
                            "contract_date": form_date if consent else False,
                            "consent_date": form_date if consent else False,
                            "consent_scope": CONSENT_SCOPE,
                            "consent_taken_by_id": env.uid,
                        }
                    )
                ],
            }
        )

    def _change_form(self, env, holder, days_ago, **changes):
        Form = env["multipas.registration.form"]
        vals = Form._change_form_defaults(holder)
        vals.update(
            form_type="change",
            target_cardholder_id=holder.id,
            form_date=self._form_date(days_ago),
            **changes,
        )
        return Form.create(vals)

    def _package(self, env, school, forms, declared=None, note=None):
        package = env["multipas.registration.package"].create(
            {
                "school_id": school.id,
                "declared_count": len(forms) if declared is None else declared,
                "mismatch_note": note or False,
            }
        )
        package.action_set_forms(forms)
        return package

    def _pick_pupil(self, school, offset):
        """An enrolled pupil with a card, the same one on every install."""
        return (
            self.env["multipas.cardholder"]
            .sudo()
            .search(
                [
                    ("school_id", "=", school.id),
                    ("kind", "=", "pupil"),
                    ("state", "=", "enrolled"),
                    ("class_id", "!=", False),
                    ("card_ids.state", "=", "issued"),
                ],
                order="id",
                limit=1,
                offset=offset,
            )
        )

    def run(self):
        coordinator = self._as(self.coordinator)
        clerk = self._as(self.clerk)
        sch108 = self.sch108.with_env(coordinator)

        # 1. Processed: three new pupils and a change of surname.
        renamed = self._pick_pupil(self.sch108, 7)
        forms = self._pupil_form(coordinator, sch108, 40)
        forms |= self._pupil_form(coordinator, sch108, 39)
        forms |= self._pupil_form(coordinator, sch108, 39)
        suffix = "Демидова" if renamed.last_name.endswith("а") else "Демидов"
        forms |= self._change_form(
            coordinator, renamed, 38, last_name=f"{renamed.last_name}-{suffix}"
        )
        first = self._package(coordinator, sch108, forms)
        first.action_hand_over()
        first = first.with_env(clerk)
        first.action_receive()
        first.action_process()

        # 2. Received, being processed: two to process, a change of class to
        # apply, and a form returned for want of the guardian's consent.
        moving = self._pick_pupil(self.sch108, 8)
        other_class = moving.class_id.search(
            [
                ("school_id", "=", self.sch108.id),
                ("school_year", "=", moving.class_id.school_year),
                ("grade", "=", moving.class_id.grade),
                ("id", "!=", moving.class_id.id),
            ],
            limit=1,
        )
        forms = self._pupil_form(coordinator, sch108, 12)
        forms |= self._pupil_form(coordinator, sch108, 11)
        unsigned = self._pupil_form(coordinator, sch108, 11, consent=False)
        forms |= unsigned
        if other_class:
            forms |= self._change_form(
                coordinator,
                moving,
                10,
                class_letter=other_class.letter,
                allergies="Цитрусовые",
            )
        second = self._package(coordinator, sch108, forms)
        second.action_hand_over()
        second = second.with_env(clerk)
        second.action_receive()
        unsigned.with_env(clerk)._return(
            "Нет подписи законного представителя на согласии на обработку персональных "
            "данных. Подпишите согласие и передайте анкету заново."
        )

        # 3. Handed over with one form short: the coordinator explained why.
        forms = self._pupil_form(coordinator, sch108, 3)
        forms |= self._pupil_form(coordinator, sch108, 2)
        forms |= self._pupil_form(coordinator, sch108, 2)
        third = self._package(
            coordinator,
            sch108,
            forms,
            declared=4,
            note="Четвёртую анкету (Мальцевы, 8А) родители забрали исправить; передадим со "
            "следующим пакетом.",
        )
        third.action_hand_over()

        # 4. Draft: a staff member's own form, and a parent's portal form waiting.
        staff_date = self._form_date(1)
        staff = coordinator["multipas.registration.form"].create(
            {
                "school_id": self.sch108.id,
                "holder_kind": "staff",
                "form_date": staff_date,
                "last_name": "Шестакова",
                "first_name": "Алла",
                "patronymic": "Борисовна",
                "birth_date": date(1987, 9, 14),
                "holder_phone": "+7 912 777-45-10",
                "holder_email": "a.shestakova@example.com",
                "holder_contract_date": staff_date,
                "holder_contract_version": CONTRACT_VERSIONS[-1][1],
                "holder_consent_date": staff_date,
                "holder_consent_scope": CONSENT_SCOPE,
                "holder_consent_taken_by_id": self.coordinator.id,
            }
        )
        self._package(coordinator, sch108, staff, declared=1)
        parent = self.env.ref("multipas_cards.user_parent")
        partner = parent.partner_id
        form_date = self._form_date(0)
        _form, errors = (
            self._as(parent)["multipas.registration.form"]
            .with_context(tz=self.sch108.tz)
            ._portal_submit(
                partner,
                {
                    "school_id": str(self.sch108.id),
                    "last_name": "Петрова",
                    "first_name": "Вероника",
                    "patronymic": "Дмитриевна",
                    "birth_date": fields.Date.to_string(date(form_date.year - 7, 4, 22)),
                    "class_grade": "1",
                    "class_letter": "Б",
                    "allergies": "Мёд",
                    "g_last_name": "Петрова",
                    "g_first_name": "Анна",
                    "g_patronymic": "Сергеевна",
                    "g_relation": "mother",
                    "g_phone": partner.phone or "+7 912 480-15-27",
                    "g_email": partner.email or "",
                    "accept_contract": "on",
                    "accept_consent": "on",
                },
            )
        )
        if errors:
            _logger.warning("Multipas demo: the portal form was refused: %s", errors)

        # The second demo parent reports a new diet on the portal (§4.1.2):
        # a change form waiting at GYM2.
        parent2 = self.env.ref("multipas_cards.user_parent2")
        child = parent2.partner_id.multipas_child_ids.filtered(lambda h: h.state == "enrolled")[:1]
        if child:
            Form2 = self._as(parent2)["multipas.registration.form"].with_context(tz=self.gym2.tz)
            post = Form2._portal_change_defaults(child)
            post.update(diet="Без свинины", change_note="Семья не ест свинину.")
            _form, errors = Form2._portal_submit_change(child.with_user(parent2), post)
            if errors:
                _logger.warning("Multipas demo: the portal change was refused: %s", errors)

        # GYM2: a draft package whose declared count is wrong.
        coordinator2 = self._as(self.coordinator2)
        gym2 = self.gym2.with_env(coordinator2)
        forms = self._pupil_form(coordinator2, gym2, 4)
        forms |= self._pupil_form(coordinator2, gym2, 3)
        self._package(coordinator2, gym2, forms, declared=3)
        _logger.info("Multipas demo: registration forms and packages created.")
