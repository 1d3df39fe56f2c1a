import hashlib
import re
import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tools import consteq, format_datetime

from .multipas_allowlist import card_decision
from .multipas_portal_tools import in_language_of, operator_manager

# A device key: "mpd_" + 43 URL-safe characters (32 random bytes). Its first
# KEY_PREFIX_LEN characters are stored in clear to find the device and to let
# the operator recognise the key; the whole key only as a SHA-256 digest (a
# random 256-bit token needs no slow password hash).
KEY_MARK = "mpd_"
KEY_PREFIX_LEN = 12
BEARER_RE = re.compile(r"^[Bb]earer +([A-Za-z0-9_\-]{20,128})$")

DEVICE_KINDS = [("turnstile", "Turnstile"), ("till", "Till"), ("kiosk", "Kiosk")]


def key_digest(key):
    return hashlib.sha256(key.encode()).hexdigest()


class MultipasDevice(models.Model):
    """A box at a school (turnstile, canteen till, kiosk) that talks to the
    device API with its own key.

    Each device has a technical user of its own (inactive, in the hidden
    "Multipas device" group only, no password, no API key): the API runs as
    that user once the key is checked, so record rules keep the box inside
    its school.
    """

    _name = "multipas.device"
    _description = "Device"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "school_id, kind, name"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    school_id = fields.Many2one(
        "multipas.school", required=True, ondelete="restrict", index=True, tracking=True
    )
    company_id = fields.Many2one(related="school_id.company_id", store=True, index=True)
    kind = fields.Selection(DEVICE_KINDS, required=True, default="turnstile", tracking=True)
    location = fields.Char(help="Where the device stands, e.g. “Main entrance, left lane”.")
    active = fields.Boolean(default=True, tracking=True)
    note = fields.Text()
    user_id = fields.Many2one(
        "res.users",
        string="Technical user",
        readonly=True,
        copy=False,
        ondelete="restrict",
        groups="multipas_cards.group_operator_manager",
        help="The user the device API runs as for this device: it sees this "
        "device, its school and the school's cards, nothing else.",
    )

    # === CONNECTION (written by the heartbeat and the silence check) === #
    status = fields.Selection(
        [("never", "Never connected"), ("online", "Online"), ("silent", "Silent")],
        required=True,
        default="never",
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
    )
    last_seen = fields.Datetime(
        string="Last heartbeat", readonly=True, copy=False, help="When the device last reported."
    )
    version = fields.Char(string="Software version", readonly=True, copy=False, tracking=True)
    queue_depth = fields.Integer(
        string="Queue depth",
        readonly=True,
        copy=False,
        help="Events waiting in the device's journal at its last heartbeat: "
        "more than a few means it can't deliver them.",
    )
    readers = fields.Json(string="Reader states", readonly=True, copy=False)
    readers_summary = fields.Char(
        string="Readers", compute="_compute_readers_summary", help="As the last heartbeat said."
    )
    silent_after = fields.Integer(
        string="Silent after (minutes)",
        default=15,
        required=True,
        help="The operator managers get an activity when the device has not "
        "reported for this long.",
    )

    # === KEY === #
    key_state = fields.Selection(
        [("none", "No key"), ("active", "Active"), ("revoked", "Revoked")],
        string="Key",
        required=True,
        default="none",
        readonly=True,
        copy=False,
        tracking=True,
    )
    key_prefix = fields.Char(
        string="Key prefix",
        readonly=True,
        copy=False,
        index=True,
        help="The first characters of the current key, to recognise it.",
    )
    key_hash = fields.Char(
        string="Key fingerprint",
        readonly=True,
        copy=False,
        groups="base.group_system",
        help="SHA-256 of the key: the key itself is not stored.",
    )
    key_date = fields.Datetime(string="Key created", readonly=True, copy=False)
    key_revoked_date = fields.Datetime(string="Key revoked", readonly=True, copy=False)

    event_count = fields.Integer(string="Events", compute="_compute_event_count")
    allowlist_version = fields.Integer(
        string="Allow-list version",
        compute="_compute_allowlist_version",
        help="Cursor of the latest change of the school's allow-list: a device "
        "that reports a lower one has not caught up yet.",
    )

    _sql_constraints = [
        (
            "silent_after_positive",
            "CHECK(silent_after > 0)",
            "The silence threshold must be at least one minute.",
        ),
    ]

    @api.depends("readers")
    def _compute_readers_summary(self):
        for device in self:
            device.readers_summary = ", ".join(
                f"{reader.get('name')} ({reader.get('kind')}): {reader.get('state')}"
                for reader in device.readers or []
            )

    def _compute_event_count(self):
        groups = self.env["multipas.device.event"]._read_group(
            [("device_id", "in", self.ids)], ["device_id"], ["__count"]
        )
        counts = {device.id: count for device, count in groups}
        for device in self:
            device.event_count = counts.get(device.id, 0)

    def _compute_allowlist_version(self):
        Allowlist = self.env["multipas.allowlist"]
        for device in self:
            device.allowlist_version = Allowlist._version(device.school_id)

    # === CRUD === #

    @api.model_create_multi
    def create(self, vals_list):
        devices = super().create(vals_list)
        devices._create_technical_users()
        return devices

    def write(self, vals):
        if "school_id" in vals:
            moved = self.filtered(lambda d: d.school_id.id != vals["school_id"])
            if moved.filtered(lambda d: d.key_state == "active" or d.sudo().event_count):
                raise UserError(
                    self.env._(
                        "A device that has a key or has sent events stays at its school: "
                        "create a new device for the other school."
                    )
                )
        result = super().write(vals)
        if "name" in vals:
            for device in self.sudo():
                device.user_id.name = device._technical_user_name()
        if "school_id" in vals:
            for device in self.sudo():
                device.user_id.write(
                    {
                        "company_ids": [Command.set(device.company_id.ids)],
                        "company_id": device.company_id.id,
                        "tz": device.school_id.tz,
                    }
                )
        if "active" in vals and not vals["active"]:
            self._close_silent_activities(self.env._("The device was archived."))
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_with_events(self):
        for device in self:
            if device.sudo().event_count:
                raise UserError(
                    self.env._(
                        "%(device)s has sent events, which are kept: archive the device instead.",
                        device=device.display_name,
                    )
                )

    def unlink(self):
        users = self.sudo().user_id
        result = super().unlink()
        users.unlink()
        return result

    def _technical_user_name(self):
        return self.env._("Device: %(name)s", name=self.name)

    def _create_technical_users(self):
        group = self.env.ref("multipas_cards.group_device")
        for device in self.sudo():
            user = (
                self.env["res.users"]
                .sudo()
                .with_context(no_reset_password=True, mail_create_nolog=True)
                .create(
                    {
                        "name": device._technical_user_name(),
                        "login": f"multipas-device-{secrets.token_hex(8)}",
                        # Inactive (its partner too): nobody can log in as it;
                        # the API sets it on the request once the key is checked.
                        "active": False,
                        "groups_id": [Command.set(group.ids)],
                        "company_id": device.company_id.id,
                        "company_ids": [Command.set(device.company_id.ids)],
                        "tz": device.school_id.tz,
                    }
                )
            )
            device.user_id = user

    @api.constrains("user_id")
    def _check_user_is_technical(self):
        for device in self.sudo():
            user = device.user_id
            if user and (
                user.active
                or not user.has_group("multipas_cards.group_device")
                or not user.share
                or user.has_group("base.group_portal")
            ):
                raise ValidationError(
                    self.env._(
                        "The technical user of a device must be an inactive user of the "
                        "Multipas device group, neither internal nor portal."
                    )
                )

    # === KEY === #

    def _check_manager(self):
        if not self.env.user.has_group("multipas_cards.group_operator_manager"):
            raise AccessError(self.env._("Only operator managers manage device keys."))
        self.check_access("write")

    def action_generate_key(self):
        """Create a new key for the device and show it once. The previous key,
        if any, stops working at once."""
        self.ensure_one()
        self._check_manager()
        if not self.active:
            raise UserError(self.env._("Restore the device before giving it a key."))
        key = KEY_MARK + secrets.token_urlsafe(32)
        previous = self.key_state
        self.sudo().write(
            {
                "key_hash": key_digest(key),
                "key_prefix": key[:KEY_PREFIX_LEN],
                "key_date": fields.Datetime.now(),
                "key_state": "active",
                "key_revoked_date": False,
            }
        )
        if previous == "active":
            body = self.env._(
                "New key %(prefix)s… generated; the previous key no longer works.",
                prefix=key[:KEY_PREFIX_LEN],
            )
        else:
            body = self.env._("Key %(prefix)s… generated.", prefix=key[:KEY_PREFIX_LEN])
        self.message_post(body=body)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Device key"),
            "res_model": "multipas.device.key.wizard",
            "view_mode": "form",
            "target": "new",
            # The key travels to the browser in the action only: the wizard
            # is never saved, the database keeps the digest.
            "context": {"default_device_id": self.id, "default_key": key},
        }

    def action_revoke_key(self):
        """Stop the device's key at once; the device gets 401 from now on."""
        self._check_manager()
        for device in self:
            if device.key_state != "active":
                raise UserError(
                    self.env._("%(device)s has no active key.", device=device.display_name)
                )
        self.sudo().write(
            {
                "key_hash": False,
                "key_state": "revoked",
                "key_revoked_date": fields.Datetime.now(),
            }
        )
        for device in self:
            device.message_post(
                body=self.env._("Key %(prefix)s… revoked.", prefix=device.key_prefix)
            )
        self._close_silent_activities(self.env._("The device's key was revoked."))

    @api.model
    def _authenticate_bearer(self, header):
        """The active device whose key is in this ``Authorization`` header
        value, or an empty recordset. Call it as superuser."""
        match = BEARER_RE.match((header or "").strip())
        if not match or not match[1].startswith(KEY_MARK):
            return self.browse()
        key = match[1]
        digest = key_digest(key)
        candidates = self.search(
            [("key_prefix", "=", key[:KEY_PREFIX_LEN]), ("key_state", "=", "active")]
        )
        for device in candidates:
            if device.key_hash and consteq(device.key_hash, digest) and device.user_id:
                return device
        return self.browse()

    # === DEVICE API (runs as the device's technical user) === #

    def _api_heartbeat(self, payload):
        """Record a heartbeat (already validated) and answer with what the box
        needs to know: server time, itself, the allow-list version."""
        self.ensure_one()
        vals = {
            "last_seen": fields.Datetime.now(),
            "version": payload["version"],
            "queue_depth": payload["queue_depth"],
        }
        if "readers" in payload:
            vals["readers"] = payload["readers"]
        if self.status != "online":
            vals["status"] = "online"
        # The technical user may read its device, not write it: these fields only.
        device = self.sudo()
        device.write(vals)
        device._close_silent_activities(self.env._("The device reported again."))
        return {
            "device": {
                "id": device.id,
                "name": device.name,
                "kind": device.kind,
                "school_code": device.school_id.code,
                "timezone": device.school_id.tz,
            },
            "allowlist_version": self.env["multipas.allowlist"]._version(device.school_id),
        }

    def _api_allowlist(self, since, limit):
        """One page of the school's allow-list after cursor ``since`` (0: a
        snapshot). An unknown cursor gets a snapshot page too."""
        self.ensure_one()
        Allowlist = self.env["multipas.allowlist"]
        full = since == 0 or not Allowlist._is_known_cursor(since)
        if full:
            since = 0
        rows, more = Allowlist._page(self.school_id, since, limit)
        return {
            "cursor": rows[-1]["seq"] if rows else since,
            "more": more,
            "full": full,
            "cards": [{k: v for k, v in row.items() if k != "seq"} for row in rows],
        }

    def _api_card(self, uid):
        """Display data of the card in use with ``uid`` at the device's
        school, or None. The search runs as the technical user (its record
        rules only show its school's cards); the holder's data is read as
        superuser for that one card."""
        self.ensure_one()
        card = self.env["multipas.card"].search(
            [("uid", "=", uid), ("school_id", "=", self.school_id.id), ("state", "!=", "retired")],
            limit=1,
        )
        if not card:
            return None
        holder = card.sudo().holder_id.with_context(bin_size=True)
        allow, reason = card_decision(
            self.school_id.id,
            uid,
            {
                "school_id": card.school_id.id,
                "uid": card.uid,
                "state": card.state,
                "holder_state": holder.state or None,
                "holder_active": holder.active,
            },
        )
        return {
            "uid": card.uid,
            "allow": allow,
            "reason": reason,
            "number": card.number,
            "holder": {
                "name": holder.name,
                "class": holder.class_id.name or None,
                "kind": holder.kind,
                "photo_url": f"/web/image/multipas.cardholder/{holder.id}/image_128"
                if holder.image_1920
                else None,
            }
            if allow
            else None,
        }

    # === SILENCE === #

    def _close_silent_activities(self, feedback):
        activity_type = self.env.ref("multipas_cards.mail_activity_device_silent")
        activities = (
            self.sudo()
            .with_context(active_test=False)
            .activity_ids.filtered(lambda a: a.activity_type_id == activity_type)
        )
        if activities:
            activities.action_feedback(feedback=feedback)

    @api.model
    def _cron_check_silent(self):
        """Warn the operator managers about devices that stopped reporting:
        one open activity per device, closed when it reports again."""
        now = fields.Datetime.now()
        activity_type = self.env.ref("multipas_cards.mail_activity_device_silent")
        manager = operator_manager(self.env)
        # the warnings are written for the manager, in their language
        devices = in_language_of(manager, self)
        env = devices.env
        for device in devices.search([("key_state", "=", "active")]):
            since = device.last_seen or device.key_date
            if not since or since >= now - timedelta(minutes=device.silent_after):
                continue
            if device.status != "silent":
                device.status = "silent"
            if device.activity_ids.filtered(lambda a: a.activity_type_id == activity_type):
                continue
            device.activity_schedule(
                activity_type_id=activity_type.id,
                summary=env._("Device silent"),
                note=env._(
                    "%(device)s at %(school)s has not reported since %(since)s "
                    "(threshold: %(minutes)s minutes).",
                    device=device.name,
                    school=device.school_id.name,
                    since=format_datetime(env, since, tz=device.school_id.tz),
                    minutes=device.silent_after,
                ),
                user_id=manager.id,
            )
        # Devices nobody expects to hear from any more.
        unwatched = self.with_context(active_test=False).search(
            [
                ("activity_ids.activity_type_id", "=", activity_type.id),
                "|",
                ("key_state", "!=", "active"),
                ("active", "=", False),
            ]
        )
        unwatched._close_silent_activities(env._("The device is no longer watched."))

    # === BUTTONS === #

    def action_open_events(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Events of %(device)s", device=self.display_name),
            "res_model": "multipas.device.event",
            "view_mode": "list,pivot,form",
            "domain": [("device_id", "=", self.id)],
            "context": {"search_default_device_id": self.id},
        }
