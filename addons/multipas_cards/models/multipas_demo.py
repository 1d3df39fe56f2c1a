"""The bulk of the demo data: classes, pupils, staff, guardians, cards and a
month of ledger history for the two demo schools of ``demo/multipas_demo.xml``.

Everything comes from one seeded ``random.Random``, so two installs on the same
day produce the same people, cards and balances (dates count back from today).
The history goes through ``multipas.account.post`` only, which stamps every
entry with the current time: the "30 days" are in the order of the entries, not
in their dates. The names and texts are Russian because they
are data a Russian school would hold, not interface strings.
"""

import logging
import random
import time
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as day_time

import pytz

from odoo import api, fields, models
from odoo.fields import Command

_logger = logging.getLogger(__name__)

# Bulk creation without chatter noise, followers or invitation mails.
DEMO_CONTEXT = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
    "no_reset_password": True,
}

# Per school: how its cards are numbered and how its reserve stock ends up.
# SCH108 keeps more reserve cards than its minimum (10); GYM2 spent most of its
# reserve on replacements and waits for a new batch, so it is below it.
SCHOOL_PLANS = [
    {
        "school": "multipas_cards.school_sch108",
        "card_prefix": "108",
        "mail_tag": "sch108",
        "teachers": 6,
        "fixed_classes": {"multipas_cards.user_teacher": [(3, "Б"), (7, "А")]},
        "reserve": 16,
        "reserve_used": 3,
        "new_batch": 0,
    },
    {
        "school": "multipas_cards.school_gym2",
        "card_prefix": "002",
        "mail_tag": "gym2",
        "teachers": 7,
        "fixed_classes": {},
        "reserve": 12,
        "reserve_used": 5,
        "new_batch": 8,
    },
]
# Cards per school besides the issued ones: made but not yet handed over,
# lost with no replacement yet, damaged and re-made, failed at encoding.
PENDING_CARDS = 5
LOST_WAITING = 1
DAMAGED_CARDS = 2
DEFECTIVE_CARDS = 2
LETTERS = ["А", "Б"]
GRADES = range(1, 12)
# Fewer pupils stay on for the last two years.
GRADE_WEIGHTS = [1.0] * 9 + [0.7, 0.6]

# The families behind the demo portal logins. "low" marks the child whose
# parents stopped topping up: the balance ends below the alert threshold.
FIXED_FAMILIES = [
    {
        "school": "multipas_cards.school_sch108",
        "guardian": "multipas_cards.partner_parent",
        "last_name": "Петров",
        "father": "Дмитрий",
        "children": [("Ксения", "f", 3, "Б", "low"), ("Артём", "m", 7, "А", "normal")],
    },
    {
        "school": "multipas_cards.school_gym2",
        "guardian": "multipas_cards.partner_parent2",
        "last_name": "Орлов",
        "father": "Максим",
        "children": [("Лев", "m", 4, "А", "normal")],
    },
]

