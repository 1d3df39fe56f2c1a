from odoo import models


class MultipasAccountEntry(models.Model):
    """How a ledger entry reads in the parents' cabinet and on statements."""

    _inherit = "multipas.account.entry"

    def _multipas_portal_describe(self, partner=None):
        """Describe entries for a guardian: {entry id: {"title", "detail",
        "mine", "lines"}}.

        ``partner`` is the guardian reading (None for the operator's staff,
        who see everything). A child may have several guardians: each sees
        every movement, so that the balances add up, but only their own
        top-ups carry details (payment reference, note); another guardian's
        top-up reads "Top-up" and nothing more.

        ``lines`` is a list of {"name", "quantity", "amount"} dicts, empty
        here: the canteen addon extends this method to list what a purchase
        bought (rendered by the template ``portal_movement_lines``).
        """
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        transactions = self._multipas_origin_transactions()
        result = {}
        for entry in self:
            info = {
                "title": kinds.get(entry.kind, entry.kind),
                "detail": entry.note or "",
                "mine": False,
                "lines": [],
            }
            if entry.kind == "topup":
                tx = transactions.get(entry.id)
                if tx:
                    info["mine"] = bool(partner) and tx.partner_id == partner
                    info["title"] = self.env._("Online top-up")
                    info["detail"] = f"{tx.provider_id.name} · {tx.reference}"
                else:
                    info["mine"] = bool(partner) and entry.sudo().user_id.partner_id == partner
                if partner and not info["mine"]:
                    info["title"] = kinds["topup"]
                    info["detail"] = ""
            result[entry.id] = info
        return result

    def _multipas_origin_transactions(self):
        """{entry id: payment.transaction} for entries posted by an online payment."""
        ids = {}
        for entry in self:
            model, _sep, res_id = (entry.origin or "").partition(",")
            if model == "payment.transaction" and res_id.isdigit():
                ids[entry.id] = int(res_id)
        if not ids:
            return {}
        txs = self.env["payment.transaction"].sudo().browse(set(ids.values())).exists()
        by_id = {tx.id: tx for tx in txs}
        return {entry_id: by_id[tx_id] for entry_id, tx_id in ids.items() if tx_id in by_id}
