from odoo import models

# Cards in these states are "in use or in the making" for their holder: a
# person gets no second card while one of them exists.
BUSY_CARD_STATES = ("new", "stock", "issued")


class MultipasCardholder(models.Model):
    # _multipas_has_consent() lives with the registration forms, which record
    # the consent (models/multipas_registration_form.py).
    _inherit = "multipas.cardholder"

    def _multipas_busy_card_holders(self):
        """The cardholders among these who already have a card in use or in
        the making (a planned card of a batch counts too)."""
        if not self:
            return self
        groups = (
            self.env["multipas.card"]
            .sudo()
            ._read_group(
                [("holder_id", "in", self.ids), ("state", "in", BUSY_CARD_STATES)],
                ["holder_id"],
            )
        )
        busy_ids = {holder.id for (holder,) in groups}
        return self.filtered(lambda h: h.id in busy_ids)
