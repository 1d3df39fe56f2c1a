"""Serial (through a pty pair), keyboard-wedge decoding and the simulated reader."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import wait_for

from multipas_box.config import ReaderConfig
from multipas_box.readers import make_reader
from multipas_box.readers.base import Reader
from multipas_box.readers.keyboard import KeyboardReader, KeyDecoder, decimal_to_uid
from multipas_box.readers.serial import LineFramer, Rdm6300Framer


def rdm6300_frame(hex10: str) -> bytes:
    data = bytes.fromhex(hex10)
    xor = 0
    for byte in data:
        xor ^= byte
    return b"\x02" + hex10.upper().encode() + f"{xor:02X}".encode() + b"\x03"


class Sink:
    def __init__(self) -> None:
        self.uids: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, reader: Reader, uid: str) -> None:
        with self.lock:
            self.uids.append(uid)


# --- framers ----------------------------------------------------------------------------


def test_rdm6300_framer() -> None:
    framer = Rdm6300Framer()
    frame = rdm6300_frame("0F00A1B2C3")
    assert framer.feed(frame[:5]) == []
    assert framer.feed(frame[5:]) == ["0F00A1B2C3"]
    bad = bytearray(rdm6300_frame("0F00A1B2C4"))
    bad[11:13] = b"00"  # wrong checksum
    noise = b"\xff\x00garbage"
    assert framer.feed(noise + bytes(bad) + rdm6300_frame("1122334455") * 2) == ["1122334455"] * 2
    assert framer.bad_frames == 1


def test_line_framer() -> None:
    framer = LineFramer()
    assert framer.feed(b"\x020F00A1B2C3\r\n\x03") == ["0F00A1B2C3"]
    assert framer.feed(b"04:a1:b2") == []
    assert framer.feed(b"\n") == ["04A1B2"]
    assert framer.feed(b"\r\n\r\n") == []


# --- serial reader on a pty ---------------------------------------------------------


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        yield master, path
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("framing", ["rdm6300", "line"])
def test_serial_reader_on_pty(pty_pair: tuple[int, str], framing: str) -> None:
    master, path = pty_pair
    sink = Sink()
    cfg = ReaderConfig(name="em-1", kind="serial", device=path, framing=framing, debounce=0.3)
    reader = make_reader(cfg, sink)
    reader.start()
    try:
        wait_for(lambda: reader.state == "ok")

        def send(uid: str) -> None:
            frame = (
                rdm6300_frame(uid) if framing == "rdm6300" else b"\x02" + uid.encode() + b"\r\n\x03"
            )
            os.write(master, frame)

        # an RDM6300 repeats the frame while the card is held: one tap
        for _ in range(5):
            send("0F00A1B2C3")
            time.sleep(0.02)
        wait_for(lambda: sink.uids == ["0F00A1B2C3"])
        send("1122334455")
        wait_for(lambda: sink.uids == ["0F00A1B2C3", "1122334455"])
        time.sleep(0.35)  # after the debounce the same card counts again
        send("0F00A1B2C3")
        wait_for(lambda: len(sink.uids) == 3)
    finally:
        reader.stop()
        reader.join(5)


def test_serial_reader_waits_for_missing_port(tmp_path) -> None:
    cfg = ReaderConfig(name="em-2", kind="serial", device=str(tmp_path / "ttyUSB9"))
    reader = make_reader(cfg, Sink())
    reader.start()
    try:
        wait_for(lambda: reader.state == "absent" and "cannot open" in reader.detail)
    finally:
        reader.stop()
        reader.join(5)


# --- keyboard wedge -------------------------------------------------------------------


def type_keys(decoder: KeyDecoder, keys: list[str]) -> list[str]:
    return [uid for key in keys if (uid := decoder.feed(key))]


def test_key_decoder_hex() -> None:
    decoder = KeyDecoder("hex")
    keys = ["KEY_0", "KEY_4", "KEY_A", "KEY_1", "KEY_LEFTSHIFT", "KEY_B", "KEY_2", "KEY_ENTER"]
    assert type_keys(decoder, keys) == ["04A1B2"]  # the decoder returns what was typed ...
    assert type_keys(decoder, ["KEY_ENTER"]) == []
    assert type_keys(decoder, ["KEY_KP1", "KEY_KP2", "KEY_KPENTER"]) == ["12"]


def test_key_decoder_decimal() -> None:
    decoder = KeyDecoder("decimal")
    digits = [f"KEY_{d}" for d in "0012345678"]
    assert type_keys(decoder, [*digits, "KEY_ENTER"]) == ["00BC614E"]
    wiegand = ["KEY_1", "KEY_2", "KEY_3", "KEY_COMMA", *[f"KEY_{d}" for d in "45678"], "KEY_ENTER"]
    assert type_keys(decoder, wiegand) == ["007BB26E"]
    assert type_keys(decoder, ["KEY_A", "KEY_1", "KEY_ENTER"]) == ["00000001"]  # letters ignored


def test_decimal_to_uid() -> None:
    assert decimal_to_uid("0012345678") == "00BC614E"
    assert decimal_to_uid("123,45678") == "007BB26E"
    assert decimal_to_uid("256,1") is None
    assert decimal_to_uid("99999999999") == "174876E7FF"
    assert decimal_to_uid("12a") is None


def test_keyboard_reader_absent_without_device() -> None:
    cfg = ReaderConfig(name="wedge", kind="keyboard", match="No such RFID reader")
    reader = KeyboardReader(cfg, Sink())
    reader.start()
    try:
        wait_for(lambda: reader.state == "absent" and "No such RFID reader" in reader.detail)
    finally:
        reader.stop()
        reader.join(5)


# --- simulated ------------------------------------------------------------------------


def test_simulated_reader_taps_and_debounce() -> None:
    sink = Sink()
    cards = ["0A0B0C0D", "0C0D0E0F"]
    cfg = ReaderConfig(name="sim", kind="simulated", cards=cards, interval=0.05, debounce=0)
    reader = make_reader(cfg, sink)
    reader.start()
    try:
        wait_for(lambda: len(sink.uids) >= 4)
        assert sink.uids[:4] == cards * 2
    finally:
        reader.stop()
        reader.join(5)
    manual = make_reader(ReaderConfig(name="m", kind="simulated", debounce=5), sink)
    assert manual.tap("04:a1:b2:c3") is True
    assert manual.tap("04A1B2C3") is False  # within the debounce
    assert manual.tap("not hex") is False
    # ... and the reader passes on only what device API v1 takes: 4 to 10 bytes
    assert manual.tap("04A1B2") is False
    assert manual.tap("04A1B2C3D") is False
    assert manual.tap("04" * 11) is False
    assert manual.tap("04" * 10) is True
    assert sink.uids[-2:] == ["04A1B2C3", "04" * 10]
