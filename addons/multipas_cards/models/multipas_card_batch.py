from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from .multipas_card import normalize_uid

BATCH_STATES = [
    ("draft", "Draft"),
    ("encoded", "Encoded"),
    ("handed_over", "Handed over"),
    ("signed", "Signed"),
    ("cancel", "Cancelled"),
]


class MultipasCardBatch(models.Model):
    """Cards the operator produces for one school (regulation §3.5).

    The batch collects the cards to make (personal cards of cardholders with a
    personal-data consent, plus reserve cards, §3.6.3), receives their UIDs and
    printed numbers from the encoder, and is handed over to the school with a
    transfer act. Its cards stay ``new`` until both sides have signed the act;
    then they enter the school's stock.
    """

    _name = "multipas.card.batch"
    _description = "Card batch"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Batch number", required=True, readonly=True, copy=False, default="/", index=True
    )
    school_id = fields.Many2one(
        "multipas.school",
        required=True,
        ondelete="restrict",
        index=True,
        tracking=True,
        # Only an empty draft batch may still change its school (see write()).
    )
    company_id = fields.Many2one(related="school_id.company_id", store=True)
    state = fields.Selection(
        BATCH_STATES, required=True, default="draft", readonly=True, tracking=True, index=True
    )
    technology = fields.Selection(
        selection="_selection_technology",
        required=True,
        default="mifare_classic",
        help="The chip of the cards produced in this batch.",
    )
    card_ids = fields.One2many("multipas.card", "batch_id", string="Cards")
    card_count = fields.Integer(compute="_compute_counts", string="Cards in batch")
    personal_count = fields.Integer(compute="_compute_counts", string="Personal cards")
    reserve_count = fields.Integer(compute="_compute_counts", string="Reserve cards")
    missing_uid_count = fields.Integer(compute="_compute_counts", string="Cards without UID")
    scan_uid = fields.Char(
        string="Scan a card",
        store=False,
        help="Put the cursor here and hold the cards to the USB reader one by one: "
        "each UID goes to the next card of the list that has none.",
    )
    encoded_date = fields.Date(readonly=True, copy=False, tracking=True)
    act_date = fields.Date(
        string="Transfer act date",
        readonly=True,
        copy=False,
        tracking=True,
        help="The day the cards and the transfer act were handed over to the school.",
    )
    operator_signatory_name = fields.Char(
        string="Operator signatory",
        default=lambda self: self.env.user.name,
        tracking=True,
        help="Who signs the transfer act for the card operator.",
    )
    operator_signatory_position = fields.Char(string="Operator signatory position", tracking=True)
    operator_signed_date = fields.Date(readonly=True, copy=False, tracking=True)
    operator_signed_uid = fields.Many2one(
        "res.users", string="Operator signature recorded by", readonly=True, copy=False
    )
    school_signatory_name = fields.Char(
        string="School signatory",
        tracking=True,
        help="Who signs the transfer act for the school (the coordinator, by default).",
    )
    school_signatory_position = fields.Char(string="School signatory position", tracking=True)
    school_signed_date = fields.Date(readonly=True, copy=False, tracking=True)
    school_signed_uid = fields.Many2one(
        "res.users", string="School signature recorded by", readonly=True, copy=False
    )
    note = fields.Text()

    _sql_constraints = [
        ("name_uniq", "unique(name)", "Another card batch already has this number."),
    ]

    @api.model
    def _selection_technology(self):
        return self.env["multipas.card"]._fields["technology"].selection

    @api.depends("card_ids.holder_id", "card_ids.uid")
    def _compute_counts(self):
        for batch in self:
            cards = batch.card_ids
            batch.card_count = len(cards)
            batch.reserve_count = len(cards.filtered(lambda c: not c.holder_id))
            batch.personal_count = batch.card_count - batch.reserve_count
            batch.missing_uid_count = len(cards.filtered(lambda c: not c.uid))

    @api.onchange("school_id")
    def _onchange_school_id(self):
        coordinator = self.school_id.coordinator_ids[:1]
        if coordinator and not self.school_signatory_name:
            self.school_signatory_name = coordinator.name

    @api.onchange("scan_uid")
    def _onchange_scan_uid(self):
        """A USB reader types the UID and Enter: give it to the next card."""
        if not self.scan_uid:
            return None
        raw, self.scan_uid = self.scan_uid, False
        uid = normalize_uid(raw)
        if not uid:
            return self._scan_warning(
                self.env._(
                    "“%(uid)s” is not a card UID: expected 4 to 10 bytes in "
                    "hexadecimal, e.g. 04A22B1C.",
                    uid=raw,
                )
            )
        twin = self.card_ids.filtered(lambda c: c.uid == uid)
        if twin:
            return self._scan_warning(
                self.env._(
                    "UID %(uid)s is already in this batch (card %(card)s).",
                    uid=uid,
                    card=twin[0].number or twin[0].holder_id.name or self.env._("reserve"),
                )
            )
        other = (
            self.env["multipas.card"]
            .sudo()
            .search(
                [
                    ("uid", "=", uid),
                    ("state", "!=", "retired"),
                    ("id", "not in", self.card_ids._origin.ids),
                ],
                limit=1,
            )
        )
        if other:
            return self._scan_warning(
                self.env._(
                    "UID %(uid)s is already used by card %(number)s.",
                    uid=uid,
                    number=other.number,
                )
            )
        waiting = self.card_ids.filtered(lambda c: not c.uid)
        if not waiting:
            return self._scan_warning(self.env._("Every card of this batch already has a UID."))
        waiting.sorted(lambda c: c._origin.id or c.id.ref or 0)[:1].uid = uid
        return None

    def _scan_warning(self, message):
        return {"warning": {"title": self.env._("Card not taken"), "message": message}}

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                vals["name"] = self.env["ir.sequence"].next_by_code("multipas.card.batch") or "/"
            school = self.env["multipas.school"].browse(vals.get("school_id"))
            if school and not vals.get("school_signatory_name"):
                vals["school_signatory_name"] = school.coordinator_ids[:1].name or False
        return super().create(vals_list)

    def write(self, vals):
        if "school_id" in vals and any(batch.state != "draft" or batch.card_ids for batch in self):
            raise UserError(self.env._("Only an empty draft batch can move to another school."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_only_cancelled(self):
        for batch in self:
            if batch.state not in ("draft", "cancel") or batch.card_ids:
                raise UserError(
                    self.env._(
                        "Batch %(name)s holds cards: cancel it instead of deleting it.",
                        name=batch.name,
                    )
                )

    # === HELPERS === #

    def _state_label(self, state=None):
        return dict(self._fields["state"]._description_selection(self.env))[state or self.state]

    def _check_state(self, allowed, action):
        for batch in self:
            if batch.state not in allowed:
                raise UserError(
                    self.env._(
                        "Batch %(name)s is %(state)s: you can't %(action)s it.",
                        name=batch.name,
                        state=batch._state_label(),
                        action=action,
                    )
                )

    def _ordered_cards(self):
        """The cards in the order they were added: the encoder's order, the
        act's order and the import's order for cards without a number."""
        self.ensure_one()
        return self.card_ids.sorted("id")

    def _act_lang(self):
        """The language the transfer act is printed in (see the school's)."""
        self.ensure_one()
        return self.school_id._multipas_document_lang()

    def _check_consent(self, holders):
        """Refuse, with their names, the cardholders whose personal data we may
        not process: no card is produced without a consent (152-FZ)."""
        missing = holders.filtered(lambda h: not h._multipas_has_consent())
        if missing:
            raise UserError(
                self.env._(
                    "No card can be produced without a personal-data consent. "
                    "Missing for: %(names)s.",
                    names=", ".join(missing.mapped("display_name")),
                )
            )

    def _check_holders_free(self, holders):
        """One card in the making or in use per person at a time."""
        self.ensure_one()
        wrong_school = holders.filtered(lambda h: h.school_id != self.school_id)
        if wrong_school:
            raise UserError(
                self.env._(
                    "%(names)s are not at %(school)s.",
                    names=", ".join(wrong_school.mapped("display_name")),
                    school=self.school_id.name,
                )
            )
        left = holders.filtered(lambda h: h.state != "enrolled")
        if left:
            raise UserError(
                self.env._(
                    "%(names)s have left the school: no card is made for them.",
                    names=", ".join(left.mapped("display_name")),
                )
            )
        busy = holders._multipas_busy_card_holders()
        if busy:
            raise UserError(
                self.env._(
                    "%(names)s already have a card in use or in the making.",
                    names=", ".join(busy.mapped("display_name")),
                )
            )

    def _add_cards(self, holders, reserve_count=0, first_number=None):
        """Add a personal card for each of ``holders`` and ``reserve_count``
        reserve cards to this draft batch; numbered from ``first_number`` when
        given, else numbered later by the encoder's file or by hand."""
        self.ensure_one()
        self._check_state(("draft",), self.env._("add cards to"))
        if reserve_count < 0:
            raise UserError(self.env._("The number of reserve cards can't be negative."))
        if not holders and not reserve_count:
            raise UserError(self.env._("Choose cardholders or a number of reserve cards."))
        self._check_holders_free(holders)
        self._check_consent(holders)
        holders = holders.sorted(
            lambda h: (h.kind, h.class_id.grade, h.class_id.letter or "", h.name or "")
        )
        owners = list(holders) + [self.env["multipas.cardholder"]] * reserve_count
        numbers = self._number_range(first_number, len(owners))
        cards = self.env["multipas.card"].create(
            [
                {
                    "batch_id": self.id,
                    "school_id": self.school_id.id,
                    "holder_id": holder.id or False,
                    "technology": self.technology,
                    "number": number or False,
                }
                for holder, number in zip(owners, numbers, strict=True)
            ]
        )
        self.message_post(
            body=self.env._(
                "%(personal)s personal and %(reserve)s reserve cards added.",
                personal=len(holders),
                reserve=reserve_count,
            )
        )
        return cards

    def _number_range(self, first_number, count):
        """``count`` printed numbers counting up from ``first_number``
        ("108-000501" → "108-000502", …), or ``count`` blanks."""
        if not first_number:
            return [None] * count
        first_number = first_number.strip()
        digits = len(first_number) - len(first_number.rstrip("0123456789"))
        if not digits:
            raise UserError(
                self.env._(
                    "The first number must end with digits, e.g. 108-000501 (got %(number)s).",
                    number=first_number,
                )
            )
        prefix, start = first_number[:-digits], int(first_number[-digits:])
        numbers = [f"{prefix}{start + n:0{digits}d}" for n in range(count)]
        taken = self.env["multipas.card"].sudo().search([("number", "in", numbers)], limit=1)
        if taken:
            raise UserError(
                self.env._(
                    "Card number %(number)s is already taken: start the numbering elsewhere.",
                    number=taken.number,
                )
            )
        return numbers

    def _check_operator(self):
        if not self.env.user.has_group("multipas_cards.group_operator_clerk"):
            raise AccessError(self.env._("Only the card operator's staff can do this."))

    # === TRANSITIONS === #

    def action_mark_encoded(self):
        """Every card of the batch has its UID and printed number: produced."""
        self._check_state(("draft",), self.env._("mark encoded"))
        for batch in self:
            if not batch.card_ids:
                raise UserError(
                    self.env._("Batch %(name)s has no card to encode.", name=batch.name)
                )
            incomplete = batch._ordered_cards().filtered(lambda c: not c.uid or not c.number)
            if incomplete:
                raise UserError(
                    self.env._(
                        "Batch %(name)s: %(count)s cards have no UID or no printed number "
                        "yet (%(cards)s). Scan them or import the encoder's file.",
                        name=batch.name,
                        count=len(incomplete),
                        cards=", ".join(
                            c.number or c.holder_id.name or self.env._("reserve")
                            for c in incomplete[:10]
                        ),
                    )
                )
            holders = batch.card_ids.holder_id
            batch._check_consent(holders)
            left = holders.filtered(lambda h: h.state != "enrolled")
            if left:
                raise UserError(
                    self.env._(
                        "%(names)s have left the school: remove their cards from the batch.",
                        names=", ".join(left.mapped("display_name")),
                    )
                )
        self.write({"state": "encoded", "encoded_date": fields.Date.context_today(self)})
        return True

    def action_back_to_draft(self):
        """An encoded batch goes back to draft to fix a card before hand-over."""
        self._check_state(("encoded",), self.env._("send back to draft"))
        self.write({"state": "draft", "encoded_date": False})
        return True

    def action_hand_over(self):
        """Hand the cards over to the school: the transfer act is printed."""
        self._check_state(("encoded",), self.env._("hand over"))
        self.write({"state": "handed_over", "act_date": fields.Date.context_today(self)})
        return self.action_print_act()

    def action_print_act(self):
        """Print the transfer act again (for a handed-over or signed batch)."""
        self._check_state(("handed_over", "signed"), self.env._("print the transfer act of"))
        return self.env.ref("multipas_cards.action_report_card_batch_act").report_action(self)

    def action_print_issuance_sheets(self):
        self._check_state(
            ("encoded", "handed_over", "signed"), self.env._("print the issuance sheets of")
        )
        return self.env.ref("multipas_cards.action_report_card_batch_issuance").report_action(self)

    def _can_sign_for_school(self):
        """Operator staff record the school's signature from the paper act; the
        school's own coordinators sign it themselves."""
        self.ensure_one()
        user = self.env.user
        if user.has_group("multipas_cards.group_operator_clerk"):
            return True
        return user.has_group("multipas_cards.group_school_coordinator") and (
            user in self.school_id.sudo().user_ids
        )

    def action_sign(self, side, signatory_name=None, signatory_position=None, date=None):
        """Record one side's signature of the transfer act (``side`` is
        "operator" or "school"). Once both sides have signed, the cards enter
        the school's stock: personal ones still bound to their holder, reserve
        ones free."""
        self.ensure_one()
        self.check_access("read")
        self._check_state(("handed_over",), self.env._("sign"))
        if side == "operator":
            self._check_operator()
        elif side == "school":
            if not self._can_sign_for_school():
                raise AccessError(
                    self.env._(
                        "Only a coordinator of %(school)s or the card operator's staff "
                        "can record the school's signature.",
                        school=self.school_id.name,
                    )
                )
        else:
            raise UserError(self.env._("Unknown side of the act: %(side)s", side=side))
        if self[f"{side}_signed_date"]:
            raise UserError(
                self.env._(
                    "This side has already signed the act of batch %(name)s.", name=self.name
                )
            )
        date = date or fields.Date.context_today(self)
        if date < self.act_date:
            raise UserError(
                self.env._(
                    "The act can't be signed before it was handed over (%(date)s).",
                    date=self.act_date,
                )
            )
        if date > fields.Date.context_today(self):
            raise UserError(self.env._("The signature date can't be in the future."))
        vals = {
            f"{side}_signed_date": date,
            f"{side}_signed_uid": self.env.uid,
        }
        if signatory_name:
            vals[f"{side}_signatory_name"] = signatory_name
        if signatory_position:
            vals[f"{side}_signatory_position"] = signatory_position
        if not (signatory_name or self[f"{side}_signatory_name"]):
            raise UserError(self.env._("Who signed the act? Enter the signatory's name."))
        # The coordinator has no write right on batches and cards of other
        # steps: the checks above are the gate for this one step.
        batch = self.sudo()
        batch.write(vals)
        if batch.operator_signed_date and batch.school_signed_date:
            batch.state = "signed"
            batch._ordered_cards().action_to_stock()
            batch.message_post(
                body=self.env._(
                    "Transfer act signed by both sides: %(count)s cards are in the school's stock.",
                    count=len(batch.card_ids),
                )
            )
        return True

    def action_open_sign_wizard(self):
        self.ensure_one()
        side = self.env.context.get("multipas_sign_side", "operator")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Record a signature of the transfer act"),
            "res_model": "multipas.card.batch.sign.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_batch_id": self.id, "default_side": side},
        }

    def action_cancel(self):
        """Drop a draft batch: nothing was produced, its planned cards go."""
        self._check_state(("draft",), self.env._("cancel"))
        self._check_operator()
        for batch in self:
            count = len(batch.card_ids)
            batch.card_ids.sudo().unlink()
            batch.message_post(
                body=self.env._("Batch cancelled; %(count)s planned cards removed.", count=count)
            )
        self.write({"state": "cancel"})
        return True

    def action_open_add_wizard(self):
        self.ensure_one()
        self._check_state(("draft",), self.env._("add cards to"))
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Add cardholders"),
            "res_model": "multipas.card.batch.add.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_batch_id": self.id},
        }

    def action_open_import_wizard(self):
        self.ensure_one()
        self._check_state(("draft",), self.env._("import UIDs into"))
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Import the encoder's file"),
            "res_model": "multipas.card.batch.import.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_batch_id": self.id},
        }

    def action_open_cards(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Cards of %(name)s", name=self.name),
            "res_model": "multipas.card",
            "view_mode": "list,form",
            "domain": [("batch_id", "=", self.id)],
            "context": {"create": False},
        }

    # === REPORTS === #

    def _issuance_groups(self):
        """(class, cards) pairs of the personal pupil cards of this batch, one
        issuance sheet each; staff cards come last under no class."""
        self.ensure_one()
        personal = self._ordered_cards().filtered("holder_id")
        classes = personal.holder_id.class_id.sorted(lambda c: (c.grade, c.letter))
        groups = [
            (
                cls,
                personal.filtered(lambda c, cls=cls: c.holder_id.class_id == cls).sorted(
                    lambda c: c.holder_id.name or ""
                ),
            )
            for cls in classes
        ]
        rest = personal.filtered(lambda c: not c.holder_id.class_id)
        if rest:
            groups.append((self.env["multipas.class"], rest.sorted(lambda c: c.holder_id.name)))
        return groups
