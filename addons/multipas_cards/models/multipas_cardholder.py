from odoo import api, fields, models
from odoo.exceptions import ValidationError


class MultipasCardholder(models.Model):
    """A pupil or staff member who holds a card (regulation §3.3.4).

    The person's contact data lives on a delegated ``res.partner`` so that POS
    orders, mail and the portal can point at it; record rules guard both.
    """

    _name = "multipas.cardholder"
    _description = "Cardholder"
    _inherits = {"res.partner": "partner_id"}
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "school_id, class_id, name"
    _check_company_auto = True

    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=True)
    last_name = fields.Char(required=True, tracking=True)
    first_name = fields.Char(required=True, tracking=True)
    patronymic = fields.Char(tracking=True)
    kind = fields.Selection(
        [("pupil", "Pupil"), ("staff", "Staff member")],
        required=True,
        default="pupil",
        tracking=True,
    )
    school_id = fields.Many2one(
        "multipas.school", required=True, ondelete="restrict", index=True, tracking=True
    )
    company_id = fields.Many2one(
        "res.company",
        related="school_id.company_id",
        store=True,
        readonly=True,
    )
    class_id = fields.Many2one(
        "multipas.class",
        index=True,
        tracking=True,
        domain="[('school_id', '=', school_id)]",
    )
    class_name = fields.Char(related="class_id.name", string="Class name")
    school_code = fields.Char(related="school_id.code", string="School code")
    birth_date = fields.Date(tracking=True)
    benefit_category_id = fields.Many2one(
        "multipas.benefit.category",
        string="Benefit category",
        tracking=True,
        help="Entitles the pupil to free or subsidised meals.",
    )
    allergies = fields.Text(help="Food allergies the cashier is shown when the pupil pays.")
    diet = fields.Text(string="Diet notes")
    state = fields.Selection(
        [("enrolled", "Enrolled"), ("left", "Left")],
        string="Status",
        required=True,
        default="enrolled",
        tracking=True,
    )
    guardian_ids = fields.Many2many(
        "res.partner",
        "multipas_cardholder_guardian_rel",
        "cardholder_id",
        "partner_id",
        string="Guardians",
        help="Parents or legal guardians (subscribers) who see this child in their cabinet.",
    )
    card_ids = fields.One2many("multipas.card", "holder_id", string="Cards")
    card_id = fields.Many2one(
        "multipas.card",
        compute="_compute_card_id",
        string="Current card",
        help="The card issued to this person now, if any.",
    )
    account_ids = fields.One2many("multipas.account", "holder_id")
    account_id = fields.Many2one(
        "multipas.account", compute="_compute_account_id", string="Personal account"
    )
    balance = fields.Monetary(compute="_compute_account_id")
    currency_id = fields.Many2one(related="school_id.currency_id")

    @api.depends("card_ids.state")
    def _compute_card_id(self):
        for holder in self:
            holder.card_id = holder.card_ids.filtered(lambda c: c.state == "issued")[:1]

    @api.depends("account_ids.balance")
    def _compute_account_id(self):
        for holder in self:
            holder.account_id = holder.account_ids[:1]
            holder.balance = holder.account_id.balance

    @api.model
    def _compose_name(self, last_name, first_name, patronymic):
        return " ".join(p.strip() for p in (last_name, first_name, patronymic) if p and p.strip())

    def _name_parts(self, vals):
        return [
            vals.get(field, self[field] if self else False)
            for field in ("last_name", "first_name", "patronymic")
        ]

    def _split_partner_vals(self, vals):
        """Separate the values of delegated partner fields from our own."""
        partner_vals = {
            name: vals.pop(name)
            for name in list(vals)
            if name in self._fields and self._fields[name].inherited and name != "partner_id"
        }
        return partner_vals

    @api.model_create_multi
    def create(self, vals_list):
        # The child's partner is written under sudo: school staff have no
        # right on contacts in general, only on the cardholders their record
        # rules give them, which the ORM checks when the cardholder is created.
        self.check_access("create")
        for vals in vals_list:
            vals["name"] = self._compose_name(*self._name_parts(vals))
            partner_vals = self._split_partner_vals(vals)
            if not vals.get("partner_id"):
                partner_vals.setdefault("is_company", False)
                vals["partner_id"] = self.env["res.partner"].sudo().create(partner_vals).id
            elif partner_vals:
                self.env["res.partner"].sudo().browse(vals["partner_id"]).write(partner_vals)
        holders = super().create(vals_list)
        holders._ensure_account()
        return holders

    def write(self, vals):
        vals = dict(vals)
        partner_vals = self._split_partner_vals(vals)
        if partner_vals or {"last_name", "first_name", "patronymic"} & vals.keys():
            self.check_access("write")
        result = super().write(vals) if vals else True
        if "school_id" in vals and not self.env.su:
            # Rules are checked on the records before the write: check again
            # so nobody moves a person into a school they don't serve.
            self.check_access("write")
        for holder in self:
            holder_partner_vals = dict(partner_vals)
            if {"last_name", "first_name", "patronymic"} & vals.keys():
                holder_partner_vals["name"] = self._compose_name(
                    holder.last_name, holder.first_name, holder.patronymic
                )
            if holder_partner_vals:
                holder.partner_id.sudo().write(holder_partner_vals)
        return result

    def _ensure_account(self):
        """Open the personal account each cardholder has (one per person)."""
        missing = self.filtered(lambda h: not h.account_ids)
        if missing:
            # The account belongs to the operator company of the school,
            # whoever registers the person.
            self.env["multipas.account"].sudo().create(
                [
                    {
                        "holder_id": holder.id,
                        "company_id": holder.company_id.id,
                        "currency_id": holder.company_id.currency_id.id,
                    }
                    for holder in missing
                ]
            )

    @api.constrains("class_id", "school_id")
    def _check_class_school(self):
        for holder in self:
            if holder.class_id and holder.class_id.school_id != holder.school_id:
                raise ValidationError(
                    self.env._(
                        "%(name)s can't be in class %(cls)s: the class belongs to another school.",
                        name=holder.name,
                        cls=holder.class_id.display_name,
                    )
                )

    @api.constrains("birth_date")
    def _check_birth_date(self):
        today = fields.Date.context_today(self)
        for holder in self:
            if holder.birth_date and holder.birth_date > today:
                raise ValidationError(
                    self.env._("The birth date of %(name)s is in the future.", name=holder.name)
                )

    @api.depends("name", "class_id.name")
    def _compute_display_name(self):
        for holder in self:
            if holder.class_id:
                holder.display_name = f"{holder.name} ({holder.class_id.name})"
            else:
                holder.display_name = holder.name or ""

    def action_open_reissue_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Reissue a card"),
            "res_model": "multipas.card.reissue.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_holder_id": self.id},
        }

    def action_open_account(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "multipas.account",
            "res_id": self.account_id.id,
            "view_mode": "form",
        }
