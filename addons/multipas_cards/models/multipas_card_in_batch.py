from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

# While a batch is in these states its cards are frozen: the encoder has them
# (encoded) or the transfer act lists them (handed over).
FROZEN_BATCH_STATES = ("encoded", "handed_over")
FROZEN_CARD_FIELDS = {"uid", "number", "holder_id", "school_id", "technology", "batch_id"}


class MultipasCard(models.Model):
    """Cards produced in a card batch (regulation §3.5): a card planned in a
    draft batch has no UID or printed number yet; it gets them from the
    encoder, and enters the school's stock only when the transfer act is
    signed by both sides."""

    _inherit = "multipas.card"

    # A card planned in a draft batch is not encoded yet: both come later
    # (_check_batch_identity says when they must be there).
    number = fields.Char(required=False)
    uid = fields.Char(required=False)
    batch_id = fields.Many2one(
        "multipas.card.batch",
        string="Card batch",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
        tracking=True,
        help="The production batch this card was made in (regulation §3.5).",
    )
    batch_state = fields.Selection(related="batch_id.state", string="Batch status")

    @api.model
    def _normalize_vals(self, vals):
        # Clearing the UID of a planned card is allowed (a wrong scan).
        if "uid" in vals and not vals["uid"]:
            vals["uid"] = False
            rest = super()._normalize_vals({k: v for k, v in vals.items() if k != "uid"})
            vals.update(rest)
            return vals
        return super()._normalize_vals(vals)

    @api.constrains("uid", "number", "state", "batch_id")
    def _check_batch_identity(self):
        for card in self:
            if card.uid and card.number:
                continue
            if card.state != "new" or card.batch_id.state != "draft":
                raise ValidationError(
                    self.env._(
                        "A card needs a UID and a printed number; only a card planned in a "
                        "draft card batch may wait for them (%(card)s).",
                        card=card.number or card.uid or card.holder_id.name or card.id,
                    )
                )

    @api.constrains("batch_id", "school_id")
    def _check_batch_school(self):
        for card in self:
            if card.batch_id and card.batch_id.school_id != card.school_id:
                raise ValidationError(
                    self.env._(
                        "Card %(card)s belongs to %(school)s, but batch %(batch)s is for "
                        "another school.",
                        card=card.display_name,
                        school=card.school_id.name,
                        batch=card.batch_id.name,
                    )
                )

    @api.depends("number", "holder_id")
    def _compute_display_name(self):
        for card in self:
            if card.number:
                card.display_name = card.number
            elif card.holder_id:
                card.display_name = self.env._(
                    "Card for %(holder)s (no number yet)", holder=card.holder_id.name
                )
            else:
                card.display_name = self.env._("Reserve card (no number yet)")

    @api.model_create_multi
    def create(self, vals_list):
        batches = self.env["multipas.card.batch"].browse(
            {vals["batch_id"] for vals in vals_list if vals.get("batch_id")}
        )
        for batch in batches:
            if batch.state != "draft":
                raise UserError(
                    self.env._(
                        "Batch %(name)s is %(state)s: no card can be added to it.",
                        name=batch.name,
                        state=batch._state_label(),
                    )
                )
        for vals in vals_list:
            if vals.get("batch_id") and vals.get("state", "new") != "new":
                raise UserError(self.env._("A card planned in a batch starts as new."))
        return super().create(vals_list)

    def write(self, vals):
        touched = FROZEN_CARD_FIELDS & vals.keys()
        if touched:
            frozen = self.filtered(lambda c: c.batch_id.state in FROZEN_BATCH_STATES)
            if frozen:
                raise UserError(
                    self.env._(
                        "Card %(card)s is in batch %(batch)s, which is %(state)s: send the "
                        "batch back to draft before changing its cards.",
                        card=frozen[0].display_name,
                        batch=frozen[0].batch_id.name,
                        state=frozen[0].batch_id._state_label(),
                    )
                )
        if vals.get("batch_id"):
            batch = self.env["multipas.card.batch"].browse(vals["batch_id"])
            if batch.state != "draft" or any(card.state != "new" for card in self):
                raise UserError(
                    self.env._("Only a new card can join a batch, and only a draft one.")
                )
        return super().write(vals)

    def _set_state(self, new_state, **vals):
        # Until both sides sign the act the cards are the operator's: they
        # neither enter the school's stock nor leave circulation on their own.
        pending = self.filtered(lambda c: c.batch_id and c.batch_id.state != "signed")
        if pending:
            raise UserError(
                self.env._(
                    "Card %(card)s waits in batch %(batch)s (%(state)s): it changes "
                    "state only once both sides have signed the transfer act.",
                    card=pending[0].display_name,
                    batch=pending[0].batch_id.name,
                    state=pending[0].batch_id._state_label(),
                )
            )
        return super()._set_state(new_state, **vals)

    def action_remove_from_batch(self):
        """Take a planned card out of a draft batch: it was never produced."""
        for card in self:
            if not card.batch_id or card.batch_id.state != "draft" or card.state != "new":
                raise UserError(
                    self.env._(
                        "Only a card planned in a draft batch can be removed (%(card)s).",
                        card=card.display_name,
                    )
                )
        self.batch_id._check_operator()
        for batch in self.batch_id:
            cards = self.filtered(lambda c, batch=batch: c.batch_id == batch)
            batch.message_post(
                body=self.env._(
                    "Removed from the batch: %(cards)s.",
                    cards=", ".join(cards.mapped("display_name")),
                )
            )
        self.sudo().unlink()
        return True