# Male first names with the patronymics they give to sons and daughters.
FATHER_NAMES = {
    "Александр": ("Александрович", "Александровна"),
    "Алексей": ("Алексеевич", "Алексеевна"),
    "Андрей": ("Андреевич", "Андреевна"),
    "Антон": ("Антонович", "Антоновна"),
    "Артём": ("Артёмович", "Артёмовна"),
    "Борис": ("Борисович", "Борисовна"),
    "Вадим": ("Вадимович", "Вадимовна"),
    "Валерий": ("Валерьевич", "Валерьевна"),
    "Василий": ("Васильевич", "Васильевна"),
    "Виктор": ("Викторович", "Викторовна"),
    "Виталий": ("Витальевич", "Витальевна"),
    "Владимир": ("Владимирович", "Владимировна"),
    "Владислав": ("Владиславович", "Владиславовна"),
    "Вячеслав": ("Вячеславович", "Вячеславовна"),
    "Геннадий": ("Геннадьевич", "Геннадьевна"),
    "Григорий": ("Григорьевич", "Григорьевна"),
    "Денис": ("Денисович", "Денисовна"),
    "Дмитрий": ("Дмитриевич", "Дмитриевна"),
    "Евгений": ("Евгеньевич", "Евгеньевна"),
    "Егор": ("Егорович", "Егоровна"),
    "Иван": ("Иванович", "Ивановна"),
    "Игорь": ("Игоревич", "Игоревна"),
    "Илья": ("Ильич", "Ильинична"),
    "Ильдар": ("Ильдарович", "Ильдаровна"),
    "Кирилл": ("Кириллович", "Кирилловна"),
    "Константин": ("Константинович", "Константиновна"),
    "Марат": ("Маратович", "Маратовна"),
    "Максим": ("Максимович", "Максимовна"),
    "Михаил": ("Михайлович", "Михайловна"),
    "Никита": ("Никитич", "Никитична"),
    "Николай": ("Николаевич", "Николаевна"),
    "Олег": ("Олегович", "Олеговна"),
    "Павел": ("Павлович", "Павловна"),
    "Ринат": ("Ринатович", "Ринатовна"),
    "Роман": ("Романович", "Романовна"),
    "Руслан": ("Русланович", "Руслановна"),
    "Сергей": ("Сергеевич", "Сергеевна"),
    "Станислав": ("Станиславович", "Станиславовна"),
    "Степан": ("Степанович", "Степановна"),
    "Фёдор": ("Фёдорович", "Фёдоровна"),
    "Эдуард": ("Эдуардович", "Эдуардовна"),
    "Юрий": ("Юрьевич", "Юрьевна"),
    "Ярослав": ("Ярославович", "Ярославовна"),
}
# Fathers of today's parents and grandparents: older names.
GRANDFATHER_NAMES = """
    Александр Анатолий Борис Валентин Василий Виктор Владимир Геннадий Григорий Иван
    Михаил Николай Пётр Юрий
""".split()
GRANDFATHER_PATRONYMICS = {
    "Анатолий": ("Анатольевич", "Анатольевна"),
    "Валентин": ("Валентинович", "Валентиновна"),
    "Пётр": ("Петрович", "Петровна"),
}
BOY_NAMES = """
    Александр Максим Артём Михаил Иван Дмитрий Кирилл Матвей Тимофей Егор Никита Андрей
    Илья Алексей Роман Сергей Владислав Ярослав Даниил Марк Лев Фёдор Степан Глеб
    Арсений Денис Богдан Тимур Платон Мирон Амир Макар
""".split()
GIRL_NAMES = """
    Анастасия Мария Дарья Анна Елизавета Полина Виктория Екатерина Софья Александра
    Варвара Ксения Алиса Вероника Арина Ева Василиса Милана Ульяна Алёна Кира Таисия
    Злата Валерия Диана Маргарита Вера Юлия Амина Есения
""".split()
MOTHER_NAMES = """
    Елена Ольга Наталья Татьяна Ирина Светлана Анна Юлия Екатерина Марина Мария Оксана
    Евгения Анастасия Ксения Надежда Людмила Дарья Алёна Виктория Кристина Вера Любовь
    Гульнара Альфия
""".split()
GRANDMOTHER_NAMES = """
    Галина Валентина Людмила Надежда Тамара Нина Любовь Лидия Раиса Зинаида
""".split()
# Male forms; the female form is derived (see _female_surname).
SURNAMES = """
    Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров
    Морозов Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов
    Андреев Макаров Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов
    Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин
    Максимов Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов Тарасов Жуков
    Баранов Филиппов Комаров Давыдов Беляев Герасимов Богданов Осипов Сидоров Матвеев
    Титов Марков Миронов Крылов Куликов Карпов Власов Мельников Денисов Гаврилов Тихонов
    Казаков Афанасьев Данилов Савельев Тимофеев Фомин Чернов Абрамов Мартынов Ефимов
    Щербаков Назаров Калинин Исаев Быков Маслов Родионов Коновалов Лазарев Воронин
    Климов Филатов Пономарёв Голубев Кудрявцев Прохоров Наумов Потапов Журавлёв
    Овчинников Трофимов Леонов Соболев Ермаков Колесников Гончаров Пермяков Мальцев
    Шилов Кычкин Зырянов Мухаметшин Хайруллин Галиев Сафин Гарипов Покровский Никольский
    Черных Седых Белых Долгих Шевченко Кравченко Ким
""".split()
TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya".split(),
        strict=True,
    )
)
MOBILE_CODES = ["902", "904", "908", "912", "919", "922", "950", "951", "963", "982", "992"]
MAIL_DOMAINS = ["example.com", "example.org", "example.net"]
ALLERGIES = [
    "Арахис и орехи",
    "Белок коровьего молока",
    "Куриное яйцо",
    "Рыба и морепродукты",
    "Цитрусовые",
    "Мёд",
    "Глютен (целиакия)",
]
DIETS = [
    "Безглютеновое питание",
    "Сахарный диабет 1 типа: без сахара, учёт хлебных единиц",
    "Безлактозное питание",
    "Щадящая диета (гастрит)",
    "Вегетарианское питание по желанию родителей",
]
STAFF_JOBS = [
    ("Директор", "f"),
    ("Заместитель директора по УВР", "f"),
    ("Заместитель директора по АХЧ", "m"),
    ("Учитель начальных классов", "f"),
    ("Учитель начальных классов", "f"),
    ("Учитель математики", "f"),
    ("Учитель русского языка и литературы", "f"),
    ("Учитель английского языка", "f"),
    ("Учитель истории и обществознания", "m"),
    ("Учитель физики", "m"),
    ("Учитель информатики", "m"),
    ("Учитель физической культуры", "m"),
    ("Педагог-психолог", "f"),
    ("Социальный педагог", "f"),
    ("Библиотекарь", "f"),
    ("Медицинская сестра", "f"),
    ("Секретарь", "f"),
    ("Вахтёр", "f"),
    ("Рабочий по обслуживанию здания", "m"),
    ("Уборщик служебных помещений", "f"),
]
CONSENT_SCOPE = (
    "Фамилия, имя, отчество, дата рождения, класс и фотография ребёнка; фамилия, "
    "имя, отчество, телефон и e-mail законного представителя; операции по лицевому "
    "счёту, питание, проходы. Цели: учёт питания, контроль доступа, личный кабинет. "
    "Срок: до окончания обучения в школе."
)
# Terms versions of the subscriber contract and the day each took effect.
CONTRACT_VERSIONS = [
    (date(2023, 2, 28), "ред. от 28.02.2023"),
    (date(2025, 8, 1), "ред. от 01.08.2025"),
]

