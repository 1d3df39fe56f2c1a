from odoo import models


class MultipasSchool(models.Model):
    _inherit = "multipas.school"

    def _multipas_document_lang(self):
        """The language of the paper documents of this school (transfer acts,
        issuance sheets): Russian when it is installed, as the regulation's
        documents are; else the language of the school's coordinator or of
        the current user."""
        self.ensure_one()
        if self.env["res.lang"]._lang_get("ru_RU"):
            return "ru_RU"
        return self.sudo().coordinator_ids[:1].lang or self.env.lang or "en_US"

    def action_open_reserve_stock(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "multipas_cards.action_multipas_card_stock"
        )
        action["domain"] = [("school_id", "=", self.id), ("state", "=", "stock")]
        return action
