from datetime import date

from odoo import Command, fields

from .common import MultipasCommon


class RegistrationCommon(MultipasCommon):
    """Registration forms on top of the small world of ``MultipasCommon``.

    ``form_day`` is a day whose forms name this school year's classes (the
    classes of the common world): today, or 20 May in summer, when forms
    already name next year's class (§3.3.2).
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        today = fields.Date.context_today(cls.env.user)
        cls.form_day = date(today.year, 5, 20) if today.month in (6, 7, 8) else today
        cls.Form = cls.env["multipas.registration.form"]
        cls.Package = cls.env["multipas.registration.package"]
        cls.pupil_a1.birth_date = date(2015, 4, 2)

    @classmethod
    def _guardian_line(cls, **values):
        return Command.create(
            {
                "last_name": "Mpformova",
                "first_name": "Olga",
                "patronymic": "Petrovna",
                "relation": "mother",
                "is_primary": True,
                "phone": "+7 912 555-12-34",
                "email": "olga.mpformova@example.com",
                "contract_date": cls.form_day,
                "consent_date": cls.form_day,
                **values,
            }
        )

    def _new_form(self, user=None, guardians=None, **values):
        """A complete draft form for a new pupil of class A1 (5A), by the coordinator."""
        vals = {
            "school_id": self.school_a.id,
            "form_date": self.form_day,
            "last_name": "Mpformov",
            "first_name": "Ivan",
            "patronymic": "Sergeevich",
            "birth_date": date(2015, 9, 1),
            "class_grade": 5,
            "class_letter": "A",
            "guardian_ids": [self._guardian_line()] if guardians is None else guardians,
        }
        vals.update(values)
        return self.Form.with_user(user or self.user_coordinator).create(vals)

    def _package(self, forms, user=None, declared=None, **values):
        user = user or self.user_coordinator
        package = self.Package.with_user(user).create(
            {
                "school_id": forms[:1].school_id.id or self.school_a.id,
                "declared_count": len(forms) if declared is None else declared,
                **values,
            }
        )
        package.action_set_forms(forms.with_user(user))
        return package

    def _submitted(self, forms, receive=True):
        """Pack ``forms``, hand them over and (by default) receive them as the clerk."""
        package = self._package(forms)
        package.action_hand_over()
        if receive:
            package.with_user(self.user_clerk).action_receive()
        return package
