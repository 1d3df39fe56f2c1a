"""Small helpers shared by the parents' cabinet models and the operator's
warnings (no model here)."""


def in_language_of(user, records):
    """``records`` in ``user``'s language: what is written for that user (an
    activity's summary and note) is in their language, whoever writes it — a
    scheduled action, or a parent whose cabinet speaks another language."""
    return records.with_context(lang=user.lang or records.env.lang)


def operator_manager(env):
    """The operator manager who receives the cabinet's requests for the
    operator (the first active one; the administrator if there is none)."""
    group = env.ref("multipas_cards.group_operator_manager").sudo()
    return group.users.filtered("active")[:1] or env.ref("base.user_admin")


def school_responsible_user(school):
    """Who handles a school's requests from the cabinet: its coordinator
    (regulation §8.1), else the operator's manager."""
    school = school.sudo()
    return school.coordinator_ids.filtered("active")[:1] or operator_manager(school.env)
