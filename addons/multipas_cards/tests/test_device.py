import uuid
from datetime import timedelta

import tomllib

from odoo import fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from ..models.multipas_device import key_digest
from ..models.multipas_portal_tools import operator_manager
from .common import MultipasCommon


@tagged("post_install", "-at_install", "multipas_device")
class TestDevice(MultipasCommon):
    """Devices as the operator manages them: keys, silence warnings, limits."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.device = cls.env["multipas.device"].create(
            {"name": "Model turnstile", "school_id": cls.school_a.id, "silent_after": 15}
        )
        cls.silent_type = cls.env.ref("multipas_cards.mail_activity_device_silent")

    def _generate_key(self, device=None):
        device = device or self.device
        return device.with_user(self.user_manager).action_generate_key()["context"]["default_key"]

    def _silent_activities(self, device=None):
        device = device or self.device
        return self.env["mail.activity"].search(
            [
                ("res_model", "=", "multipas.device"),
                ("res_id", "=", device.id),
                ("activity_type_id", "=", self.silent_type.id),
            ]
        )

    def _heartbeat(self, device=None):
        device = device or self.device
        device.with_user(device.user_id)._api_heartbeat({"version": "0.2.0", "queue_depth": 0})

    # === KEYS === #

    def test_key_is_stored_as_digest_only(self):
        """Test that a generated key is shown once and only its digest and
        prefix are stored; the wizard is never saved."""
        wizards_before = self.env["multipas.device.key.wizard"].search_count([])
        key = self._generate_key()
        self.assertRegex(key, r"^mpd_[A-Za-z0-9_\-]{43}$")
        self.assertEqual(self.device.key_state, "active")
        self.assertEqual(self.device.key_prefix, key[:12])
        self.assertEqual(self.device.sudo().key_hash, key_digest(key))
        self.assertTrue(self.device.key_date)
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT count(*) FROM multipas_device WHERE row_to_json(multipas_device)::text LIKE %s",
            [f"%{key[12:]}%"],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0, "the key is stored in clear")
        self.assertEqual(self.env["multipas.device.key.wizard"].search_count([]), wizards_before)
        self.assertIn(key[:12], self.device.message_ids[0].body)

    def test_key_dialog_offers_the_box_configuration(self):
        """Test that the key dialog gives a configuration file for the device's
        box that names this server and the key file, never the key itself."""
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://odoo.mptest")
        self.device.name = 'Main "entrance" \\ east'
        action = self.device.with_user(self.user_manager).action_generate_key()
        wizard = (
            self.env[action["res_model"]]
            .with_user(self.user_manager)
            .with_context(**action["context"])
            .create({})
        )
        key = action["context"]["default_key"]
        self.assertEqual(wizard.key, key)
        self.assertNotIn(key, wizard.box_config)
        config = tomllib.loads(wizard.box_config)
        self.assertEqual(config["box"]["name"], 'Main "entrance" \\ east')
        self.assertEqual(
            config["server"], {"url": "https://odoo.mptest", "key_file": "/etc/multipas-box/key"}
        )
        self.assertEqual(
            config["reader"],
            [
                {
                    "name": "pcsc-0",
                    "kind": "pcsc",
                    "role": "turnstile",
                    "direction": "in",
                    "output": "relay-0",
                }
            ],
        )
        self.assertEqual(config["output"][0]["name"], "relay-0")
        # a till's box has a till reader and no relay
        till = self.env["multipas.device"].create(
            {"name": "Till", "kind": "till", "school_id": self.school_a.id}
        )
        wizard.device_id = till
        config = tomllib.loads(wizard.box_config)
        self.assertEqual([r["role"] for r in config["reader"]], ["till"])
        self.assertNotIn("output", config)
        # in the user's language
        self.env["res.lang"]._activate_lang("ru_RU")
        self.assertIn(
            "Сохраните",
            wizard.with_context(lang="ru_RU").with_user(self.user_manager)._box_config("x"),
        )

    def test_authenticate_bearer(self):
        """Test that the bearer check finds the device by its key only, and
        not once the key is rotated or revoked."""
        Device = self.env["multipas.device"].sudo()
        key = self._generate_key()
        self.assertEqual(Device._authenticate_bearer(f"Bearer {key}"), self.device)
        self.assertEqual(Device._authenticate_bearer(f"bearer   {key}"), self.device)
        for header in (None, "", key, f"Basic {key}", f"Bearer {key}x", f"Bearer {key[:-1]}"):
            with self.subTest(header=header):
                self.assertFalse(Device._authenticate_bearer(header))
        new_key = self._generate_key()
        self.assertFalse(Device._authenticate_bearer(f"Bearer {key}"))
        self.assertEqual(Device._authenticate_bearer(f"Bearer {new_key}"), self.device)
        self.device.with_user(self.user_manager).action_revoke_key()
        self.assertEqual(self.device.key_state, "revoked")
        self.assertFalse(self.device.sudo().key_hash)
        self.assertFalse(Device._authenticate_bearer(f"Bearer {new_key}"))
        with self.assertRaises(UserError):
            self.device.with_user(self.user_manager).action_revoke_key()

    def test_archived_device_gets_no_key(self):
        """Test that an archived device can't be given a key."""
        self.device.active = False
        with self.assertRaises(UserError):
            self._generate_key()

    # === SILENCE === #

    def test_silent_device_raises_one_activity(self):
        """Test that a device silent past its threshold raises one activity
        (not one per run of the check), which its next heartbeat closes."""
        Device = self.env["multipas.device"]
        self._generate_key()
        self._heartbeat()
        self.assertEqual(self.device.status, "online")
        Device._cron_check_silent()
        self.assertFalse(self._silent_activities(), "a device that just reported is not silent")

        self.device.last_seen = fields.Datetime.now() - timedelta(minutes=16)
        Device._cron_check_silent()
        Device._cron_check_silent()
        activity = self._silent_activities()
        self.assertEqual(len(activity), 1)
        self.assertEqual(self.device.status, "silent")
        self.assertTrue(activity.user_id.has_group("multipas_cards.group_operator_manager"))
        self.assertIn("Model turnstile", activity.note)

        self._heartbeat()
        self.assertFalse(self._silent_activities())
        self.assertEqual(self.device.status, "online")
        done = self.env["mail.message"].search(
            [
                ("model", "=", "multipas.device"),
                ("res_id", "=", self.device.id),
                ("mail_activity_type_id", "=", self.silent_type.id),
            ]
        )
        self.assertEqual(len(done), 1, "the activity is marked done, not deleted")

    def test_silent_device_warning_in_the_managers_language(self):
        """Test that the scheduled check writes its warning in the language of
        the manager who receives it, not in its own."""
        self.env["res.lang"]._activate_lang("ru_RU")
        manager = operator_manager(self.env)
        manager.lang = "ru_RU"
        self._generate_key()
        self.device.last_seen = fields.Datetime.now() - timedelta(minutes=16)
        self.env["multipas.device"].with_context(lang="en_US")._cron_check_silent()
        activity = self._silent_activities()
        self.assertEqual(activity.user_id, manager)
        self.assertEqual(activity.summary, "Устройство не на связи")
        self.assertIn("Model turnstile", activity.note)
        self.assertIn("не выходит на связь", activity.note)

    def test_silence_threshold_per_device(self):
        """Test that each device has its own threshold, and that a device
        that never reported counts from its key's creation."""
        Device = self.env["multipas.device"]
        patient = Device.create(
            {"name": "Patient till", "school_id": self.school_a.id, "silent_after": 60}
        )
        self._generate_key()
        self._generate_key(patient)
        twenty_minutes_ago = fields.Datetime.now() - timedelta(minutes=20)
        (self.device | patient).write({"key_date": twenty_minutes_ago})
        Device._cron_check_silent()
        self.assertEqual(len(self._silent_activities()), 1)
        self.assertFalse(self._silent_activities(patient))
        self.assertEqual(patient.status, "never")

    def test_devices_without_key_are_not_watched(self):
        """Test that a device without a key raises nothing, and that revoking
        the key or archiving the device closes its warning."""
        Device = self.env["multipas.device"]
        self.device.last_seen = fields.Datetime.now() - timedelta(days=1)
        Device._cron_check_silent()
        self.assertFalse(self._silent_activities())
        self._generate_key()
        self.device.last_seen = fields.Datetime.now() - timedelta(days=1)
        Device._cron_check_silent()
        self.assertTrue(self._silent_activities())
        self.device.with_user(self.user_manager).action_revoke_key()
        self.assertFalse(self._silent_activities())

        other = Device.create({"name": "Other", "school_id": self.school_a.id})
        self._generate_key(other)
        other.key_date = fields.Datetime.now() - timedelta(days=1)
        Device._cron_check_silent()
        self.assertTrue(self._silent_activities(other))
        other.active = False
        self.assertFalse(self._silent_activities(other))

    # === LIFE CYCLE === #

    def test_technical_user_follows_the_device(self):
        """Test that each device gets its own technical user, renamed with it
        and removed with it."""
        user = self.device.user_id
        self.assertTrue(user)
        self.assertFalse(user.active)
        self.assertFalse(user.partner_id.active)
        other = self.env["multipas.device"].create({"name": "Other", "school_id": self.school_a.id})
        self.assertNotEqual(other.user_id, user)
        self.device.name = "Renamed turnstile"
        self.assertIn("Renamed turnstile", user.name)
        self.device.unlink()
        self.assertFalse(user.exists())

    def test_technical_user_must_stay_technical(self):
        """Test that a device can't be given an ordinary user as its identity."""
        with self.assertRaises(ValidationError):
            self.device.user_id = self.user_clerk

    def test_device_with_events_is_kept(self):
        """Test that a device that sent events can't be deleted nor moved to
        another school, and that a device with a key can't be moved either."""
        self._generate_key()
        with self.assertRaises(UserError):
            self.device.school_id = self.school_b
        self.device.with_user(self.user_manager).action_revoke_key()
        self.env["multipas.device.event"]._api_ingest(
            self.device,
            str(uuid.uuid4()),
            [
                {
                    "uuid": str(uuid.uuid4()),
                    "kind": "card_tap",
                    "uid": "A1B2C3D401",
                    "at": fields.Datetime.now(),
                    "reader": None,
                    "data": {},
                }
            ],
        )
        with self.assertRaises(UserError):
            self.device.school_id = self.school_b
        with self.assertRaises(UserError):
            self.device.unlink()
        self.device.active = False
        self.assertFalse(self.device.active)

    def test_new_device_may_change_school(self):
        """Test that a device without key nor events may still be moved."""
        self.device.school_id = self.school_b
        self.assertEqual(self.device.company_id, self.school_b.company_id)

    # === BATCH RETENTION === #

    def _ingest(self, batch_uuid, event_uuids):
        return (
            self.env["multipas.device.event"]
            .with_user(self.device.user_id)
            ._api_ingest(
                self.device,
                batch_uuid,
                [
                    {
                        "uuid": event_uuid,
                        "kind": "card_tap",
                        "uid": "A1B2C3D401",
                        "at": fields.Datetime.now(),
                        "reader": None,
                        "data": {},
                    }
                    for event_uuid in event_uuids
                ],
            )
        )

    def test_old_batches_forgotten_events_kept(self):
        """Test that the nightly purge forgets batches past the retention
        period only, keeps their events, and that a forgotten batch sent
        again stores nothing twice (each event answers "duplicate")."""
        Batch = self.env["multipas.device.batch"]
        old_events = [str(uuid.uuid4()) for _i in range(3)]
        old_batch, new_batch = str(uuid.uuid4()), str(uuid.uuid4())
        self._ingest(old_batch, old_events)
        self._ingest(new_batch, [str(uuid.uuid4())])
        self.env["ir.config_parameter"].set_param(
            "multipas_cards.device_batch_retention_days", "30"
        )
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE multipas_device_batch SET received_at = received_at - interval '31 days' "
            "WHERE uuid = %s",
            [old_batch],
        )
        Batch.invalidate_model()
        self.assertEqual(Batch._cron_purge_old_batches(), 1)
        self.assertFalse(Batch.search([("uuid", "=", old_batch)]))
        self.assertTrue(Batch.search([("uuid", "=", new_batch)]))
        events = self.env["multipas.device.event"].search([("uuid", "in", old_events)])
        self.assertEqual(len(events), 3)
        # the box never heard the answer and sends the old batch again
        self.assertEqual(
            self._ingest(old_batch, old_events), [(u, "duplicate") for u in old_events]
        )
        self.assertEqual(
            self.env["multipas.device.event"].search_count([("uuid", "in", old_events)]), 3
        )
        # the recent batch is still recognised as a whole
        self.assertIsNone(self._ingest(new_batch, [str(uuid.uuid4())]))

    def test_batch_retention_setting_checked(self):
        """Test that a retention setting that is not a whole number of days
        ≥ 1 falls back to 90 days instead of purging everything."""
        Batch = self.env["multipas.device.batch"]
        for raw in ("0", "-5", "soon", ""):
            with self.subTest(raw=raw):
                self.env["ir.config_parameter"].set_param(
                    "multipas_cards.device_batch_retention_days", raw
                )
                self.assertEqual(Batch._retention_days(), 90)
        self._ingest(str(uuid.uuid4()), [str(uuid.uuid4())])
        self.env["ir.config_parameter"].set_param("multipas_cards.device_batch_retention_days", "0")
        self.assertEqual(Batch._cron_purge_old_batches(), 0)
