import json
import uuid
from pathlib import Path
from unittest.mock import patch

from odoo.exceptions import AccessDenied, UserError
from odoo.tests import HttpCase, tagged

from ..controllers.device_api_schema import API_PREFIX, dump_document, openapi_document
from ..models.multipas_device_event import CORE_EVENT_KINDS, MultipasDeviceEvent
from .common import MultipasCommon

STATIC_DOCUMENT = Path(__file__).resolve().parent.parent / "static/openapi/device_api_v1.json"


def new_uuid():
    return str(uuid.uuid4())


class DeviceApiCommon(MultipasCommon, HttpCase):
    """Two devices with keys (a turnstile at school A, a till at school B) and
    a helper that calls the API over real HTTP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Device = cls.env["multipas.device"]
        cls.device_a = Device.create(
            {"name": "Test turnstile A", "school_id": cls.school_a.id, "kind": "turnstile"}
        )
        cls.device_b = Device.create(
            {"name": "Test till B", "school_id": cls.school_b.id, "kind": "till"}
        )
        cls.key_a = cls._generate_key(cls.device_a)
        cls.key_b = cls._generate_key(cls.device_b)

    @classmethod
    def _generate_key(cls, device):
        action = device.with_user(cls.user_manager).action_generate_key()
        return action["context"]["default_key"]

    def api(self, method, path, body=None, key=None, raw=None, headers=None, auth=True):
        """Call the device API; ``key`` defaults to device A's."""
        self.env.flush_all()
        sent = {}
        if auth:
            sent["Authorization"] = f"Bearer {key or self.key_a}"
        data = raw
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        response = self.opener.request(
            method, f"{self.base_url()}{API_PREFIX}{path}", data=data, headers=sent, timeout=60
        )
        self.env.invalidate_all()
        return response

    def assertError(self, response, status, code):
        self.assertEqual(response.status_code, status, response.text[:500])
        self.assertTrue(
            response.headers["Content-Type"].startswith("application/json"),
            response.headers["Content-Type"],
        )
        body = response.json()
        self.assertEqual(set(body), {"error"})
        self.assertEqual(set(body["error"]), {"code", "message"})
        self.assertEqual(body["error"]["code"], code, body)
        self.assertTrue(body["error"]["message"])
        return body["error"]["message"]

    def ok(self, response):
        self.assertEqual(response.status_code, 200, response.text[:500])
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        return response.json()

    def event(self, uid="A1B2C3D401", **values):
        return dict(
            {
                "uuid": new_uuid(),
                "kind": "card_tap",
                "uid": uid,
                "at": "2026-11-25T09:00:00.123Z",
                "reader": "pcsc-0",
                "data": {},
            },
            **values,
        )

    def push(self, events, batch_id=None, key=None):
        return self.api(
            "POST", "/events", {"batch_id": batch_id or new_uuid(), "events": events}, key=key
        )

    def snapshot(self, key=None, limit=5000):
        """All pages from cursor 0: ({uid: card}, last cursor)."""
        cards, since, first = {}, 0, True
        while True:
            page = self.ok(self.api("GET", f"/allowlist?since={since}&limit={limit}", key=key))
            self.assertEqual(page["full"], first)
            first = False
            cards.update({card["uid"]: card for card in page["cards"]})
            since = page["cursor"]
            if not page["more"]:
                return cards, since

    def delta(self, since, key=None):
        page = self.ok(self.api("GET", f"/allowlist?since={since}", key=key))
        self.assertFalse(page["full"])
        self.assertFalse(page["more"])
        return {card["uid"]: card for card in page["cards"]}, page["cursor"]

    def state(self):
        """What a refused request must leave unchanged."""
        self.env.invalidate_all()
        Event = self.env["multipas.device.event"]
        return {
            "events": Event.search_count([]),
            "batches": self.env["multipas.device.batch"].search_count([]),
            "device": self.device_a.read(["last_seen", "version", "queue_depth", "status"]),
        }


