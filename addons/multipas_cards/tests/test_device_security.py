import uuid

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .test_security import MultipasSecurityCommon


@tagged("post_install", "-at_install", "multipas_security", "multipas_device")
class TestDeviceSecurity(MultipasSecurityCommon):
    """Who sees devices and their events, and what a device's technical user
    (the identity the device API runs as) can reach through the ORM."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Device = cls.env["multipas.device"]
        cls.device_a = Device.create({"name": "Sec turnstile A", "school_id": cls.school_a.id})
        cls.device_b = Device.create(
            {"name": "Sec till B", "school_id": cls.school_b.id, "kind": "till"}
        )
        cls.devices = cls.device_a | cls.device_b
        cls.tech_a = cls.device_a.user_id
        Event = cls.env["multipas.device.event"]
        Event._api_ingest(
            cls.device_a,
            str(uuid.uuid4()),
            [cls._event("A1B2C3D401")],
        )
        Event._api_ingest(
            cls.device_b,
            str(uuid.uuid4()),
            [cls._event("A1B2C3D403")],
        )
        cls.event_a = Event.search([("device_id", "=", cls.device_a.id)])
        cls.event_b = Event.search([("device_id", "=", cls.device_b.id)])
        cls.events = cls.event_a | cls.event_b

    @classmethod
    def _event(cls, uid):
        return {
            "uuid": str(uuid.uuid4()),
            "kind": "card_tap",
            "uid": uid,
            "at": cls.env.cr.now().replace(tzinfo=None),
            "reader": "pcsc-0",
            "data": {},
        }

    # === THE TECHNICAL USER === #

    def test_technical_user_reaches_its_school_only(self):
        """Test that the technical user sees its device, its school and that
        school's cards, and nothing of the other school."""
        tech = self.tech_a
        self.assertSearchSees(tech, self.devices, self.device_a)
        self.assertSearchSees(tech, self.schools, self.school_a)
        self.assertSearchSees(tech, self.cards, self.card_a1 | self.card_a2 | self.reserve_a)
        self.assertSearchSees(tech, self.events, self.event_a)
        self.assertCannotRead(tech, self.device_b, ["name"])
        self.assertCannotRead(tech, self.school_b, ["name"])
        self.assertCannotRead(tech, self.card_b | self.reserve_b, ["uid", "number"])
        self.assertCannotRead(tech, self.event_b, ["uid"])

    def test_technical_user_reads_no_person_nor_money(self):
        """Test that the technical user can't read cardholders, their
        partners, guardians, classes, personal accounts, ledger entries or users."""
        tech = self.tech_a
        forbidden = [
            self.pupil_a1,
            self.pupil_a1.partner_id,
            self.user_guardian_a.partner_id,
            self.class_a1,
            self.account_a1,
            self.entry_a1,
            self.user_manager,
        ]
        for record in forbidden:
            with self.subTest(model=record._name):
                with self.assertRaises(AccessError):
                    self.env[record._name].with_user(tech).search([("id", "=", record.id)])
                with self.assertRaises(AccessError):
                    record.with_user(tech).read(["display_name"])
        with self.assertRaises(AccessError):
            self.card_a1.with_user(tech).holder_id.name  # noqa: B018

    def test_technical_user_writes_nothing(self):
        """Test that the technical user can't change its device, a card, or
        create an event in another device's name."""
        tech = self.tech_a
        with self.assertRaises(AccessError):
            self.device_a.with_user(tech).write({"name": "Renamed"})
        with self.assertRaises(AccessError):
            self.device_a.with_user(tech).action_generate_key()
        with self.assertRaises(AccessError):
            self.card_a1.with_user(tech).write({"number": "X"})
        Event = self.env["multipas.device.event"].with_user(tech)
        with self.assertRaises(AccessError):
            Event.create(
                {
                    "uuid": str(uuid.uuid4()),
                    "device_id": self.device_b.id,
                    "school_id": self.school_b.id,
                    "company_id": self.company.id,
                    "kind": "card_tap",
                    "at": "2026-11-25 09:00:00",
                    "received_at": "2026-11-25 09:00:00",
                }
            )

    # === PEOPLE === #

    def test_coordinator_sees_own_school_devices_read_only(self):
        """Test that a coordinator sees the devices and events of their
        school only, and can't change them or manage keys."""
        coordinator = self.user_coordinator
        self.assertSearchSees(coordinator, self.devices, self.device_a)
        self.assertSearchSees(coordinator, self.events, self.event_a)
        self.assertCannotRead(coordinator, self.device_b, ["name"])
        self.assertCannotRead(coordinator, self.event_b, ["uid"])
        self.device_a.with_user(coordinator).read(["name", "status", "last_seen", "key_state"])
        with self.assertRaises(AccessError):
            self.device_a.with_user(coordinator).write({"name": "Mine now"})
        with self.assertRaises(AccessError):
            self.env["multipas.device"].with_user(coordinator).create(
                {"name": "New", "school_id": self.school_a.id}
            )
        with self.assertRaises(AccessError):
            self.device_a.with_user(coordinator).action_generate_key()
        with self.assertRaises(AccessError):
            self.device_a.with_user(coordinator).read(["key_hash"])
        with self.assertRaises(AccessError):
            self.device_a.with_user(coordinator).read(["user_id"])

    def test_clerk_sees_all_devices_read_only(self):
        """Test that an operator clerk sees every device and event, read only."""
        self.assertSearchSees(self.user_clerk, self.devices, self.devices)
        self.assertSearchSees(self.user_clerk, self.events, self.events)
        with self.assertRaises(AccessError):
            self.device_a.with_user(self.user_clerk).write({"name": "Renamed"})
        with self.assertRaises(AccessError):
            self.device_a.with_user(self.user_clerk).action_generate_key()

    def test_others_see_no_device(self):
        """Test that portal users, guardians, teachers, cashiers and plain
        internal users can't read devices or their events."""
        for user in (
            self.user_portal,
            self.user_guardian_a,
            self.user_teacher,
            self.user_cashier,
            self.user_internal,
        ):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    self.env["multipas.device"].with_user(user).search([])
                with self.assertRaises(AccessError):
                    self.env["multipas.device.event"].with_user(user).search([])
                with self.assertRaises(AccessError):
                    self.env["multipas.device.batch"].with_user(user).search([])

    def test_manager_manages_keys(self):
        """Test that an operator manager creates devices, generates and revokes keys."""
        device = (
            self.env["multipas.device"]
            .with_user(self.user_manager)
            .create({"name": "Kiosk", "school_id": self.school_b.id, "kind": "kiosk"})
        )
        action = device.action_generate_key()
        self.assertTrue(action["context"]["default_key"].startswith("mpd_"))
        self.assertEqual(device.key_state, "active")
        device.action_revoke_key()
        self.assertEqual(device.key_state, "revoked")
