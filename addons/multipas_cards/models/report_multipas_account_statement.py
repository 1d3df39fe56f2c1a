from odoo import api, models
from odoo.exceptions import AccessError


class ReportMultipasAccountStatement(models.AbstractModel):
    """Monthly statement of a personal account (regulation §8.4), printed
    by staff from the account or downloaded by a guardian in the cabinet."""

    _name = "report.multipas_cards.report_account_statement"
    _description = "Personal account statement"

    @api.model
    def _get_report_values(self, docids, data=None):
        accounts = self.env["multipas.account"].browse(docids)
        user = self.env.user
        partner = None
        if user.share:
            # Guardians: their enrolled children only, whichever route they
            # come by (the cabinet or Odoo's generic /report URLs), and the
            # movements described as that guardian may read them.
            self.env["res.partner"].sudo(False)._multipas_guardian_check(accounts.sudo().holder_id)
            partner = user.partner_id
        elif not self.env.su:
            accounts.check_access("read")
        month = (data or {}).get("month")
        statements = []
        for account in accounts.sudo():
            statements.append(
                account._multipas_statement_values(
                    month or account._multipas_today().strftime("%Y-%m"), partner
                )
            )
        if not statements and user.share:
            raise AccessError(self.env._("This child is not in your cabinet."))
        return {
            "doc_ids": accounts.ids,
            "doc_model": "multipas.account",
            "docs": accounts.sudo(),
            "statements": statements,
        }
