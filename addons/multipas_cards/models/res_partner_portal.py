from datetime import datetime, time

import pytz

from odoo import api, fields, models
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError

from .multipas_portal_tools import in_language_of, operator_manager


class ResPartner(models.Model):
    """What the parents' cabinet keeps on a guardian: who may see which child
    (every portal route asks here first), notification preferences and the
    withdrawal of the personal data consent.

    Preferences are per guardian, not per child: they describe how and when a
    person wants to be reached, which doesn't change from one child to the
    next. Money limits live on each child's personal account.
    """

    # Kept apart from res_partner.py on purpose: one file per area of the
    # addon (the cabinet), as the other areas do.
    _inherit = "res.partner"  # pylint: disable=consider-merging-classes-inherited

    multipas_notify_channel_ids = fields.Many2many(
        "multipas.notification.channel",
        "multipas_partner_notification_channel_rel",
        "partner_id",
        "channel_id",
        string="Notification channels",
        help="How the guardian wants to be told about low balances, meals and entries.",
    )
    multipas_notify_configured = fields.Boolean(
        string="Channels chosen",
        help="The guardian chose their channels; until then the default channels apply.",
    )
    multipas_quiet_from = fields.Float(
        string="Quiet hours from",
        default=21.0,
        help="No notification is sent between these hours (the guardian's local time).",
    )
    multipas_quiet_to = fields.Float(string="Quiet hours to", default=8.0)
    multipas_consent_withdrawn_date = fields.Datetime(
        string="Consent withdrawn on",
        readonly=True,
        copy=False,
        help="The guardian withdrew the personal data consent in the cabinet; the "
        "operator handles what follows (contract, data erasure).",
    )

    @api.constrains("multipas_quiet_from", "multipas_quiet_to")
    def _check_multipas_quiet_hours(self):
        for partner in self:
            for value in (partner.multipas_quiet_from, partner.multipas_quiet_to):
                if not 0 <= value < 24:
                    raise ValidationError(
                        self.env._("Quiet hours are times of day, from 00:00 to 23:59.")
                    )

    # === WHO SEES WHICH CHILD === #

    @api.model
    def _multipas_portal_children(self):
        """The enrolled children of the current user, read with the user's
        own rights (record rules), newest class first."""
        partner = self.env.user.partner_id
        return self.env["multipas.cardholder"].search(
            [("guardian_ids", "in", partner.id), ("state", "=", "enrolled")],
            order="class_id desc, name",
        )

    @api.model
    def _multipas_guardian_check(self, holders, act=False):
        """Raise unless the current user is a guardian of every one of these
        enrolled children; with ``act``, also unless they may act for them.

        Record rules decide first (``check_access``); the explicit guardian
        and status test then keeps out staff, children who left and anyone
        a future rule might let through. Callers sudo() only after this.
        """
        holders = holders.with_env(self.env).exists()
        if not holders:
            raise MissingError(self.env._("This child is not in your cabinet."))
        holders.check_access("read")
        partner = self.env.user.partner_id
        for holder in holders:
            if partner not in holder.guardian_ids or holder.state != "enrolled":
                raise AccessError(self.env._("This child is not in your cabinet."))
        if act and partner.multipas_view_only:
            raise AccessError(
                self.env._(
                    "Your access to the cabinet is view only: ask the operator or the "
                    "other guardian to make this change."
                )
            )
        return holders

    # === NOTIFICATIONS === #

    def _multipas_notification_channels(self):
        """The channels to use for this guardian now: the chosen ones, or
        the default ones while they never chose; SMS only if available."""
        self.ensure_one()
        Channel = self.env["multipas.notification.channel"].sudo()
        channels = (
            self.sudo().multipas_notify_channel_ids
            if self.multipas_notify_configured
            else Channel.search([("default_on", "=", True)])
        )
        return channels.filtered("available")

    def _multipas_is_quiet_time(self, when=None):
        """True when ``when`` (naive UTC, default now) falls within the
        guardian's quiet hours, counted in their timezone."""
        self.ensure_one()
        start, end = self.multipas_quiet_from, self.multipas_quiet_to
        if start == end:
            return False
        tz = pytz.timezone(self.tz or self.env.user.tz or "UTC")
        local = pytz.utc.localize(when or fields.Datetime.now()).astimezone(tz)
        hour = local.hour + local.minute / 60
        if start < end:
            return start <= hour < end
        return hour >= start or hour < end  # over midnight, e.g. 21:00-08:00

    def _multipas_portal_set_preferences(self, channel_codes, quiet_from, quiet_to):
        """Save the current guardian's own notification preferences.

        :param channel_codes: codes of the chosen channels ("email", ...)
        :param quiet_from: start of the quiet hours as "HH:MM"
        :param quiet_to: end of the quiet hours as "HH:MM"
        """
        self.ensure_one()
        self._multipas_check_self()
        Channel = self.env["multipas.notification.channel"].sudo()
        codes = set(channel_codes or [])
        channels = Channel.search([("code", "in", list(codes))])
        if len(channels) != len(codes):
            raise UserError(self.env._("Unknown notification channel."))
        unavailable = channels.filtered(lambda c: not c.available)
        if unavailable:
            raise UserError(
                self.env._(
                    "%(channel)s notifications are not available yet.",
                    channel=unavailable[0].name,
                )
            )
        self.sudo().write(
            {
                "multipas_notify_channel_ids": [fields.Command.set(channels.ids)],
                "multipas_notify_configured": True,
                "multipas_quiet_from": self._multipas_parse_time(quiet_from),
                "multipas_quiet_to": self._multipas_parse_time(quiet_to),
            }
        )

    @api.model
    def _multipas_parse_time(self, value):
        """ "21:30" -> 21.5; anything else is refused."""
        try:
            parsed = datetime.strptime((value or "").strip(), "%H:%M").time()
        except ValueError:
            raise UserError(
                self.env._("Give the quiet hours as a time of day, e.g. 21:00.")
            ) from None
        return parsed.hour + parsed.minute / 60

    @api.model
    def _multipas_format_time(self, value):
        hours = int(value)
        minutes = round((value - hours) * 60)
        if minutes == 60:
            hours, minutes = hours + 1, 0
        return time(hours % 24, minutes).strftime("%H:%M")

    # === CONSENT === #

    def _multipas_check_self(self):
        """Guardians change only their own record."""
        if self != self.env.user.partner_id:
            raise AccessError(self.env._("You can change only your own preferences."))

    def _multipas_withdraw_consent(self):
        """The guardian withdraws their personal data consent (152-FZ art. 9).

        Nothing is erased here: the date is recorded and the operator's
        managers get an activity to run the withdrawal (end the contract,
        close the accounts, erase the data). Returns False when it was
        already withdrawn.
        """
        self.ensure_one()
        self._multipas_check_self()
        partner = self.sudo()
        if partner.multipas_consent_withdrawn_date:
            return False
        partner.multipas_consent_withdrawn_date = fields.Datetime.now()
        partner.message_post(
            body=self.env._("The guardian withdrew the personal data consent in the cabinet.")
        )
        manager = operator_manager(self.env)
        children = ", ".join(partner.multipas_child_ids.mapped("display_name"))
        partner = in_language_of(manager, partner)
        partner.activity_schedule(
            "multipas_cards.mail_activity_consent_withdrawn",
            user_id=manager.id,
            note=partner.env._(
                "%(guardian)s withdrew the personal data consent in the cabinet. "
                "Children: %(children)s.",
                guardian=partner.name,
                children=children or "-",
            ),
        )
        return True
