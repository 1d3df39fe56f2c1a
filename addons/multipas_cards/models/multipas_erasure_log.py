from odoo import api, fields, models
from odoo.exceptions import UserError

ERASURE_CATEGORIES = [
    ("name", "Name"),
    ("birth_date", "Birth date"),
    ("photo", "Photo"),
    ("contacts", "Contacts"),
    ("address", "Address"),
    ("health", "Allergies and diet"),
    ("benefit", "Benefit category"),
    ("guardians", "Guardian links"),
    ("other_fields", "Other personal fields"),
    ("messages", "Chatter messages"),
    ("tracking", "Tracked changes"),
    ("followers", "Followers"),
    ("activities", "Activities"),
    ("attachments", "Attachments"),
    ("notes", "Free-text notes"),
    ("ledger_notes", "Ledger entry notes"),
    ("notifications", "Pending notifications"),
]


class MultipasErasureLog(models.Model):
    """Who erased whose personal data, when, and what kinds of data.

    It names the record by model and id only: the log itself holds no
    personal data (regulation §8.6, Federal Law 152-FZ art. 21).
    """

    _name = "multipas.erasure.log"
    _description = "Personal data erasure"
    _order = "date desc, id desc"

    date = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now, index=True)
    user_id = fields.Many2one(
        "res.users",
        string="Erased by",
        required=True,
        readonly=True,
        default=lambda self: self.env.user,
    )
    res_model = fields.Char(string="Model", required=True, readonly=True)
    res_id = fields.Integer(string="Record ID", required=True, readonly=True)
    leaving_id = fields.Many2one(
        "multipas.leaving", string="Leaving request", readonly=True, ondelete="restrict"
    )
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    line_ids = fields.One2many(
        "multipas.erasure.log.line", "log_id", string="Erased data", readonly=True
    )

    @api.depends("res_model", "res_id")
    def _compute_display_name(self):
        for log in self:
            log.display_name = self.env._(
                "Erasure of %(model)s #%(id)s", model=log.res_model, id=log.res_id
            )

    def write(self, vals):  # pylint: disable=method-required-super
        # Refused on purpose: the log is a record of what happened.
        raise UserError(self.env._("The erasure log can't be changed."))

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        raise UserError(self.env._("The erasure log can't be deleted."))


class MultipasErasureLogLine(models.Model):
    """One kind of data erased, with how many values or records."""

    _name = "multipas.erasure.log.line"
    _description = "Personal data erasure: category"
    _order = "log_id, id"

    log_id = fields.Many2one(
        "multipas.erasure.log",
        string="Erasure",
        required=True,
        readonly=True,
        ondelete="cascade",
        index=True,
    )
    category = fields.Selection(ERASURE_CATEGORIES, string="Data", required=True, readonly=True)
    count = fields.Integer(
        string="How many", readonly=True, help="How many values or records were erased."
    )

    def write(self, vals):  # pylint: disable=method-required-super
        raise UserError(self.env._("The erasure log can't be changed."))
