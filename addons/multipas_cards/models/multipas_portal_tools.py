"""Small helpers shared by the parents' cabinet models (no model here)."""


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
