from odoo import fields, models

from ..models.multipas_registration_reissue import DATA_CHANGED


class MultipasCardReissueWizard(models.TransientModel):
    _inherit = "multipas.card.reissue.wizard"

    reason = fields.Selection(selection_add=DATA_CHANGED, ondelete={"data_changed": "cascade"})
