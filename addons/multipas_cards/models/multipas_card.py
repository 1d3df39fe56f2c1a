import re

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

UID_SEPARATORS = re.compile(r"[\s:\-]")
UID_HEX = re.compile(r"^[0-9A-F]{8,20}$")

CARD_STATES = [
    ("new", "New"),
    ("stock", "In school stock"),
    ("issued", "Issued"),
    ("blocked", "Blocked"),
    ("retired", "Retired"),
]
# Which state may follow which: anything else is refused.
CARD_TRANSITIONS = {
    "new": {"stock", "retired"},
    "stock": {"issued", "blocked", "retired"},
    "issued": {"blocked", "retired"},
    "blocked": {"retired"},
    "retired": set(),
}
BLOCK_REASONS = [
    ("lost", "Lost"),
    ("damaged", "Damaged"),
    ("stolen", "Stolen"),
    ("left", "Holder left"),
    ("other", "Other"),
]


def normalize_uid(raw):
    """Return a card UID as upper-case hex without separators, or None.

    Readers print UIDs as "04:a2:2b:1c", "04 A2 2B 1C" or "04a22b1c"; all of
    them name the same card.
    """
    if not raw or not isinstance(raw, str):
        return None
    uid = UID_SEPARATORS.sub("", raw).upper()
    return uid if UID_HEX.match(uid) and len(uid) % 2 == 0 else None


