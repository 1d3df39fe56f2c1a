from odoo import fields, models


class MultipasDeviceKeyWizard(models.TransientModel):
    """Shows a freshly generated device key once. Never saved: the key comes
    in the action's context and the dialog only has a Close button."""

    _name = "multipas.device.key.wizard"
    _description = "Device key"

    device_id = fields.Many2one("multipas.device", required=True, readonly=True)
    key = fields.Char(readonly=True)
