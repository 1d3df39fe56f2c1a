import json
import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# The event kinds of multipas_cards itself. Each kind has a JSON Schema for
# its ``data`` (the device API validates it and publishes it in its OpenAPI
# document) and a handler method run on the new events of that kind.
CORE_EVENT_KINDS = {
    "card_tap": {
        "description": "A card was presented to a reader, e.g. at a canteen till.",
        "data_schema": {
            "type": "object",
            "additionalProperties": False,
            "properties": {},
            "description": "Nothing for a card tap: send {} or leave it out.",
        },
        "process": "_process_card_tap",
    },
}


class MultipasDeviceEvent(models.Model):
    """Something a device saw, as it reported it: stored once per UUID.

    **Event kinds are a registry.** ``_get_event_kinds`` returns
    ``{kind: {"label", "description", "data_schema", "process"}}``; another
    addon adds a kind by extending it::

        class MultipasDeviceEvent(models.Model):
            _inherit = "multipas.device.event"

            def _get_event_kinds(self):
                kinds = super()._get_event_kinds()
                kinds["passage"] = {
                    "label": self.env._("Passage"),
                    "description": "Someone went through a turnstile.",
                    "data_schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["direction", "decision"],
                        "properties": {
                            "direction": {"type": "string", "enum": ["in", "out"]},
                            "decision": {"type": "string", "enum": ["allow", "deny"]},
                            "reason": {"type": "string", "nullable": True},
                        },
                    },
                    "process": "_process_passage",
                }
                return kinds

            def _process_passage(self):
                self._link_cards()
                ...  # e.g. write the access log

    The device API then accepts the kind, validates its ``data`` and lists it
    in ``/multipas/device/v1/openapi.json``. Handlers run as superuser on the
    new events of their kind, once, right after they are stored; a handler
    raising ``UserError``/``ValidationError`` marks its events failed (they
    stay stored) instead of refusing the batch. Side effects outside the
    database (pushing to a till) belong in ``self.env.cr.postcommit``.
    """

    _name = "multipas.device.event"
    _description = "Device event"
    _order = "at desc, id desc"
    _rec_name = "uuid"

    uuid = fields.Char(string="UUID", required=True, readonly=True)
    device_id = fields.Many2one(
        "multipas.device", required=True, readonly=True, index=True, ondelete="restrict"
    )
    school_id = fields.Many2one(
        "multipas.school", required=True, readonly=True, index=True, ondelete="restrict"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    kind = fields.Selection(selection="_selection_kind", required=True, readonly=True, index=True)
    uid = fields.Char(string="UID", readonly=True, index=True)
    card_id = fields.Many2one("multipas.card", readonly=True, index=True, ondelete="set null")
    holder_id = fields.Many2one(
        "multipas.cardholder", readonly=True, index=True, ondelete="set null", string="Cardholder"
    )
    at = fields.Datetime(
        string="When", required=True, readonly=True, index=True, help="By the device's clock."
    )
    received_at = fields.Datetime(string="Received", required=True, readonly=True)
    reader = fields.Char(readonly=True)
    data = fields.Json(string="Raw data", readonly=True)
    data_text = fields.Text(string="Data", compute="_compute_data_text")
    batch_uuid = fields.Char(string="Batch", readonly=True)
    state = fields.Selection(
        [("new", "New"), ("done", "Processed"), ("failed", "Failed")],
        required=True,
        default="new",
        readonly=True,
        index=True,
    )
    error = fields.Char(readonly=True)

    _sql_constraints = [
        ("uuid_uniq", "unique(uuid)", "An event with this UUID is already stored."),
    ]

    # === KINDS === #

    @api.model
    def _get_event_kinds(self):
        """The registry of event kinds (see the class docstring)."""
        kinds = {kind: dict(spec) for kind, spec in CORE_EVENT_KINDS.items()}
        kinds["card_tap"]["label"] = self.env._("Card tap")
        return kinds

    @api.model
    def _selection_kind(self):
        return [(kind, spec["label"]) for kind, spec in self._get_event_kinds().items()]

    @api.depends("data")
    def _compute_data_text(self):
        for event in self:
            event.data_text = json.dumps(event.data or {}, indent=2, ensure_ascii=False)

    @api.depends("kind", "uid", "at")
    def _compute_display_name(self):
        labels = dict(self._selection_kind())
        for event in self:
            event.display_name = " · ".join(
                part
                for part in (labels.get(event.kind, event.kind), event.uid, str(event.at or ""))
                if part
            )

    # === INGESTION (device API) === #

    @api.model
    def _api_ingest(self, device, batch_uuid, events):
        """Store a validated batch of ``device``'s events, once per UUID.

        ``events`` are dicts with ``uuid`` (lower case), ``kind``, ``uid``
        (upper-case hex), ``at`` (naive UTC datetime), ``reader`` and
        ``data``. Returns ``[(uuid, "accepted" | "duplicate")]`` in request
        order, or None when ``batch_uuid`` was already accepted from this
        device (nothing is written then).

        Plain SQL with ``ON CONFLICT DO NOTHING``: two workers storing the
        same event at the same time can't both keep it, and the second one
        gets a serialization failure that Odoo retries, which then reads the
        event as a duplicate.
        """
        self.check_access("create")
        self.env["multipas.device.batch"].check_access("create")
        now = fields.Datetime.now()
        uid = self.env.uid
        company_id = device.company_id.id
        cr = self.env.cr
        cr.execute(
            SQL(
                """
                INSERT INTO multipas_device_batch
                       (uuid, device_id, company_id, received_at, event_count, accepted_count,
                        create_uid, create_date, write_uid, write_date)
                VALUES (%s, %s, %s, %s, %s, 0, %s, %s, %s, %s)
                ON CONFLICT (device_id, uuid) DO NOTHING
                RETURNING id
                """,
                batch_uuid,
                device.id,
                company_id,
                now,
                len(events),
                uid,
                now,
                uid,
                now,
            )
        )
        batch_row = cr.fetchone()
        if not batch_row:
            return None
        rows = SQL(", ").join(
            SQL(
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, 'new', %s, %s, %s, %s)",
                event["uuid"],
                device.id,
                device.school_id.id,
                company_id,
                event["kind"],
                event["uid"],
                event["at"],
                now,
                event.get("reader"),
                json.dumps(event.get("data") or {}),
                batch_uuid,
                uid,
                now,
                uid,
                now,
            )
            for event in events
        )
        cr.execute(
            SQL(
                """
                INSERT INTO multipas_device_event
                       (uuid, device_id, school_id, company_id, kind, uid, at, received_at,
                        reader, data, batch_uuid, state,
                        create_uid, create_date, write_uid, write_date)
                VALUES %s
                ON CONFLICT (uuid) DO NOTHING
                RETURNING id, uuid
                """,
                rows,
            )
        )
        inserted = {event_uuid: event_id for event_id, event_uuid in cr.fetchall()}
        results, seen = [], set()
        for event in events:
            fresh = event["uuid"] in inserted and event["uuid"] not in seen
            seen.add(event["uuid"])
            results.append((event["uuid"], "accepted" if fresh else "duplicate"))
        cr.execute(
            SQL(
                "UPDATE multipas_device_batch SET accepted_count = %s WHERE id = %s",
                len(inserted),
                batch_row[0],
            )
        )
        self.sudo().browse(sorted(inserted.values()))._process()
        return results

    # === PROCESSING === #

    def _process(self):
        """Run each kind's handler on these new events, then mark them
        processed. A handler refusing (UserError/ValidationError) is retried
        event by event; the events it still refuses are marked failed."""
        kinds = self._get_event_kinds()
        for kind in set(self.mapped("kind")):
            events = self.filtered(lambda e: e.kind == kind)
            spec = kinds.get(kind)
            if not spec:
                events.write(
                    {"state": "failed", "error": self.env._("No addon handles this kind.")}
                )
                continue
            try:
                with self.env.cr.savepoint():
                    getattr(events, spec["process"])()
            except (UserError, ValidationError):
                for event in events:
                    try:
                        with self.env.cr.savepoint():
                            getattr(event, spec["process"])()
                    except (UserError, ValidationError) as exc:
                        _logger.info("Device event %s (%s) failed: %s", event.uuid, kind, exc)
                        event.write({"state": "failed", "error": str(exc.args[0])[:500]})
        self.filtered(lambda e: e.state == "new").write({"state": "done", "error": False})

    def _process_card_tap(self):
        """A tap only identifies a card: link it. (multipas_canteen relays it
        to the till.)"""
        self._link_cards()

    def _link_cards(self):
        """Point each event at the card in use with its UID at its school, and
        at that card's holder. An unknown UID leaves the card empty: the
        event is kept all the same."""
        todo = self.filtered(lambda e: e.uid and not e.card_id)
        if not todo:
            return
        cards = (
            self.env["multipas.card"]
            .sudo()
            .search(
                [
                    ("uid", "in", list(set(todo.mapped("uid")))),
                    ("school_id", "in", todo.school_id.ids),
                    ("state", "!=", "retired"),
                ]
            )
        )
        by_key = {(card.school_id.id, card.uid): card for card in cards}
        groups = defaultdict(list)
        for event in todo:
            card = by_key.get((event.school_id.id, event.uid))
            if card:
                groups[card].append(event.id)
        for card, event_ids in groups.items():
            self.browse(event_ids).write({"card_id": card.id, "holder_id": card.holder_id.id})

    def action_process_again(self):
        """Run the handlers again on failed events (after fixing the cause)."""
        if not self.env.user.has_group("multipas_cards.group_operator_manager"):
            raise AccessError(self.env._("Only operator managers process events again."))
        self.check_access("write")
        failed = self.filtered(lambda e: e.state == "failed")
        if not failed:
            raise UserError(self.env._("Only failed events can be processed again."))
        failed = failed.sudo()
        failed.write({"state": "new", "error": False})
        failed._process()
