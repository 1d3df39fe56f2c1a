from odoo import models


class MultipasClass(models.Model):
    """Card issuance per class (regulation §3.6.1): the issuance sheet the
    pupils sign and the one-click issue of the cards waiting in stock."""

    _inherit = "multipas.class"

    def _issuance_cards(self):
        """The personal cards of this class's enrolled pupils that wait in the
        school's stock or were issued, by pupil name: one line each on the
        issuance sheet."""
        self.ensure_one()
        cards = self.env["multipas.card"].search(
            [
                ("holder_id.class_id", "=", self.id),
                ("holder_id.state", "=", "enrolled"),
                ("state", "in", ("stock", "issued")),
            ]
        )
        return cards.sorted(lambda c: (c.holder_id.name or "", c.id))

    def action_print_issuance_sheet(self):
        return self.env.ref("multipas_cards.action_report_class_issuance").report_action(self)

    def action_open_issue_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Issue cards to the class"),
            "res_model": "multipas.class.issue.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_class_id": self.id},
        }
