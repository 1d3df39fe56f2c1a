from odoo import api, fields, models


class MultipasCardReissueWizard(models.TransientModel):
    """Opened for a child with an open request from the cabinet, the wizard
    takes the request's reason and report time and, when done, turns that
    request into the reissue instead of creating a second record."""

    _inherit = "multipas.card.reissue.wizard"

    request_id = fields.Many2one(
        "multipas.card.reissue",
        string="Guardian's request",
        readonly=True,
        help="The new card a guardian asked for in the cabinet.",
    )
    requested_by_id = fields.Many2one(related="request_id.requested_by_id")

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        holder_id = values.get("holder_id")
        if holder_id and "request_id" in fields_list and not values.get("request_id"):
            request = self.env["multipas.card.reissue"].search(
                [("holder_id", "=", holder_id), ("state", "=", "requested")], limit=1
            )
            if request:
                values.update(
                    request_id=request.id,
                    reason=request.reason,
                    requested_at=request.requested_at,
                )
                if request.old_card_id and not values.get("old_card_id"):
                    values["old_card_id"] = request.old_card_id.id
        return values

    def action_reissue(self):
        self.ensure_one()
        if not self.request_id:
            return super().action_reissue()
        return super(
            MultipasCardReissueWizard,
            self.with_context(multipas_reissue_request_id=self.request_id.id),
        ).action_reissue()
