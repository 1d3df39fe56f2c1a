"""PC/SC readers against a real pcscd + vpcd and our own virtual card."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conftest import make_config, wait_for

from multipas_box.config import ReaderConfig
from multipas_box.readers.pcsc import PcscReader
from multipas_box.testing import CARD_GAP as GAP
from multipas_box.testing import Pcscd
from multipas_box.vcard import GET_UID, VirtualCard


class Collector:
    def __init__(self) -> None:
        self.uids: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, reader: object, uid: str) -> None:
        with self.lock:
            self.uids.append(uid)


def make_reader(pcscd: Pcscd, sink: Collector, **kw: object) -> PcscReader:
    cfg = ReaderConfig(name="pcsc-0", kind="pcsc", match=pcscd.reader_name, debounce=0, poll=0.5)
    for key, value in kw.items():
        setattr(cfg, key, value)
    return PcscReader(cfg, sink)


def test_card_insert_yields_uid(pcscd: Pcscd) -> None:
    sink = Collector()
    reader = make_reader(pcscd, sink)
    reader.start()
    time.sleep(GAP)
    try:
        wait_for(lambda: reader.state == "ok")
        assert reader.device_name == pcscd.reader_name
        card = VirtualCard("04A1B2C3D4E5F6", port=pcscd.port)
        card.insert()
        wait_for(lambda: sink.uids == ["04A1B2C3D4E5F6"])
        assert GET_UID in card.apdus
        time.sleep(1.0)  # the card stays on the reader: still one tap
        assert sink.uids == ["04A1B2C3D4E5F6"]
        card.remove()
        time.sleep(GAP)
        other = VirtualCard("0A0B0C0D", port=pcscd.port)
        other.insert()
        wait_for(lambda: sink.uids == ["04A1B2C3D4E5F6", "0A0B0C0D"])
        other.remove()
        time.sleep(GAP)
        card.insert()  # the same card again is a new tap
        wait_for(lambda: len(sink.uids) == 3)
        assert sink.uids[-1] == "04A1B2C3D4E5F6"
        card.remove()
    finally:
        reader.stop()
        reader.join(5)
    assert reader.reads == 3


def test_reader_recovers_after_pcscd_restart(pcscd: Pcscd) -> None:
    sink = Collector()
    reader = make_reader(pcscd, sink)
    reader.start()
    time.sleep(GAP)  # the previous test's card must be gone for pcscd
    try:
        wait_for(lambda: reader.state == "ok")
        card = VirtualCard("11223344", port=pcscd.port)
        card.tap(0.8)
        wait_for(lambda: sink.uids == ["11223344"])
        pcscd.stop()
        # the old context is dead: the driver says so instead of dying with it
        wait_for(lambda: reader.state == "error", timeout=10)
        time.sleep(1.0)  # a few failed reconnects while pcscd is away
        pcscd.start()
        wait_for(lambda: reader.state == "ok", timeout=15)
        time.sleep(GAP)
        card2 = VirtualCard("55667788", port=pcscd.port)
        card2.insert()
        wait_for(lambda: sink.uids == ["11223344", "55667788"], timeout=10)
        card2.remove()
        assert reader._thread is not None and reader._thread.is_alive()
    finally:
        reader.stop()
        reader.join(5)


def test_reader_absent_when_no_match(pcscd: Pcscd) -> None:
    reader = make_reader(pcscd, Collector(), match="No Such Reader")
    reader.start()
    try:
        wait_for(lambda: reader.state == "absent" and "No Such Reader" in reader.detail)
    finally:
        reader.stop()
        reader.join(5)


def test_box_turnstile_with_pcsc_reader(pcscd: Pcscd, tmp_path: Path) -> None:
    """The whole path on real PC/SC: tap → decision → journal → relay → local stream."""
    from multipas_box.box import Box  # noqa: PLC0415

    cfg = make_config(
        tmp_path,
        reader=[
            {"name": "gate-in", "kind": "pcsc", "match": pcscd.reader_name, "output": "gate",
             "poll": 0.5},
        ],
        output=[{"name": "gate", "kind": "simulated", "pulse": 0.1}],
    )  # fmt: skip
    box = Box(cfg)
    box.allowlist.apply_page(
        [{"uid": "04AABBCCDD", "allow": True, "reason": None, "number": "1",
          "holder": {"name": "Иванов Иван", "class": "5А", "kind": "pupil"}}],
        cursor=1, last=True,
    )  # fmt: skip
    box.start()
    time.sleep(GAP)
    try:
        wait_for(lambda: box.readers["gate-in"].state == "ok")
        VirtualCard("04AABBCCDD", port=pcscd.port).tap(0.6)
        wait_for(lambda: box.outputs["gate"].openings == 1)
        rows = box.journal.rows()
        assert [(r["kind"], r["uid"], r["reader"]) for r in rows] == [
            ("passage", "04AABBCCDD", "gate-in")
        ]
        assert '"decision": "allow"' in rows[0]["data"]
        event = box.events.recent()[0]
        assert event["holder"]["name"] == "Иванов Иван"
    finally:
        box.stop()


def test_two_pcsc_readers_in_one_box(pcscd: Pcscd) -> None:
    """vpcd has two slots (port and port + 1): two drivers with the same ``match`` bind
    to different readers and each reports its own card."""
    sinks = {"a": Collector(), "b": Collector()}
    readers = [make_reader(pcscd, sinks[n], name=n, match="Virtual PCD") for n in ("a", "b")]
    for reader in readers:
        reader.start()
    time.sleep(GAP)
    try:
        wait_for(lambda: all(r.state == "ok" for r in readers))
        names = {r.name: r.device_name for r in readers}
        assert sorted(names.values()) == ["Virtual PCD 00 00", "Virtual PCD 00 01"]
        port_of = {"Virtual PCD 00 00": pcscd.port, "Virtual PCD 00 01": pcscd.port + 1}
        card_a = VirtualCard("AA000001", port=port_of[names["a"]])
        card_b = VirtualCard("BB000002", port=port_of[names["b"]])
        card_a.insert()
        card_b.insert()
        wait_for(lambda: sinks["a"].uids == ["AA000001"] and sinks["b"].uids == ["BB000002"])
        card_a.remove()
        card_b.remove()
    finally:
        for reader in readers:
            reader.stop()
        for reader in readers:
            reader.join(5)
