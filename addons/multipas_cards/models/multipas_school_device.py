from odoo import fields, models


class MultipasSchool(models.Model):
    _inherit = "multipas.school"

    # The record rules of the devices' technical users go through it.
    device_ids = fields.One2many("multipas.device", "school_id", string="Devices")
