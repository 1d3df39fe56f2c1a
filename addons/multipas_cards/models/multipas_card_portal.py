from odoo import models
from odoo.exceptions import UserError

from .multipas_portal_tools import in_language_of, school_responsible_user

# Why a guardian may block a card from the cabinet (regulation §8.5).
PORTAL_BLOCK_REASONS = ("lost", "stolen")


def schedule_reserve_card_activity(holder, note):
    """Ask the school coordinator to issue a reserve card to ``holder``
    (one open activity per child; later requests add to its chatter).
    ``note`` is a function of the holder, so that the note is written in the
    language of whoever receives it."""
    holder = holder.sudo()
    activity_type = holder.env.ref("multipas_cards.mail_activity_issue_reserve_card")
    if holder.activity_ids.filtered(lambda a: a.activity_type_id == activity_type):
        holder.message_post(body=note(holder))
        return
    responsible = school_responsible_user(holder.school_id)
    holder = in_language_of(responsible, holder)
    holder.activity_schedule(
        activity_type_id=activity_type.id,
        user_id=responsible.id,
        note=note(holder),
    )


class MultipasCard(models.Model):
    _inherit = "multipas.card"

    def _multipas_portal_block(self, reason="lost"):
        """A guardian blocks their child's card at once, e.g. lost (§8.5).

        Taps with it are refused from now on (the device allow-list follows
        the card state); the money stays on the account. The school
        coordinator gets an activity to issue a reserve card.
        """
        self.ensure_one()
        self.env["res.partner"]._multipas_guardian_check(self.holder_id, act=True)
        if reason not in PORTAL_BLOCK_REASONS:
            raise UserError(self.env._("Choose why the card is blocked: lost or stolen."))
        card = self.sudo()
        if card.state != "issued":
            raise UserError(
                self.env._(
                    "Card %(number)s is not in use (%(state)s): there is nothing to block.",
                    number=card.number,
                    state=card._state_label(),
                )
            )
        guardian = self.env.user.partner_id
        card.action_block(
            reason,
            self.env._("Blocked by %(guardian)s in the cabinet", guardian=guardian.name),
        )
        selection = card._fields["block_reason"]._description_selection
        schedule_reserve_card_activity(
            card.holder_id,
            lambda holder: holder.env._(
                "%(guardian)s blocked card %(number)s of %(child)s in the cabinet "
                "(%(reason)s). Issue a reserve card within one day (regulation §8.5).",
                guardian=guardian.name,
                number=card.number,
                child=holder.name,
                reason=dict(selection(holder.env))[reason],
            ),
        )
        return card.with_env(self.env)
