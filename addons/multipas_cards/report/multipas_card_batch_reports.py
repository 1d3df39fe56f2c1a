from odoo import api, models


class _CheckedReport(models.AbstractModel):
    """A QWeb report whose documents the printing user must be able to read:
    refused with a plain AccessError before anything is rendered."""

    _name = "multipas.report.checked"
    _description = "Multipas report with an access check"
    _report_model = None

    @api.model
    def _get_report_values(self, docids, data=None):
        docs = self.env[self._report_model].browse(docids)
        docs.check_access("read")
        return {"doc_ids": docids, "doc_model": self._report_model, "docs": docs}


class ReportCardBatchAct(models.AbstractModel):
    _name = "report.multipas_cards.report_card_batch_act"
    _inherit = "multipas.report.checked"
    _description = "Card transfer act"
    _report_model = "multipas.card.batch"


class ReportCardBatchIssuance(models.AbstractModel):
    _name = "report.multipas_cards.report_card_batch_issuance"
    _inherit = "multipas.report.checked"
    _description = "Issuance sheets of a card batch"
    _report_model = "multipas.card.batch"


class ReportClassIssuance(models.AbstractModel):
    _name = "report.multipas_cards.report_class_issuance"
    _inherit = "multipas.report.checked"
    _description = "Card issuance sheet of a class"
    _report_model = "multipas.class"
