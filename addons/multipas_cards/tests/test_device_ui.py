import uuid

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import MultipasCommon
from .test_ui import BrowserFormsMixin


@tagged("post_install", "-at_install", "multipas_ui", "multipas_device")
class TestDeviceUi(BrowserFormsMixin, MultipasCommon, HttpCase):
    """The device forms and the key wizard in a real browser (the lists,
    pivot and filters are walked by the click-everywhere test of test_ui)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.device = cls.env["multipas.device"].create(
            {"name": "UI turnstile", "school_id": cls.school_a.id}
        )
        cls.device.with_user(cls.user_manager).action_generate_key()
        cls.device.with_user(cls.device.user_id)._api_heartbeat(
            {
                "version": "0.1.0",
                "queue_depth": 2,
                "readers": [{"name": "pcsc-0", "kind": "pcsc", "state": "ok"}],
            }
        )
        cls.env["multipas.device.event"]._api_ingest(
            cls.device,
            str(uuid.uuid4()),
            [
                {
                    "uuid": str(uuid.uuid4()),
                    "kind": "card_tap",
                    "uid": "A1B2C3D401",
                    "at": fields.Datetime.now(),
                    "reader": "pcsc-0",
                    "data": {},
                }
            ],
        )
        cls.event = cls.env["multipas.device.event"].search([("device_id", "=", cls.device.id)])
        cls.device_new = cls.env["multipas.device"].create(
            {"name": "UI till without key", "school_id": cls.school_a.id, "kind": "till"}
        )

    def test_device_forms_operator_manager(self):
        """Test that a manager opens a device and its events, an event, and
        the wizard that shows a new key."""
        self._open_forms(
            self.user_manager,
            [
                (self.device, {"stat": ["action_open_events"]}),
                (self.event, {}),
                (self.device_new, {"wizards": ["action_generate_key"]}),
            ],
        )

    def test_device_forms_coordinator(self):
        """Test that a coordinator opens their school's device and its event
        read-only (no key button)."""
        self._open_forms(
            self.user_coordinator,
            [(self.device, {"stat": ["action_open_events"]}), (self.event, {})],
        )
