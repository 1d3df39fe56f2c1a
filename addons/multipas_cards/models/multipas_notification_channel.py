from odoo import api, fields, models


class MultipasNotificationChannel(models.Model):
    """A way to reach a guardian: email, messages in the cabinet, SMS.

    Guardians pick theirs in the cabinet; whoever sends a notification (low
    balance, meals, entries) asks the guardian for the channels to use.
    """

    _name = "multipas.notification.channel"
    _description = "Notification channel"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    code = fields.Selection(
        [("email", "Email"), ("portal", "Cabinet"), ("sms", "SMS")], required=True
    )
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    default_on = fields.Boolean(
        string="On by default",
        help="Used for guardians who never chose their channels.",
    )
    available = fields.Boolean(
        compute="_compute_available",
        help="SMS is available only once an SMS provider is configured.",
    )

    _sql_constraints = [
        ("code_uniq", "unique(code)", "Each notification channel is defined once."),
    ]

    @api.depends("code")
    def _compute_available(self):
        sms = self._multipas_sms_available()
        for channel in self:
            channel.available = sms if channel.code == "sms" else True

    @api.model
    def _multipas_sms_available(self):
        """SMS needs a provider the operator has set up (and pays for): Odoo's
        ``sms`` module through IAP or a gateway module plugged into it. The
        module alone is not enough (it comes with other modules), so the
        operator also names the provider in the system parameter
        ``multipas_cards.sms_provider``. Addons bringing their own gateway
        override this."""
        provider = self.env["ir.config_parameter"].sudo().get_param("multipas_cards.sms_provider")
        return bool(provider) and "sms.sms" in self.env