BREAKFAST_PRICES = [65, 72, 78, 85, 95]
LUNCH_PRICES = [118, 126, 135, 148, 160, 172, 180]
BUFFET_ITEMS = [
    ("Буфет: выпечка", [45, 50, 55]),
    ("Буфет: сок", [45, 52]),
    ("Буфет: йогурт", [48, 58]),
    ("Буфет: пицца", [68, 75]),
]
TOPUP_AMOUNTS = [500, 500, 700, 1000, 1000, 1000, 1500, 2000, 2000, 2500, 3000]
TOPUP_CHANNELS = ["Пополнение: банковский перевод", "Пополнение: терминал в школе"]
REISSUE_FEE = 150
SMS_FEE = 60


def _female_surname(surname):
    """The feminine form of a Russian surname; some surnames have none."""
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    if surname.endswith("ский") or surname.endswith("цкий"):
        return surname[:-2] + "ая"
    return surname


def _translit(text):
    return "".join(TRANSLIT.get(char, char) for char in text.lower()).replace("-", "")


def _patronymic(father, gender):
    forms = FATHER_NAMES.get(father) or GRANDFATHER_PATRONYMICS[father]
    return forms[0] if gender == "m" else forms[1]


class MultipasDemo(models.AbstractModel):
    """Generates the bulk demo data; called once from demo/multipas_demo.xml."""

    _name = "multipas.demo"
    _description = "Multipas demo data generator"

    @api.model
    def _generate_demo(self, seed=108, pupils_per_school=300, staff_per_school=20, days=30):
        """Fill the demo schools with classes, pupils, staff, guardians, cards
        and ``days`` days of ledger history; the same seed gives the same data.

        Does nothing when the demo schools already have cardholders, so that a
        second call can't double the data.
        """
        started = time.perf_counter()
        self = self.with_context(**DEMO_CONTEXT)
        schools = self.env["multipas.school"].browse(
            [self.env.ref(plan["school"]).id for plan in SCHOOL_PLANS]
        )
        if self.env["multipas.cardholder"].search_count(
            [("school_id", "in", schools.ids)], limit=1
        ):
            _logger.info("Multipas demo: the demo schools already have cardholders; skipped.")
            return
        generator = _DemoGenerator(self.env, random.Random(seed))
        for plan in SCHOOL_PLANS:
            generator.fill_school(plan, pupils_per_school, staff_per_school)
        generator.create_portal_users(per_school=15)
        generator.post_history(days)
        self._demo_speak_russian()
        _logger.info(
            "Multipas demo: %s cardholders, %s cards, %s ledger entries in %.1f s",
            len(generator.wallets),
            self.env["multipas.card"].search_count([("school_id", "in", schools.ids)]),
            generator.entry_count,
            time.perf_counter() - started,
        )

    @api.model
    def _demo_speak_russian(self):
        """The school's people read Russian: when the database has Russian
        loaded (`make demo` loads it), the demo logins use it."""
        if not self.env["res.lang"]._lang_get("ru_RU"):
            return
        users = (
            self.env["res.users"]
            .with_context(active_test=False)
            .search([("login", "not in", ("__system__", "public", "default"))])
        )
        users.write({"lang": "ru_RU", "tz": "Asia/Yekaterinburg"})


