"""Demo devices: a turnstile and a canteen till per demo school, without
keys (the operator generates them, and sees each only once), and a few card
taps they reported."""

import random
import uuid
from datetime import timedelta

from odoo import api, fields, models

from .multipas_demo import DEMO_CONTEXT, SCHOOL_PLANS

DEMO_DEVICES = [
    {"kind": "turnstile", "name": "Турникет, главный вход", "location": "Главный вход, 1 этаж"},
    {"kind": "till", "name": "Касса столовой", "location": "Столовая, 1 этаж"},
]
DEMO_NAMESPACE = uuid.UUID("6f1c2d7e-0c59-4d8e-9a35-3a1f0e6b8d21")
TAPS_PER_DEVICE = 6


class MultipasDemo(models.AbstractModel):
    _inherit = "multipas.demo"

    @api.model
    def _generate_demo(self, *args, **kwargs):
        result = super()._generate_demo(*args, **kwargs)
        self._generate_demo_devices()
        return result

    @api.model
    def _generate_demo_devices(self, seed=108):
        """Create the demo devices and their card taps; does nothing when the
        demo schools already have devices."""
        env = self.with_context(**DEMO_CONTEXT).env
        schools = env["multipas.school"].browse(
            [env.ref(plan["school"]).id for plan in SCHOOL_PLANS]
        )
        Device = env["multipas.device"]
        if Device.with_context(active_test=False).search_count(
            [("school_id", "in", schools.ids)], limit=1
        ):
            return
        rng = random.Random(seed)
        now = fields.Datetime.now().replace(microsecond=0)
        for school in schools:
            devices = Device.create(
                [dict(spec, school_id=school.id, silent_after=15) for spec in DEMO_DEVICES]
            )
            cards = env["multipas.card"].search(
                [("school_id", "=", school.id), ("state", "=", "issued")], order="id", limit=200
            )
            for device in devices:
                taps = []
                for index in range(TAPS_PER_DEVICE):
                    # The last tap of each device is a card the school doesn't know.
                    uid = cards[rng.randrange(len(cards))].uid if cards else None
                    if index == TAPS_PER_DEVICE - 1 or not uid:
                        uid = "04%08X" % rng.getrandbits(32)
                    name = f"{school.code}-{device.kind}-{index}"
                    taps.append(
                        {
                            "uuid": str(uuid.uuid5(DEMO_NAMESPACE, name)),
                            "kind": "card_tap",
                            "uid": uid,
                            "at": now - timedelta(hours=rng.randint(1, 72), seconds=index),
                            "reader": "pcsc-0",
                            "data": {},
                        }
                    )
                batch = str(uuid.uuid5(DEMO_NAMESPACE, f"{school.code}-{device.kind}-batch"))
                env["multipas.device.event"]._api_ingest(device, batch, taps)
