from odoo import api, fields, models


class MultipasCardBatchSignWizard(models.TransientModel):
    """Record one side's signature of a batch's transfer act: who signed, in
    which position, on which day (the paper act carries the same)."""

    _name = "multipas.card.batch.sign.wizard"
    _description = "Record a signature of a transfer act"

    batch_id = fields.Many2one("multipas.card.batch", required=True, readonly=True)
    side = fields.Selection(
        [("operator", "Card operator"), ("school", "School")],
        required=True,
        readonly=True,
        default="operator",
    )
    signatory_name = fields.Char(string="Signed by", required=True)
    signatory_position = fields.Char(string="Position")
    date = fields.Date(string="Signed on", required=True, default=fields.Date.context_today)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        batch = self.env["multipas.card.batch"].browse(values.get("batch_id"))
        side = values.get("side") or "operator"
        if batch and side in ("operator", "school"):
            values.setdefault("signatory_name", batch[f"{side}_signatory_name"])
            values.setdefault("signatory_position", batch[f"{side}_signatory_position"])
        return values

    def action_confirm(self):
        self.ensure_one()
        self.batch_id.action_sign(
            self.side,
            signatory_name=self.signatory_name,
            signatory_position=self.signatory_position,
            date=self.date,
        )
        return {"type": "ir.actions.act_window_close"}