@tagged("post_install", "-at_install", "multipas_device")
class TestDeviceApiRoutes(DeviceApiCommon):
    # === HEARTBEAT === #

    def test_heartbeat(self):
        """Test that a heartbeat records the box's state and answers with the
        device, the server time and the allow-list version."""
        body = self.ok(
            self.api(
                "POST",
                "/heartbeat",
                {
                    "version": "0.1.0",
                    "queue_depth": 3,
                    "readers": [{"name": "pcsc-0", "kind": "pcsc", "state": "ok"}],
                },
            )
        )
        self.assertEqual(
            body["device"],
            {
                "id": self.device_a.id,
                "name": "Test turnstile A",
                "kind": "turnstile",
                "school_code": "MPTST-A",
                "timezone": "Asia/Yekaterinburg",
            },
        )
        self.assertRegex(body["server_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(body["allowlist_version"], self.device_a.allowlist_version)
        self.assertGreater(body["allowlist_version"], 0)
        self.assertEqual(self.device_a.status, "online")
        self.assertEqual(self.device_a.version, "0.1.0")
        self.assertEqual(self.device_a.queue_depth, 3)
        self.assertEqual(self.device_a.readers_summary, "pcsc-0 (pcsc): ok")
        self.assertTrue(self.device_a.last_seen)

    # === ALLOW-LIST === #

    def test_allowlist_snapshot(self):
        """Test that a snapshot lists the device's school's cards only, with
        holder data for issued cards and a reason for the others."""
        cards, cursor = self.snapshot()
        self.assertGreater(cursor, 0)
        self.assertEqual(
            cards["A1B2C3D401"],
            {
                "uid": "A1B2C3D401",
                "allow": True,
                "reason": None,
                "number": "MPTST-0001",
                "holder": {"name": "Mptestova Alisa", "class": "5A", "kind": "pupil"},
            },
        )
        self.assertTrue(cards["A1B2C3D402"]["allow"])
        self.assertEqual(
            cards["A1B2C3D411"],
            {
                "uid": "A1B2C3D411",
                "allow": False,
                "reason": "not_issued",
                "number": "MPTST-0101",
                "holder": None,
            },
        )
        self.assertNotIn("A1B2C3D403", cards)
        self.assertNotIn("A1B2C3D412", cards)
        cards_b, _cursor = self.snapshot(key=self.key_b)
        self.assertIn("A1B2C3D403", cards_b)
        self.assertNotIn("A1B2C3D401", cards_b)

    def test_allowlist_paging(self):
        """Test that a snapshot read one card per page gives the same cards,
        with `more` on every page but the last and `full` on the first only."""
        whole, cursor = self.snapshot()
        paged, paged_cursor = self.snapshot(limit=1)
        self.assertEqual(paged, whole)
        self.assertEqual(paged_cursor, cursor)
        first = self.ok(self.api("GET", "/allowlist?limit=1"))
        self.assertTrue(first["full"])
        self.assertTrue(first["more"])
        self.assertEqual(len(first["cards"]), 1)

    def test_allowlist_delta_blocked_card(self):
        """Test that blocking a card puts it into the next delta as refused,
        and that the delta after that is empty."""
        _cards, cursor = self.snapshot()
        self.assertEqual(self.delta(cursor), ({}, cursor))
        self.card_a1.action_block("lost")
        cards, new_cursor = self.delta(cursor)
        self.assertGreater(new_cursor, cursor)
        self.assertEqual(
            cards,
            {
                "A1B2C3D401": {
                    "uid": "A1B2C3D401",
                    "allow": False,
                    "reason": "blocked",
                    "number": "MPTST-0001",
                    "holder": None,
                }
            },
        )
        self.assertEqual(self.delta(new_cursor), ({}, new_cursor))

    def test_allowlist_leaving_cardholder(self):
        """Test that a cardholder who leaves the school makes their card refused."""
        _cards, cursor = self.snapshot()
        self.pupil_a2.state = "left"
        cards, _cursor = self.delta(cursor)
        self.assertEqual(list(cards), ["A1B2C3D402"])
        self.assertFalse(cards["A1B2C3D402"]["allow"])
        self.assertEqual(cards["A1B2C3D402"]["reason"], "left")
        self.assertIsNone(cards["A1B2C3D402"]["holder"])

    def test_allowlist_rename_and_class_change(self):
        """Test that renaming a holder, moving them to another class and
        renaming a class each reach the devices."""
        _cards, cursor = self.snapshot()
        self.pupil_a1.last_name = "Mptestova-Petrova"
        cards, cursor = self.delta(cursor)
        self.assertEqual(cards["A1B2C3D401"]["holder"]["name"], "Mptestova-Petrova Alisa")
        self.pupil_a1.class_id = self.class_a2
        cards, cursor = self.delta(cursor)
        self.assertEqual(cards["A1B2C3D401"]["holder"]["class"], "6B")
        self.class_a2.letter = "V"
        cards, cursor = self.delta(cursor)
        self.assertEqual(set(cards), {"A1B2C3D401", "A1B2C3D402"})
        self.assertEqual(cards["A1B2C3D402"]["holder"]["class"], "6V")
        # The partner renamed directly (e.g. by the erasure of a leaver) too.
        self.pupil_a2.partner_id.name = "Pupil 2"
        cards, cursor = self.delta(cursor)
        self.assertEqual(cards["A1B2C3D402"]["holder"]["name"], "Pupil 2")

    def test_allowlist_card_moved_and_uid_corrected(self):
        """Test that a card moved to another school is refused at the old one
        and listed at the new one, and that a corrected UID retires the old UID."""
        _cards, cursor_a = self.snapshot()
        cards_b, cursor_b = self.snapshot(key=self.key_b)
        self.assertNotIn("A1B2C3D411", cards_b)
        self.reserve_a.school_id = self.school_b
        cards, cursor_a = self.delta(cursor_a)
        self.assertEqual(cards["A1B2C3D411"]["reason"], "left")
        self.assertFalse(cards["A1B2C3D411"]["allow"])
        cards, cursor_b = self.delta(cursor_b, key=self.key_b)
        self.assertEqual(cards["A1B2C3D411"]["reason"], "not_issued")

        self.card_a2.uid = "A1B2C3D4EE"
        cards, cursor_a = self.delta(cursor_a)
        self.assertEqual(cards["A1B2C3D402"]["reason"], "retired")
        self.assertTrue(cards["A1B2C3D4EE"]["allow"])

    def test_allowlist_retired_uid_taken_again(self):
        """Test that a retired card's UID reads "retired" until another card
        takes it, which then answers for it."""
        _cards, cursor = self.snapshot()
        self.card_a1.action_block("damaged")
        self.card_a1.action_retire()
        cards, cursor = self.delta(cursor)
        self.assertEqual(cards["A1B2C3D401"]["reason"], "retired")
        new = self.env["multipas.card"].create(
            {
                "number": "MPTST-0201",
                "uid": "A1B2C3D401",
                "school_id": self.school_a.id,
                "holder_id": self.pupil_a1.id,
                "state": "stock",
            }
        )
        new.action_issue()
        cards, cursor = self.delta(cursor)
        self.assertEqual(cards["A1B2C3D401"]["number"], "MPTST-0201")
        self.assertTrue(cards["A1B2C3D401"]["allow"])

    def test_allowlist_unknown_cursor_gives_snapshot(self):
        """Test that a cursor the server never handed out is answered with a
        snapshot page (e.g. a box that outlived a database restore)."""
        page = self.ok(self.api("GET", f"/allowlist?since={10**15}"))
        self.assertTrue(page["full"])
        self.assertIn("A1B2C3D401", {card["uid"] for card in page["cards"]})

    # === CARDS === #

    def test_card_lookup(self):
        """Test that a till gets the holder of a card of its school, with the
        UID in any case."""
        body = self.ok(self.api("GET", "/cards/a1b2c3d401"))
        self.assertEqual(
            body,
            {
                "uid": "A1B2C3D401",
                "allow": True,
                "reason": None,
                "number": "MPTST-0001",
                "holder": {
                    "name": "Mptestova Alisa",
                    "class": "5A",
                    "kind": "pupil",
                    "photo_url": None,
                },
            },
        )
        self.card_a1.action_block("stolen")
        body = self.ok(self.api("GET", "/cards/A1B2C3D401"))
        self.assertEqual((body["allow"], body["reason"], body["holder"]), (False, "blocked", None))

    def test_card_lookup_photo(self):
        """Test that the holder's photo is given as a path when there is one."""
        png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
        self.pupil_a1.image_1920 = png
        body = self.ok(self.api("GET", "/cards/A1B2C3D401"))
        self.assertEqual(
            body["holder"]["photo_url"],
            f"/web/image/multipas.cardholder/{self.pupil_a1.id}/image_128",
        )

    def test_card_unknown_or_other_school(self):
        """Test that an unknown UID and another school's card are both 404."""
        self.assertError(self.api("GET", "/cards/0011223344"), 404, "not_found")
        self.assertError(self.api("GET", "/cards/A1B2C3D403"), 404, "not_found")
        self.ok(self.api("GET", "/cards/A1B2C3D403", key=self.key_b))

    def test_card_malformed_uid(self):
        """Test that a UID that isn't 4 to 10 bytes of hexadecimal is a 400."""
        for uid in ("XYZ12345", "A1B2C3", "A1B2C3D401F", "A1B2C3D4%2001", "A1B2C3D401?x=1"):
            with self.subTest(uid=uid):
                self.assertError(self.api("GET", f"/cards/{uid}"), 400, "bad_request")

    # === EVENTS === #

    def test_events_stored_and_linked(self):
        """Test that events are stored once, linked to the card and holder of
        the device's school, and kept with no card for an unknown UID."""
        known, lower, unknown, other_school = (
            self.event(),
            self.event(uid="a1b2c3d402", at="2026-11-25T14:00:00+05:00"),
            self.event(uid="DEADBEEF01", reader=None),
            self.event(uid="A1B2C3D403"),
        )
        del unknown["reader"]
        del other_school["data"]
        body = self.ok(self.push([known, lower, unknown, other_school]))
        self.assertEqual(
            body["results"],
            [
                {"uuid": e["uuid"], "status": "accepted"}
                for e in (known, lower, unknown, other_school)
            ],
        )
        Event = self.env["multipas.device.event"]
        stored = {e.uuid: e for e in Event.search([("device_id", "=", self.device_a.id)])}
        self.assertEqual(len(stored), 4)
        first = stored[known["uuid"]]
        self.assertEqual(
            (first.kind, first.uid, first.card_id, first.holder_id, first.school_id, first.state),
            ("card_tap", "A1B2C3D401", self.card_a1, self.pupil_a1, self.school_a, "done"),
        )
        self.assertEqual(str(first.at), "2026-11-25 09:00:00.123000")
        self.assertEqual(first.reader, "pcsc-0")
        self.assertEqual(first.data, {})
        second = stored[lower["uuid"]]
        self.assertEqual((second.uid, second.card_id), ("A1B2C3D402", self.card_a2))
        self.assertEqual(str(second.at), "2026-11-25 09:00:00")
        self.assertFalse(stored[unknown["uuid"]].card_id)
        self.assertFalse(stored[unknown["uuid"]].reader)
        self.assertEqual(stored[unknown["uuid"]].state, "done")
        # Another school's card is unknown here.
        self.assertFalse(stored[other_school["uuid"]].card_id)
        batch = self.env["multipas.device.batch"].search([("device_id", "=", self.device_a.id)])
        self.assertEqual((batch.event_count, batch.accepted_count), (4, 4))

    def test_events_dedup(self):
        """Test that events sent again are answered as duplicates and stored
        once, and that a batch sent again is a 409 that changes nothing."""
        events = [self.event(), self.event(uid="DEADBEEF01")]
        batch_id = new_uuid()
        self.ok(self.push(events, batch_id=batch_id))
        before = self.state()
        self.assertError(self.push(events, batch_id=batch_id), 409, "replayed_batch")
        self.assertEqual(self.state(), before)
        again = self.ok(self.push([events[1], self.event(), events[0]]))
        self.assertEqual(
            [r["status"] for r in again["results"]], ["duplicate", "accepted", "duplicate"]
        )
        self.assertEqual(
            self.env["multipas.device.event"].search_count(
                [("uuid", "in", [e["uuid"] for e in events])]
            ),
            2,
        )

    def test_events_same_uuid_twice_in_one_batch(self):
        """Test that an event repeated inside one batch is stored once."""
        event = self.event()
        body = self.ok(self.push([event, dict(event)]))
        self.assertEqual([r["status"] for r in body["results"]], ["accepted", "duplicate"])
        self.assertEqual(
            self.env["multipas.device.event"].search_count([("uuid", "=", event["uuid"])]), 1
        )

    def test_events_same_batch_id_from_another_device(self):
        """Test that batch ids are per device: B's batch with A's batch id is new."""
        batch_id = new_uuid()
        self.ok(self.push([self.event()], batch_id=batch_id))
        self.ok(self.push([self.event(uid="A1B2C3D403")], batch_id=batch_id, key=self.key_b))

    def test_events_handler_failure_keeps_events(self):
        """Test that a handler refusing some events marks them failed without
        refusing the batch, and that the others are processed."""
        original = MultipasDeviceEvent._process_card_tap

        def refuse_deadbeef(events):
            if "DEADBEEF01" in events.mapped("uid"):
                raise UserError(events.env._("no DEADBEEF here"))
            return original(events)

        good, bad = self.event(), self.event(uid="DEADBEEF01")
        with patch.object(MultipasDeviceEvent, "_process_card_tap", refuse_deadbeef):
            self.ok(self.push([good, bad]))
        Event = self.env["multipas.device.event"]
        good_event = Event.search([("uuid", "=", good["uuid"])])
        bad_event = Event.search([("uuid", "=", bad["uuid"])])
        self.assertEqual((good_event.state, good_event.card_id), ("done", self.card_a1))
        self.assertEqual((bad_event.state, bad_event.error), ("failed", "no DEADBEEF here"))
        bad_event.with_user(self.user_manager).action_process_again()
        self.assertEqual(bad_event.state, "done")

    def test_event_kinds_are_extensible(self):
        """Test that a kind added to the registry is accepted with its own
        data schema, handled by its handler and published in the document."""
        Event = type(self.env["multipas.device.event"])
        original = Event._get_event_kinds
        handled = []

        def kinds(self):
            result = original(self)
            result["door_test"] = {
                "label": "Door test",
                "description": "A test kind.",
                "data_schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["door"],
                    "properties": {"door": {"type": "string", "enum": ["open", "closed"]}},
                },
                "process": "_process_door_test",
            }
            return result

        def process(self):
            handled.extend(self.mapped("uuid"))
            self._link_cards()

        with (
            patch.object(Event, "_get_event_kinds", kinds),
            patch.object(Event, "_process_door_test", process, create=True),
        ):
            document = self.ok(self.api("GET", "/openapi.json", auth=False))
            self.assertIn("Event_door_test", document["components"]["schemas"])
            event = self.event(kind="door_test", data={"door": "open"})
            self.ok(self.push([event]))
            self.assertEqual(handled, [event["uuid"]])
            stored = self.env["multipas.device.event"].search([("uuid", "=", event["uuid"])])
            self.assertEqual(
                (stored.kind, stored.data, stored.card_id),
                ("door_test", {"door": "open"}, self.card_a1),
            )
            message = self.assertError(
                self.push([self.event(kind="door_test", data={"door": "ajar"})]), 400, "bad_request"
            )
            self.assertIn("events[0].data.door", message)
        message = self.assertError(
            self.push([self.event(kind="door_test", data={"door": "open"})]), 400, "bad_request"
        )
        self.assertIn("door_test", message)

    # === THE TECHNICAL USER === #

    def test_technical_user_cannot_log_in(self):
        """Test that a device's technical user is inactive, of no user type,
        and can't log in, not even with the device key as a password (the
        same call logs a normal user in: the check sees the test data)."""
        tech = self.device_a.user_id
        self.assertFalse(tech.active)
        self.assertTrue(tech.share)
        self.assertTrue(tech.has_group("multipas_cards.group_device"))
        for group in ("base.group_user", "base.group_portal", "base.group_public"):
            self.assertFalse(tech.has_group(group), group)

        def login(user_login, password):
            return self.env["res.users"].authenticate(
                self.env.cr.dbname,
                {"login": user_login, "password": password, "type": "password"},
                {"interactive": False},
            )

        self.env.flush_all()
        self.assertEqual(
            login(self.user_clerk.login, self.user_clerk.login)["uid"], self.user_clerk.id
        )
        for password in (self.key_a, self.key_a[:12], tech.login):
            with self.assertRaises(AccessDenied):
                login(tech.login, password)

    # === DOCUMENT, METHODS, PATHS === #

    def test_openapi_document(self):
        """Test that the document is served without a key and that the file
        shipped in static/ is the document of this addon's event kinds."""
        response = self.api("GET", "/openapi.json", auth=False)
        document = self.ok(response)
        self.assertEqual(document["openapi"], "3.0.3")
        self.assertEqual(
            set(document["paths"]),
            {"/heartbeat", "/allowlist", "/cards/{uid}", "/events", "/openapi.json"},
        )
        self.assertEqual(
            STATIC_DOCUMENT.read_text(encoding="utf-8"),
            dump_document(openapi_document(CORE_EVENT_KINDS)),
            "static/openapi/device_api_v1.json is out of date: write "
            "dump_document(openapi_document(CORE_EVENT_KINDS)) into it",
        )
        for name, schema in document["components"]["schemas"].items():
            if schema.get("type") == "object" and name != "Error":
                with self.subTest(schema=name):
                    self.assertIs(schema.get("additionalProperties"), False)

    def test_wrong_method_and_unknown_path(self):
        """Test that a wrong method is a JSON 405 naming the allowed one, and
        an unknown path under the API a JSON 404, even without a key."""
        response = self.api("GET", "/heartbeat", auth=False)
        self.assertError(response, 405, "method_not_allowed")
        self.assertEqual(response.headers["Allow"], "POST")
        self.assertError(self.api("DELETE", "/events"), 405, "method_not_allowed")
        self.assertError(self.api("GET", "/nothing/here"), 404, "not_found")
        self.assertError(self.api("GET", "/cards/"), 404, "not_found")


@tagged("post_install", "-at_install", "multipas_device")
class TestDeviceApiRefusals(DeviceApiCommon):
    """Every refusal is a JSON error with its code and changes nothing."""

    def assertRefused(self, response, status, code, before):
        message = self.assertError(response, status, code)
        self.assertEqual(self.state(), before, "a refused request changed something")
        return message

    def test_bad_heartbeats(self):
        """Test that malformed heartbeats are refused with 400 (413 when too
        large) and change nothing."""
        good = {"version": "0.1.0", "queue_depth": 0}
        cases = {
            "unknown field": dict(good, uptime=5),
            "missing field": {"version": "0.1.0"},
            "string depth": dict(good, queue_depth="3"),
            "float depth": dict(good, queue_depth=1.5),
            "bool depth": dict(good, queue_depth=True),
            "negative depth": dict(good, queue_depth=-1),
            "huge depth": dict(good, queue_depth=2**40),
            "null version": dict(good, version=None),
            "empty version": dict(good, version=""),
            "long version": dict(good, version="1" * 33),
            "control char": dict(good, version="0.1\n"),
            "reader unknown field": dict(
                good, readers=[{"name": "r", "kind": "pcsc", "state": "ok", "x": 1}]
            ),
            "reader bad state": dict(good, readers=[{"name": "r", "kind": "pcsc", "state": "on"}]),
            "readers not a list": dict(good, readers={"name": "r"}),
            "not an object": [good],
        }
        before = self.state()
        for name, body in cases.items():
            with self.subTest(case=name):
                self.assertRefused(self.api("POST", "/heartbeat", body), 400, "bad_request", before)
        raw_cases = {
            "not JSON": b"{version: 1}",
            "NaN": b'{"version": "1", "queue_depth": NaN}',
            "duplicate key": b'{"version": "1", "version": "2", "queue_depth": 0}',
            "NUL in text": b'{"version": "1\\u0000", "queue_depth": 0}',
            "lone surrogate": b'{"version": "\\ud800", "queue_depth": 0}',
            "not UTF-8": b'{"version": "\xff", "queue_depth": 0}',
            "empty": b"",
            "deep": b"[" * 100000 + b"]" * 100000,
        }
        for name, raw in raw_cases.items():
            with self.subTest(case=name):
                self.assertRefused(
                    self.api("POST", "/heartbeat", raw=raw), 400, "bad_request", before
                )
        with self.subTest(case="content type"):
            response = self.api(
                "POST",
                "/heartbeat",
                raw=json.dumps(good),
                headers={"Content-Type": "text/plain"},
            )
            self.assertRefused(response, 400, "bad_request", before)
        with self.subTest(case="query string"):
            self.assertRefused(
                self.api("POST", "/heartbeat?debug=1", good), 400, "bad_request", before
            )
        with self.subTest(case="too large"):
            big = dict(good, version="1", padding="x" * (1024 * 1024))
            self.assertRefused(self.api("POST", "/heartbeat", big), 413, "too_large", before)

    def test_bad_event_batches(self):
        """Test that a malformed batch is refused as a whole, naming the field,
        and stores nothing, not even its valid events."""
        before = self.state()
        cases = {
            "unknown top field": ({"extra": 1}, "extra"),
            "bad batch id": ({"batch_id": "not-a-uuid"}, "batch_id"),
            "no events": ({"events": []}, "events"),
            "unknown event field": (
                {"events": [self.event(), self.event(extra=1)]},
                "events[1].extra",
            ),
            "unknown data field": ({"events": [self.event(data={"x": 1})]}, "events[0].data.x"),
            "data not object": ({"events": [self.event(data=[])]}, "events[0].data"),
            "bad uuid": ({"events": [self.event(uuid="1234")]}, "events[0].uuid"),
            "uuid braces": (
                {"events": [self.event(uuid="{" + new_uuid() + "}")]},
                "events[0].uuid",
            ),
            "bad timestamp": ({"events": [self.event(at="yesterday")]}, "events[0].at"),
            "timestamp no zone": (
                {"events": [self.event(at="2026-11-25T09:00:00")]},
                "events[0].at",
            ),
            "impossible date": (
                {"events": [self.event(at="2026-02-30T09:00:00Z")]},
                "events[0].at",
            ),
            "space timestamp": (
                {"events": [self.event(at="2026-11-25 09:00:00Z")]},
                "events[0].at",
            ),
            "non-hex uid": ({"events": [self.event(uid="A1B2C3ZZ")]}, "events[0].uid"),
            "odd uid": ({"events": [self.event(uid="A1B2C3D")]}, "events[0].uid"),
            "uid with colons": ({"events": [self.event(uid="A1:B2:C3:D4")]}, "events[0].uid"),
            "unknown kind": ({"events": [self.event(kind="teleport")]}, "events[0].kind"),
            "kind not a string": ({"events": [self.event(kind=1)]}, "events[0].kind"),
            "missing at": (
                {"events": [{k: v for k, v in self.event().items() if k != "at"}]},
                "events[0].at",
            ),
            "event not object": ({"events": [self.event(), "tap"]}, "events[1]"),
            "empty reader": ({"events": [self.event(reader="")]}, "events[0].reader"),
        }
        for name, (change, field) in cases.items():
            with self.subTest(case=name):
                body = dict({"batch_id": new_uuid(), "events": [self.event()]}, **change)
                message = self.assertRefused(
                    self.api("POST", "/events", body), 400, "bad_request", before
                )
                self.assertTrue(message.startswith(field + ":"), message)
        with self.subTest(case="501 events"):
            events = [self.event() for _i in range(501)]
            self.assertRefused(self.push(events), 413, "too_large", before)
        with self.subTest(case="500 events are fine"):
            self.ok(self.push([self.event() for _i in range(500)]))

    def test_bad_queries(self):
        """Test that bad allow-list parameters and card UIDs are 400s."""
        before = self.state()
        for query in (
            "since=-1",
            "since=abc",
            "since=1.5",
            "since=%2B1",
            "since=99999999999999999999",
            "limit=0",
            "limit=5001",
            "limit=",
            "since=1&since=2",
            "cursor=1",
        ):
            with self.subTest(query=query):
                self.assertRefused(
                    self.api("GET", f"/allowlist?{query}"), 400, "bad_request", before
                )
        self.assertRefused(self.api("GET", "/cards/A1B2C3D401?x=1"), 400, "bad_request", before)

    def test_keys(self):
        """Test that a missing, malformed, unknown, revoked or archived
        device's key is a 401 on every route, and that rotating a key stops
        the old one."""
        before = self.state()
        routes = [
            ("POST", "/heartbeat", {"version": "1", "queue_depth": 0}),
            ("GET", "/allowlist", None),
            ("GET", "/cards/A1B2C3D401", None),
            ("POST", "/events", {"batch_id": new_uuid(), "events": [self.event()]}),
        ]

        def refused_everywhere(**kwargs):
            for method, path, body in routes:
                with self.subTest(path=path, **{k: str(v)[:20] for k, v in kwargs.items()}):
                    response = self.api(method, path, body, **kwargs)
                    self.assertRefused(response, 401, "unauthorized", before)
                    self.assertIn("Bearer", response.headers["WWW-Authenticate"])

        refused_everywhere(auth=False)
        refused_everywhere(headers={"Authorization": f"Basic {self.key_a}"})
        refused_everywhere(key=self.key_a[:-1] + ("A" if self.key_a[-1] != "A" else "B"))
        refused_everywhere(key="mpd_" + "x" * 43)

        old_key = self.key_a
        self.key_a = self._generate_key(self.device_a)
        self.assertNotEqual(old_key, self.key_a)
        refused_everywhere(key=old_key)
        self.ok(self.api("GET", "/allowlist"))

        self.device_a.with_user(self.user_manager).action_revoke_key()
        refused_everywhere()
        self.ok(self.api("GET", "/allowlist", key=self.key_b))
        self.device_b.active = False
        refused_everywhere(key=self.key_b)