class MultipasCard(models.Model):
    """A contactless card. It only identifies its holder: money lives on the
    personal account, never on the card (regulation §8.5)."""

    _name = "multipas.card"
    _description = "Card"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _rec_name = "number"
    _check_company_auto = True

    number = fields.Char(
        string="Printed number",
        required=True,
        copy=False,
        tracking=True,
        help="The number printed on the card.",
    )
    uid = fields.Char(
        string="UID",
        required=True,
        copy=False,
        tracking=True,
        # The lookup on every tap uses this plain index: the ORM writes
        # "state != 'retired'" in a form the partial unique index can't serve.
        index=True,
        help="The chip's unique identifier as the reader reports it, in hexadecimal.",
    )
    technology = fields.Selection(
        [
            ("mifare_classic", "MIFARE Classic"),
            ("mifare_ultralight", "MIFARE Ultralight"),
            ("mifare_desfire", "MIFARE DESFire"),
            ("em_marine", "EM-Marine"),
            ("other", "Other"),
        ],
        required=True,
        default="mifare_classic",
    )
    state = fields.Selection(
        CARD_STATES, required=True, default="new", readonly=True, tracking=True, index=True
    )
    school_id = fields.Many2one(
        "multipas.school", required=True, ondelete="restrict", index=True, tracking=True
    )
    company_id = fields.Many2one(related="school_id.company_id", store=True)
    holder_id = fields.Many2one(
        "multipas.cardholder",
        index=True,
        tracking=True,
        ondelete="restrict",
        domain="[('school_id', '=', school_id)]",
        help="Empty for a reserve card waiting in the school's stock.",
    )
    class_id = fields.Many2one(related="holder_id.class_id", string="Class")
    is_reserve = fields.Boolean(
        compute="_compute_is_reserve",
        store=True,
        string="Reserve",
        help="A card without a holder, kept by the school for replacements.",
    )
    issued_date = fields.Datetime(readonly=True, copy=False)
    blocked_date = fields.Datetime(readonly=True, copy=False)
    block_reason = fields.Selection(BLOCK_REASONS, readonly=True, copy=False, tracking=True)
    block_note = fields.Char(readonly=True, copy=False)

    _sql_constraints = [
        ("number_uniq", "unique(number)", "Another card already has this printed number."),
    ]

    def init(self):
        # A UID is unique among cards in use; a retired card's chip may be
        # re-encoded and come back. One issued card per holder at a time.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS multipas_card_uid_in_use_uniq "
                "ON multipas_card (uid) WHERE state != 'retired'"
            )
        )
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS multipas_card_one_issued_per_holder "
                "ON multipas_card (holder_id) WHERE state = 'issued'"
            )
        )

    @api.depends("holder_id")
    def _compute_is_reserve(self):
        for card in self:
            card.is_reserve = not card.holder_id

    @api.model
    def _normalize_vals(self, vals):
        if "uid" in vals:
            uid = normalize_uid(vals["uid"])
            if not uid:
                raise ValidationError(
                    self.env._(
                        "“%(uid)s” is not a card UID: expected 4 to 10 bytes in "
                        "hexadecimal, e.g. 04A22B1C.",
                        uid=vals["uid"],
                    )
                )
            vals["uid"] = uid
        if vals.get("number"):
            vals["number"] = vals["number"].strip()
        return vals

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._normalize_vals(vals)
            if vals.get("state", "new") not in ("new", "stock"):
                raise UserError(
                    self.env._("A new card starts as new or in stock; issue it afterwards.")
                )
        self.browse()._check_uid_free([vals["uid"] for vals in vals_list if vals.get("uid")])
        return super().create(vals_list)

    def write(self, vals):
        self._normalize_vals(vals)
        if vals.get("uid"):
            if len(self) > 1:
                raise UserError(self.env._("Each card has its own UID: edit them one by one."))
            self._check_uid_free([vals["uid"]])
        if "holder_id" in vals:
            for card in self:
                if card.state not in ("new", "stock") and card.holder_id.id != vals["holder_id"]:
                    raise UserError(
                        self.env._(
                            "Card %(number)s is %(state)s: its holder can't change.",
                            number=card.number,
                            state=card._state_label(),
                        )
                    )
        result = super().write(vals)
        if "school_id" in vals and not self.env.su:
            # Rules are checked on the records before the write: check again
            # so nobody moves a card into a school they don't serve.
            self.check_access("write")
        return result

    def _check_uid_free(self, uids):
        """Refuse UIDs already used by a card in use (checked before writing,
        so the user reads a sentence instead of an index violation)."""
        seen = set()
        for uid in uids:
            if uid in seen:
                raise ValidationError(self.env._("UID %(uid)s appears twice.", uid=uid))
            seen.add(uid)
        if not seen:
            return
        other = self.sudo().search(
            [("uid", "in", list(seen)), ("state", "!=", "retired"), ("id", "not in", self.ids)],
            limit=1,
        )
        if other:
            raise ValidationError(
                self.env._(
                    "UID %(uid)s is already used by card %(number)s.",
                    uid=other.uid,
                    number=other.number,
                )
            )

    @api.constrains("holder_id", "school_id")
    def _check_holder_school(self):
        for card in self:
            if card.holder_id and card.holder_id.school_id != card.school_id:
                raise ValidationError(
                    self.env._(
                        "Card %(number)s belongs to %(school)s, but %(holder)s studies "
                        "or works at another school.",
                        number=card.number,
                        school=card.school_id.name,
                        holder=card.holder_id.name,
                    )
                )

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _set_state(self, new_state, **vals):
        for card in self:
            if new_state not in CARD_TRANSITIONS[card.state]:
                raise UserError(
                    self.env._(
                        "Card %(number)s is %(state)s and can't become %(new)s.",
                        number=card.number,
                        state=card._state_label(),
                        new=dict(self._fields["state"]._description_selection(self.env))[new_state],
                    )
                )
        self.write(dict(vals, state=new_state))

    # === ACTIONS === #

    def action_to_stock(self):
        """Cards handed over to the school go into its stock."""
        self._set_state("stock")
        self.school_id._check_reserve_levels()

    def action_issue(self):
        """Hand a card over to its holder (regulation §3.6.1)."""
        for card in self:
            if not card.holder_id:
                raise UserError(
                    self.env._(
                        "Card %(number)s has no holder: choose who receives it first.",
                        number=card.number,
                    )
                )
            if card.holder_id.state != "enrolled":
                raise UserError(
                    self.env._(
                        "%(holder)s has left the school: no card can be issued.",
                        holder=card.holder_id.name,
                    )
                )
            # A search, not the cached one2many: it sees pending writes.
            current = self.sudo().search(
                [
                    ("holder_id", "=", card.holder_id.id),
                    ("state", "=", "issued"),
                    ("id", "!=", card.id),
                ],
                limit=1,
            )
            if current:
                raise UserError(
                    self.env._(
                        "%(holder)s already holds card %(number)s: block it first.",
                        holder=card.holder_id.name,
                        number=current[0].number,
                    )
                )
        self._set_state("issued", issued_date=fields.Datetime.now())
        self.school_id._check_reserve_levels()

    def action_block(self, reason="other", note=None):
        """Block a card at once: taps with it are refused from now on."""
        # The field, not the constant: other files may add reasons (selection_add).
        if reason not in dict(self._fields["block_reason"].selection):
            raise UserError(self.env._("Unknown block reason: %(reason)s", reason=reason))
        self._set_state(
            "blocked",
            blocked_date=fields.Datetime.now(),
            block_reason=reason,
            block_note=note or False,
        )

    def action_retire(self):
        """Take a card out of circulation for good; its UID becomes free."""
        self._set_state("retired")

    def action_open_block_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Block card"),
            "res_model": "multipas.card.block.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_card_id": self.id},
        }

    # === LOOKUP === #

    @api.model
    def _find_by_uid(self, raw_uid):
        """Return the card in use with this UID (any state but retired), or an
        empty recordset. One index lookup, whatever the size of the history."""
        uid = normalize_uid(raw_uid)
        if not uid:
            return self.browse()
        return self.search([("uid", "=", uid), ("state", "!=", "retired")], limit=1)
