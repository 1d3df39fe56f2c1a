from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError


class MultipasClassIssueWizard(models.TransientModel):
    """Issue to a whole class the personal cards waiting in the school's stock
    (regulation §3.6.1), after the pupils signed the issuance sheet. Each card
    is issued or skipped on its own; the wizard reports who was skipped and
    why."""

    _name = "multipas.class.issue.wizard"
    _description = "Issue cards to a class"

    class_id = fields.Many2one("multipas.class", required=True, readonly=True)
    state = fields.Selection([("draft", "Draft"), ("done", "Done")], default="draft")
    waiting_count = fields.Integer(
        compute="_compute_waiting_count", string="Cards waiting in stock"
    )
    issued_count = fields.Integer(readonly=True)
    skipped_count = fields.Integer(readonly=True)
    result = fields.Html(readonly=True, sanitize=False)

    @api.depends("class_id")
    def _compute_waiting_count(self):
        for wizard in self:
            wizard.waiting_count = len(wizard._waiting_cards())

    def _waiting_cards(self):
        return self.env["multipas.card"].search(
            [
                ("holder_id.class_id", "=", self.class_id.id),
                ("state", "=", "stock"),
            ]
        )

    def _issue(self):
        """Issue what can be issued; return (issued cards, [(pupil, reason)])."""
        self.ensure_one()
        self.class_id.check_access("read")
        Card = self.env["multipas.card"]
        pupils = self.class_id.with_context(active_test=False).cardholder_ids.sorted("name")
        waiting = self._waiting_cards()
        issued, skipped = Card, []
        for pupil in pupils:
            cards = waiting.filtered(lambda c, pupil=pupil: c.holder_id == pupil)
            if pupil.state != "enrolled":
                if cards:
                    skipped.append((pupil, self.env._("has left the school")))
                continue
            if not cards:
                current = pupil.card_id
                skipped.append(
                    (
                        pupil,
                        self.env._("already holds card %(number)s", number=current.number)
                        if current
                        else self.env._("no card of theirs is in the school's stock"),
                    )
                )
                continue
            card = cards.sorted("id")[:1]
            try:
                # One card at a time: a refusal leaves that card untouched and
                # the others go on.
                with self.env.cr.savepoint():
                    card.action_issue()
            except UserError as error:
                self.env.invalidate_all(flush=False)
                skipped.append((pupil, error.args[0]))
                continue
            issued |= card
        return issued, skipped

    def action_issue(self):
        self.ensure_one()
        if self.state == "done":
            raise UserError(self.env._("These cards have been issued already."))
        issued, skipped = self._issue()
        result = Markup("<p>%s</p>") % self.env._(
            "%(count)s cards issued to pupils of %(cls)s.",
            count=len(issued),
            cls=self.class_id.display_name,
        )
        if skipped:
            result += Markup("<p>%s</p><ul>") % self.env._("Skipped:")
            for pupil, reason in skipped:
                result += Markup("<li>%s — %s</li>") % (pupil.name, reason)
            result += Markup("</ul>")
        self.write(
            {
                "state": "done",
                "issued_count": len(issued),
                "skipped_count": len(skipped),
                "result": result,
            }
        )
        if issued:
            self.class_id.message_post(body=result)
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Issue cards to the class"),
        }
