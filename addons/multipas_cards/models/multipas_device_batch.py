from odoo import fields, models


class MultipasDeviceBatch(models.Model):
    """A batch of events a device delivered, kept so that a batch sent again
    (the box did not hear the answer) is recognised as a whole: 409."""

    _name = "multipas.device.batch"
    _description = "Device event batch"
    _order = "received_at desc, id desc"
    _rec_name = "uuid"

    uuid = fields.Char(string="UUID", required=True, readonly=True)
    device_id = fields.Many2one(
        "multipas.device", required=True, readonly=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    received_at = fields.Datetime(string="Received", required=True, readonly=True)
    event_count = fields.Integer(string="Events", readonly=True)
    accepted_count = fields.Integer(
        string="Accepted", readonly=True, help="Events stored by this batch (not duplicates)."
    )

    _sql_constraints = [
        (
            "device_uuid_uniq",
            "unique(device_id, uuid)",
            "This device already delivered a batch with this UUID.",
        ),
    ]
