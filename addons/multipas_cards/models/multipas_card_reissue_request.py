from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from .multipas_card_portal import schedule_reserve_card_activity

PORTAL_REISSUE_REASONS = ("lost", "stolen", "damaged")


class MultipasCardReissue(models.Model):
    """A reissue starts as a guardian's request in the cabinet and becomes
    done when the coordinator issues the reserve card with the reissue
    wizard (which then fills in this same record). Reissues made directly
    in the backend are created done, as before."""

    _inherit = "multipas.card.reissue"

    state = fields.Selection(
        [("requested", "Requested"), ("done", "Issued"), ("cancelled", "Cancelled")],
        required=True,
        default="done",
        readonly=True,
        tracking=True,
        index=True,
    )
    source = fields.Selection(
        [("backend", "School or operator"), ("portal", "Parents' cabinet")],
        required=True,
        default="backend",
        readonly=True,
    )
    requested_by_id = fields.Many2one(
        "res.partner",
        string="Requested by",
        readonly=True,
        ondelete="set null",
        help="The guardian who asked for the new card in the cabinet.",
    )
    # A request has no new card and no issue time yet.
    new_card_id = fields.Many2one(required=False)
    issued_at = fields.Datetime(required=False)

    def init(self):
        result = super().init()
        # One open request per child: a second click finds the first one.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS multipas_card_reissue_one_request "
                "ON multipas_card_reissue (holder_id) WHERE state = 'requested'"
            )
        )
        return result

    @api.constrains("state", "new_card_id", "issued_at")
    def _check_done_complete(self):
        for reissue in self:
            if reissue.state == "done" and not (reissue.new_card_id and reissue.issued_at):
                raise ValidationError(
                    self.env._("An issued reissue names the new card and when it was issued.")
                )

    @api.model_create_multi
    def create(self, vals_list):
        # The reissue wizard creates the done record; when it serves an open
        # request (context set by its extension), that request becomes it.
        request_id = self.env.context.get("multipas_reissue_request_id")
        if request_id and len(vals_list) == 1 and vals_list[0].get("new_card_id"):
            request = self.browse(request_id).exists()
            if (
                request
                and request.state == "requested"
                and request.holder_id.id == vals_list[0].get("holder_id")
            ):
                vals = {k: v for k, v in vals_list[0].items() if k != "requested_at"}
                request.write(dict(vals, state="done"))
                request._close_reserve_activities()
                return request
        reissues = super().create(vals_list)
        reissues.filtered(lambda r: r.state == "done")._close_reserve_activities()
        return reissues

    def _close_reserve_activities(self):
        for reissue in self:
            reissue.holder_id.sudo().activity_feedback(
                ["multipas_cards.mail_activity_issue_reserve_card"],
                feedback=self.env._(
                    "Reserve card %(number)s issued.", number=reissue.new_card_id.number
                ),
            )

    # === CABINET === #

    @api.model
    def _multipas_portal_request(self, holder, reason):
        """A guardian asks for a new card for their child (regulation §4.1.1,
        §8.5). A lost or stolen card still in use is blocked at once. The fee
        of the tariff is recorded as quoted and posted when the coordinator
        issues the card. Returns (request, created)."""
        holder = self.env["res.partner"]._multipas_guardian_check(holder, act=True)
        if reason not in PORTAL_REISSUE_REASONS:
            raise UserError(self.env._("Choose why a new card is needed."))
        existing = self.sudo().search(
            [("holder_id", "=", holder.id), ("state", "=", "requested")], limit=1
        )
        if existing:
            return existing.with_env(self.env), False
        holder_sudo = holder.sudo()
        in_use = holder_sudo.card_ids.filtered(lambda c: c.state == "issued")[:1]
        if in_use and reason in ("lost", "stolen"):
            in_use.with_env(self.env)._multipas_portal_block(reason)
        old = (
            in_use
            or holder_sudo.card_ids.filtered(lambda c: c.state == "blocked").sorted(
                "blocked_date", reverse=True
            )[:1]
        )
        guardian = self.env.user.partner_id
        fee = self.env["product.template"]._multipas_price("card_reissue", holder_sudo.company_id)
        request = self.sudo().create(
            {
                "state": "requested",
                "source": "portal",
                "holder_id": holder.id,
                "school_id": holder_sudo.school_id.id,
                "old_card_id": old.id,
                "reason": reason,
                "requested_at": fields.Datetime.now(),
                "requested_by_id": guardian.id,
                "fee": fee,
                "user_id": False,
            }
        )
        selection = self._fields["reason"]._description_selection
        schedule_reserve_card_activity(
            holder_sudo,
            lambda holder: holder.env._(
                "%(guardian)s asked for a new card for %(child)s in the cabinet "
                "(%(reason)s); quoted fee %(fee)s.",
                guardian=guardian.name,
                child=holder.name,
                reason=dict(selection(holder.env))[reason],
                fee=holder.account_id._fmt(fee),
            ),
        )
        return request.with_env(self.env), True

    # === SCHOOL === #

    def _check_request_handler(self):
        if not (
            self.env.su
            or self.env.user.has_group("multipas_cards.group_operator_clerk")
            or self.env.user.has_group("multipas_cards.group_school_coordinator")
        ):
            raise AccessError(
                self.env._("Only the school coordinator or the operator handles card requests.")
            )
        self.check_access("read")

    def action_open_reissue_wizard(self):
        """Issue the reserve card for this request with the reissue wizard."""
        self.ensure_one()
        self._check_request_handler()
        if self.state != "requested":
            raise UserError(self.env._("This request is already handled."))
        return self.holder_id.action_open_reissue_wizard()

    def action_cancel_request(self):
        """Close a request without a new card (e.g. the lost card was found)."""
        self._check_request_handler()
        for reissue in self:
            if reissue.state != "requested":
                raise UserError(self.env._("Only an open request can be cancelled."))
        self.sudo().write({"state": "cancelled"})
        for reissue in self:
            reissue.holder_id.sudo().activity_unlink(
                ["multipas_cards.mail_activity_issue_reserve_card"]
            )
        return True
