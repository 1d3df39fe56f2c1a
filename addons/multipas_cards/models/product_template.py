from odoo import fields, models


class ProductTemplate(models.Model):
    """Tariffs (regulation §1.3.10, §1.5): the operator's paid services are
    products with a price; the basic package stays free."""

    _inherit = "product.template"

    multipas_service = fields.Selection(
        [("card_reissue", "Card reissue")],
        string="Multipas service",
        copy=False,
        help="Which Multipas service this product prices. The fee is posted "
        "on the personal account when the service is delivered.",
    )

    _sql_constraints = [
        (
            "multipas_service_uniq",
            "unique(multipas_service, company_id)",
            "Each Multipas service has one tariff per company.",
        ),
    ]

    def _multipas_price(self, service, company):
        """The current price of a Multipas service, 0.0 when it has no tariff."""
        product = self.sudo().search(
            [
                ("multipas_service", "=", service),
                ("company_id", "in", (False, company.id)),
            ],
            order="company_id",
            limit=1,
        )
        return product.list_price if product else 0.0