class _DemoGenerator:
    """Holds the random source and what was made so far; not a model."""

    def __init__(self, env, rng):
        self.env = env
        self.rng = rng
        # "Today" in Perm, where both demo schools are.
        sch108 = env.ref("multipas_cards.school_sch108")
        self.today = fields.Date.context_today(sch108.with_context(tz=sch108.tz))
        self.current_day = self.today
        self.now = fields.Datetime.now()
        self.clerk = env.ref("multipas_cards.user_clerk")
        self.used_uids = set()
        self.used_emails = set(
            env["res.users"].with_context(active_test=False).search([]).mapped("login")
        )
        self.guardians_by_school = {}
        # Pupils placed so far per (grade, letter) of the school being filled.
        self.class_load = Counter()
        # One wallet per cardholder: what the ledger simulation needs to know.
        self.wallets = []
        self.entry_count = 0

    # === PEOPLE === #

    def _unique_email(self, first, last):
        base = f"{_translit(first)[0]}.{_translit(last)}"
        domain = self.rng.choice(MAIL_DOMAINS)
        email = f"{base}@{domain}"
        while email in self.used_emails:
            email = f"{base}{self.rng.randint(2, 99)}@{domain}"
        self.used_emails.add(email)
        return email

    def _phone(self):
        rng = self.rng
        return (
            f"+7 {rng.choice(MOBILE_CODES)} {rng.randint(100, 999)}-"
            f"{rng.randint(10, 99)}-{rng.randint(10, 99)}"
        )

    def _adult_name(self, surname, gender, older=False):
        """(last, first, patronymic) of an adult of the family ``surname``."""
        rng = self.rng
        if older:
            first = rng.choice(GRANDMOTHER_NAMES if gender == "f" else GRANDFATHER_NAMES)
            father = rng.choice(GRANDFATHER_NAMES)
        else:
            first = rng.choice(MOTHER_NAMES if gender == "f" else list(FATHER_NAMES))
            father = rng.choice(GRANDFATHER_NAMES + list(FATHER_NAMES))
        last = _female_surname(surname) if gender == "f" else surname
        return last, first, _patronymic(father, gender)

    def _guardian_vals(self, last, first, patronymic, with_email=True):
        rng = self.rng
        signed = self.today - timedelta(days=rng.randint(20, (self.today - date(2023, 3, 1)).days))
        version = [label for start, label in CONTRACT_VERSIONS if start <= signed][-1]
        return {
            "name": f"{last} {first} {patronymic}",
            "phone": self._phone(),
            "email": self._unique_email(first, last) if with_email else False,
            "city": "Пермь",
            "country_id": self.env.ref("base.ru").id,
            "multipas_contract_date": signed,
            "multipas_contract_version": version,
            "multipas_consent_date": signed,
            "multipas_consent_scope": CONSENT_SCOPE,
            # Paper forms are taken by the operator's clerk; the rest signed online.
            "multipas_consent_taken_by": self.clerk.id if rng.random() < 0.6 else False,
        }

    def _birth_date(self, school_year_start, grade):
        # A first-former is 6½–7½ on 1 September.
        start = date(school_year_start - grade - 6, 3, 1)
        return start + timedelta(days=self.rng.randrange(365))

    def _pick_grades(self, count):
        grades = []
        while len(grades) < count:
            grade = self.rng.choices(list(GRADES), weights=GRADE_WEIGHTS)[0]
            if grade not in grades:
                grades.append(grade)
        return grades

    # === A SCHOOL === #

    def fill_school(self, plan, pupil_count, staff_count):
        env = self.env
        school = env.ref(plan["school"])
        school_year = env["multipas.school"]._current_school_year()
        year_start = int(school_year[:4])
        classes = self._create_classes(school, school_year, plan)
        class_by_key = {(c.grade, c.letter): c for c in classes}
        self.class_load = Counter()

        families = []
        for fixed in FIXED_FAMILIES:
            if fixed["school"] == plan["school"]:
                families.append(self._fixed_family(fixed))
        pupils_planned = sum(len(f["children"]) for f in families)
        while pupils_planned < pupil_count:
            family = self._random_family(min(pupil_count - pupils_planned, 3))
            families.append(family)
            pupils_planned += len(family["children"])

        # Guardians first (one batch), then the children pointing at them.
        new_guardians = [g for f in families for g in f["guardians"] if isinstance(g, dict)]
        created = iter(env["res.partner"].create(new_guardians))
        guardian_ids = []
        for family in families:
            ids = []
            for guardian in family["guardians"]:
                ids.append(next(created).id if isinstance(guardian, dict) else guardian)
            family["guardian_ids"] = ids
            guardian_ids.extend(ids)
        self.guardians_by_school[school.id] = guardian_ids

        pupil_vals, habits = [], []
        for family in families:
            for child in family["children"]:
                pupil_vals.append(
                    {
                        "kind": "pupil",
                        "school_id": school.id,
                        "class_id": class_by_key[(child["grade"], child["letter"])].id,
                        "last_name": child["last_name"],
                        "first_name": child["first_name"],
                        "patronymic": child["patronymic"],
                        "birth_date": self._birth_date(year_start, child["grade"]),
                        "benefit_category_id": child["benefit"],
                        "allergies": child["allergies"],
                        "diet": child["diet"],
                        "city": "Пермь",
                        "guardian_ids": [Command.set(family["guardian_ids"])],
                    }
                )
                habits.append(child["habit"])
        pupils = env["multipas.cardholder"].create(pupil_vals)
        staff = env["multipas.cardholder"].create(self._staff_vals(school, staff_count))
        for holder, habit in zip(pupils, habits, strict=True):
            self._add_wallet(holder, habit)
        for holder in staff:
            self._add_wallet(holder, "staff")
        self._create_cards(school, plan, pupils, staff)

    def _create_classes(self, school, school_year, plan):
        env = self.env
        teachers = self._create_teachers(school, plan)
        fixed = {}
        for xmlid, keys in plan["fixed_classes"].items():
            for key in keys:
                fixed[key] = env.ref(xmlid).id
        vals_list, free = [], []
        for grade in GRADES:
            for letter in LETTERS:
                vals = {
                    "school_id": school.id,
                    "school_year": school_year,
                    "grade": grade,
                    "letter": letter,
                    "teacher_id": fixed.get((grade, letter), False),
                }
                if not vals["teacher_id"]:
                    free.append(vals)
                vals_list.append(vals)
        # Each generated teacher leads a few classes in neighbouring grades.
        for index, vals in enumerate(free):
            vals["teacher_id"] = teachers[index * len(teachers) // len(free)].id
        return env["multipas.class"].create(vals_list)

    def _create_teachers(self, school, plan):
        vals_list = []
        group = self.env.ref("multipas_cards.group_class_teacher")
        for __ in range(plan["teachers"]):
            gender = "f" if self.rng.random() < 0.85 else "m"
            last, first, patronymic = self._adult_name(self.rng.choice(SURNAMES), gender)
            login = (
                f"{_translit(last)}.{_translit(first)[0]}{_translit(patronymic)[0]}"
                f".{plan['mail_tag']}@example.com"
            )
            while login in self.used_emails:
                login = login.replace("@", "1@", 1)
            self.used_emails.add(login)
            vals_list.append(
                {
                    "name": f"{last} {first} {patronymic}",
                    "login": login,
                    "email": login,
                    "tz": school.tz,
                    "groups_id": [Command.set(group.ids)],
                }
            )
        return self.env["res.users"].create(vals_list)

    def _place_in_class(self, grade, letter=None):
        """Count a pupil in a class of ``grade``: the given letter, else the
        smaller of the parallel classes, so that class sizes stay even."""
        if letter is None:
            smallest = min(self.class_load[(grade, x)] for x in LETTERS)
            letter = self.rng.choice(
                [x for x in LETTERS if self.class_load[(grade, x)] == smallest]
            )
        self.class_load[(grade, letter)] += 1
        return letter

    def _fixed_family(self, fixed):
        children = []
        for first, gender, grade, letter, habit in fixed["children"]:
            surname = fixed["last_name"]
            children.append(
                {
                    "last_name": surname if gender == "m" else _female_surname(surname),
                    "first_name": first,
                    "patronymic": _patronymic(fixed["father"], gender),
                    "grade": grade,
                    "letter": self._place_in_class(grade, letter),
                    "benefit": False,
                    "allergies": False,
                    "diet": False,
                    "habit": habit,
                }
            )
        return {"guardians": [self.env.ref(fixed["guardian"]).id], "children": children}

    def _random_family(self, max_children):
        rng = self.rng
        size = rng.choices([1, 2, 3], weights=[70, 22, 8])[0]
        size = min(size, max_children)
        surname = rng.choice(SURNAMES)
        father = rng.choice(list(FATHER_NAMES))

        # Who signed the contract: mostly the mother, often both parents.
        roll = rng.random()
        guardians = []
        if roll < 0.85:
            last, first, patronymic = self._adult_name(surname, "f")
            if rng.random() < 0.1:  # kept her own surname
                last = _female_surname(rng.choice(SURNAMES))
            guardians.append(self._guardian_vals(last, first, patronymic, rng.random() < 0.9))
        if 0.55 <= roll < 0.95:
            patronymic = _patronymic(rng.choice(GRANDFATHER_NAMES + list(FATHER_NAMES)), "m")
            vals = self._guardian_vals(surname, father, patronymic, rng.random() < 0.7)
            # A second guardian who only watches the cabinet.
            vals["multipas_view_only"] = bool(guardians) and rng.random() < 0.3
            guardians.append(vals)
        if roll >= 0.95:  # a grandmother is the legal guardian
            last, first, patronymic = self._adult_name(surname, "f", older=True)
            guardians.append(self._guardian_vals(last, first, patronymic, rng.random() < 0.5))

        large = size >= 3 and rng.random() < 0.8
        low_income = not large and rng.random() < 0.04
        family_benefit = (
            self.env.ref("multipas_cards.benefit_large_family").id
            if large
            else low_income and self.env.ref("multipas_cards.benefit_low_income").id
        )
        forgetful = rng.random() < 0.05
        children, names = [], set()
        for grade in self._pick_grades(size):
            gender = rng.choice("mf")
            first = rng.choice(BOY_NAMES if gender == "m" else GIRL_NAMES)
            while first in names:
                first = rng.choice(BOY_NAMES if gender == "m" else GIRL_NAMES)
            names.add(first)
            benefit = family_benefit
            if not benefit and rng.random() < 0.015:
                benefit = self.env.ref("multipas_cards.benefit_disabled").id
            children.append(
                {
                    "last_name": surname if gender == "m" else _female_surname(surname),
                    "first_name": first,
                    "patronymic": _patronymic(father, gender),
                    "grade": grade,
                    "letter": self._place_in_class(grade),
                    "benefit": benefit,
                    "allergies": rng.choice(ALLERGIES) if rng.random() < 0.06 else False,
                    "diet": rng.choice(DIETS) if rng.random() < 0.03 else False,
                    "habit": "benefit" if benefit else ("low" if forgetful else "normal"),
                }
            )
        return {"guardians": guardians, "children": children}

    def _staff_vals(self, school, count):
        rng = self.rng
        vals_list = []
        for index in range(count):
            job, gender = STAFF_JOBS[index % len(STAFF_JOBS)]
            last, first, patronymic = self._adult_name(rng.choice(SURNAMES), gender)
            vals_list.append(
                {
                    "kind": "staff",
                    "school_id": school.id,
                    "last_name": last,
                    "first_name": first,
                    "patronymic": patronymic,
                    "function": job,
                    "birth_date": date(
                        rng.randint(1962, 2001), rng.randint(1, 12), rng.randint(1, 28)
                    ),
                    "phone": self._phone(),
                    "city": "Пермь",
                }
            )
        return vals_list

    # === CARDS === #

    def _uid(self):
        # 7-byte NXP UIDs start with the manufacturer byte 04.
        while True:
            uid = "04" + "".join(f"{self.rng.randrange(256):02X}" for __ in range(6))
            if uid not in self.used_uids:
                self.used_uids.add(uid)
                return uid

    def _create_cards(self, school, plan, pupils, staff):
        """Issue a card to almost everyone and leave cards in every state."""
        Card = self.env["multipas.card"]
        rng = self.rng
        counter = iter(range(1, 1_000_000))

        def card_vals(holder=False):
            return {
                "number": f"{plan['card_prefix']}-{next(counter):06d}",
                "uid": self._uid(),
                "school_id": school.id,
                "holder_id": holder and holder.id,
            }

        # The children of the demo logins keep an ordinary issued card.
        fixed_guardians = {self.env.ref(f["guardian"]).id for f in FIXED_FAMILIES}
        candidates = (pupils + staff).filtered(
            lambda h: not set(h.guardian_ids.ids) & fixed_guardians
        )
        sizes = [PENDING_CARDS, plan["reserve_used"], LOST_WAITING, DAMAGED_CARDS]
        picked = iter(rng.sample(candidates.ids, sum(sizes)))
        pending, lost, lost_waiting, damaged = (
            self.env["multipas.cardholder"].browse([next(picked) for __ in range(size)])
            for size in sizes
        )

        everyone = pupils + staff
        originals = Card.create([card_vals(holder) for holder in everyone])
        pending_cards = originals.filtered(lambda c: c.holder_id in pending)
        handed = originals - pending_cards
        handed.action_to_stock()
        handed.action_issue()

        lost_cards = handed.filtered(lambda c: c.holder_id in lost)
        if lost_cards:
            # One card was stolen rather than lost.
            lost_cards[:1].action_block("stolen", note="Украдена вместе с рюкзаком")
            lost_cards[1:].action_block("lost", note="Родитель заблокировал в личном кабинете")
        handed.filtered(lambda c: c.holder_id in lost_waiting).action_block(
            "lost", note="Ждёт выдачи резервной карты"
        )
        damaged_cards = handed.filtered(lambda c: c.holder_id in damaged)
        damaged_cards.action_block("damaged", note="Карта сломана, чип не читается")
        damaged_cards.action_retire()

        # The school's reserve stock; some of it already went to replace lost cards.
        reserve = Card.create([card_vals() for __ in range(plan["reserve"])])
        reserve.action_to_stock()
        for card, holder in zip(reserve, lost, strict=False):
            card.holder_id = holder
        reserve.filtered("holder_id").action_issue()

        # Damaged cards are re-made by the operator rather than taken from the reserve.
        replacements = Card.create([card_vals(holder) for holder in damaged])
        replacements.action_to_stock()
        replacements.action_issue()

        # Chips that failed encoding never left the operator.
        Card.create([card_vals() for __ in range(DEFECTIVE_CARDS)]).action_retire()
        # The next reserve batch, produced but not yet handed over.
        Card.create([card_vals() for __ in range(plan["new_batch"])])

        lost_ids = set(lost.ids)
        for wallet in self.wallets:
            if wallet["holder"].id in lost_ids:
                wallet["reissue_fee"] = True

    # === PORTAL === #

    def create_portal_users(self, per_school):
        """Give some guardians a portal login (they'd set a password by mail)."""
        portal = self.env.ref("base.group_portal")
        partners = self.env["res.partner"]
        for guardian_ids in self.guardians_by_school.values():
            with_email = partners.browse(guardian_ids).filtered(
                lambda p: p.email and not p.user_ids
            )
            partners |= with_email.browse(sorted(self.rng.sample(with_email.ids, per_school)))
        self.env["res.users"].create(
            [
                {
                    "partner_id": partner.id,
                    "login": partner.email,
                    "tz": "Asia/Yekaterinburg",
                    "groups_id": [Command.set(portal.ids)],
                }
                for partner in partners
            ]
        )

    # === LEDGER HISTORY === #

    def _add_wallet(self, holder, habit):
        rng = self.rng
        self.wallets.append(
            {
                "holder": holder,
                "habit": habit,
                # How often this person buys something on a school day.
                "appetite": rng.uniform(0.55, 0.95) if habit != "staff" else rng.uniform(0.3, 0.7),
                "balance": 0,
                "floor": 0,
                "sms": habit != "staff" and rng.random() < 0.08,
                "reissue_fee": False,
                "posted": 0,
            }
        )

    def _school_days(self, school, first_day, last_day):
        """Local dates between the two days when the school works."""
        tz = pytz.timezone(school.tz or "UTC")
        holidays = set()
        for leave in school.resource_calendar_id.global_leave_ids:
            day = pytz.utc.localize(leave.date_from).astimezone(tz).date()
            end = pytz.utc.localize(leave.date_to).astimezone(tz).date()
            while day <= end:
                holidays.add(day)
                day += timedelta(days=1)
        days, day = [], first_day
        while day <= last_day:
            if day.weekday() < 5 and day not in holidays:
                days.append(day)
            day += timedelta(days=1)
        return set(days)

    def post_history(self, day_count):
        """Replay ``day_count`` days of top-ups, canteen purchases, refunds and
        fees through multipas.account.post, day by day across all accounts."""
        env = self.env
        rng = self.rng
        env.flush_all()
        holders = env["multipas.cardholder"].browse([w["holder"].id for w in self.wallets])
        accounts = {a.holder_id.id: a for a in holders.account_ids}
        portal_of = {}
        for user in env["res.users"].search(
            [("share", "=", True), ("partner_id.multipas_child_ids", "!=", False)]
        ):
            for child in user.partner_id.multipas_child_ids:
                portal_of.setdefault(child.id, user)
        cashier = env.ref("multipas_cards.user_cashier")
        sch108 = env.ref("multipas_cards.school_sch108")

        # Trusted staff may run a small tab.
        staff_wallets = [w for w in self.wallets if w["habit"] == "staff"]
        for wallet in rng.sample(staff_wallets, 6):
            wallet["floor"] = -300
            accounts[wallet["holder"].id].credit_limit = 300
        env.flush_all()

        last_day = self.today
        first_day = last_day - timedelta(days=day_count - 1)
        school_days = {
            school.id: self._school_days(school, first_day, last_day)
            for school in holders.school_id
        }
        sms_day = next(
            (
                first_day + timedelta(days=n)
                for n in range(day_count)
                if (first_day + timedelta(days=n)).day == 1
            ),
            first_day,
        )
        reissue_day = last_day - timedelta(days=rng.randint(2, 6))

        for wallet in self.wallets:
            holder = wallet["holder"]
            account = accounts[holder.id]
            # Purchases are rung up by the cashier at SCH108 (the demo login), by
            # the system elsewhere; top-ups by the guardian on the portal if any.
            wallet["till"] = (
                account.with_user(cashier).sudo() if holder.school_id == sch108 else account
            )
            portal_user = portal_of.get(holder.id)
            wallet["portal"] = portal_user and account.with_user(portal_user).sudo()
            wallet["clerk"] = account.with_user(self.clerk).sudo()
            wallet["system"] = account
            wallet["days"] = school_days[holder.school_id.id]

        # Whoever still waits for a first card has no history yet.
        active = [
            w for w in self.wallets if w["holder"].card_ids.filtered(lambda c: c.state != "new")
        ]
        for offset in range(day_count):
            day = first_day + timedelta(days=offset)
            self.current_day = day
            for wallet in active:
                self._simulate_day(wallet, day, offset, sms_day, reissue_day)

        # A guardian disputes a payment: the operator froze the account meanwhile.
        for school_id in sorted(school_days):
            candidates = [
                w
                for w in self.wallets
                if w["holder"].school_id.id == school_id
                and w["habit"] == "normal"
                and w["posted"]
                and w["holder"].id not in portal_of
            ]
            accounts[rng.choice(candidates)["holder"].id].action_freeze()

    def _simulate_day(self, wallet, day, offset, sms_day, reissue_day):
        rng = self.rng
        habit = wallet["habit"]
        if offset == 0:
            self._top_up(wallet, 1000 if habit == "low" else rng.choice(TOPUP_AMOUNTS))
        elif habit != "low" and wallet["balance"] < 150 and rng.random() < 0.6:
            # Guardians top up some days after the balance runs low; "low"
            # accounts belong to guardians who stopped doing so.
            self._top_up(wallet, rng.choice(TOPUP_AMOUNTS))
        if day == sms_day and wallet["sms"]:
            self._charge(wallet, -SMS_FEE, "fee", f"SMS-информирование, {day:%m.%Y}")
        if day == reissue_day and wallet["reissue_fee"]:
            self._charge(wallet, -REISSUE_FEE, "fee", "Перевыпуск карты взамен утерянной")
        if day not in wallet["days"] or rng.random() > wallet["appetite"]:
            return
        grade = wallet["holder"].class_id.grade
        items = []
        if habit != "benefit":  # the benefit pays the main meal, not the account
            if habit != "staff" and grade <= 4 and rng.random() < 0.7:
                items.append(("Столовая: завтрак", rng.choice(BREAKFAST_PRICES)))
            else:
                items.append(("Столовая: обед", rng.choice(LUNCH_PRICES)))
        if habit == "benefit" or rng.random() < (0.35 if grade >= 5 else 0.15):
            name, prices = rng.choice(BUFFET_ITEMS)
            items.append((name, rng.choice(prices)))
        for name, price in items:
            if wallet["balance"] - price < wallet["floor"]:
                continue  # the till refuses; nothing is posted
            self._post(wallet, "till", -price, "purchase", name)
            if rng.random() < 0.01:
                self._post(wallet, "till", price, "refund", "Возврат: блюдо заменено")

    def _top_up(self, wallet, amount):
        if wallet["portal"] and self.rng.random() < 0.7:
            self._post(wallet, "portal", amount, "topup", "Пополнение через личный кабинет")
        else:
            self._post(wallet, "system", amount, "topup", self.rng.choice(TOPUP_CHANNELS))

    def _charge(self, wallet, amount, kind, note):
        if wallet["balance"] + amount < wallet["floor"]:
            self._top_up(wallet, 500)
        self._post(wallet, "clerk", amount, kind, note)

    def _post(self, wallet, as_who, amount, kind, note):
        wallet["posted"] += 1
        key = f"demo-{wallet['holder'].id}-{wallet['posted']}"
        # History is dated on its simulated day, in the school's morning
        # (04:00 UTC is 09:00 in Perm), in posting order.
        when = datetime.combine(self.current_day, day_time(4, 0)) + timedelta(
            seconds=30 * wallet["posted"]
        )
        wallet[as_who].sudo().post(amount, kind, key, note=note, date=min(when, self.now))
        wallet["balance"] += amount
        self.entry_count += 1
