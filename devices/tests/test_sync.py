"""Sync against the fake device-API server: allow-list, event push, failures."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_config, wait_for

from multipas_box.allowlist import AllowList
from multipas_box.events import Event
from multipas_box.fakeserver import FakeDeviceServer
from multipas_box.journal import Journal
from multipas_box.sync import ApiError, Backoff, SyncWorker


class World:
    def __init__(self, tmp_path: Path, server: FakeDeviceServer, **server_cfg: object) -> None:
        settings = {
            "url": server.url,
            "key": "test-key",
            "backoff_min": 0.05,
            "backoff_max": 0.2,
            "heartbeat_interval": 60.0,
            "allowlist_interval": 60.0,
            "timeout": 2.0,
            **server_cfg,
        }
        self.cfg = make_config(tmp_path, server=settings)
        self.journal = Journal(tmp_path / "journal.sqlite3")
        self.allowlist = AllowList(tmp_path / "allowlist.sqlite3")
        self.readers = [{"name": "pcsc-0", "kind": "pcsc", "state": "ok"}]
        self.worker = SyncWorker(self.cfg, self.journal, self.allowlist, lambda: self.readers)

    def close(self) -> None:
        self.worker.stop()
        self.worker.join(5)
        self.journal.close()
        self.allowlist.close()


@pytest.fixture
def world(tmp_path: Path, fake_server: FakeDeviceServer) -> Iterator[World]:
    w = World(tmp_path, fake_server)
    try:
        yield w
    finally:
        w.close()


def taps(n: int, kind: str = "card_tap") -> list[Event]:
    data = {"direction": "in", "decision": "allow", "reason": None} if kind == "passage" else {}
    return [Event(kind=kind, uid=f"04{i:08X}", reader="pcsc-0", data=data) for i in range(n)]


# --- allow-list -------------------------------------------------------------------------


def test_snapshot_in_pages_then_deltas(world: World, fake_server: FakeDeviceServer) -> None:
    fake_server.add_cards([f"04{i:08X}" for i in range(12)])
    fake_server.set_card(
        "0400000001", holder={"name": "Петров Пётр", "class": "7Б", "kind": "pupil"}
    )
    world.worker.page_size = 5
    assert world.worker.pull_allowlist() == 12
    assert world.allowlist.count() == 12
    assert world.allowlist.cursor == fake_server.seq
    first = [q for m, q in fake_server.requests if "/allowlist" in q]
    assert len(first) == 3 and "since=0" in first[0]
    decision = world.allowlist.decide("0400000001")
    assert decision.allow and decision.holder == {
        "name": "Петров Пётр",
        "class": "7Б",
        "kind": "pupil",
    }

    fake_server.set_card("0400000002", allow=False, reason="blocked")
    fake_server.set_card("04FFFFFFFF")
    before = len(fake_server.requests)
    assert world.worker.pull_allowlist() == 2
    delta = [q for _m, q in fake_server.requests[before:]]
    assert delta == [f"/multipas/device/v1/allowlist?since={fake_server.seq - 2}&limit=5"]
    blocked = world.allowlist.decide("0400000002")
    assert (blocked.allow, blocked.reason, blocked.holder) == (False, "blocked", None)
    assert world.allowlist.decide("04FFFFFFFF").allow
    unknown = world.allowlist.decide("0499999999")
    assert (unknown.allow, unknown.reason, unknown.known) == (False, "unknown", False)


def test_heartbeat_triggers_pull_and_resnapshot(
    world: World, fake_server: FakeDeviceServer
) -> None:
    fake_server.add_cards(["0A01", "0A02", "0A03"])
    world.worker.run_once()
    assert world.allowlist.count() == 3
    beat = fake_server.heartbeats[-1]
    assert beat["readers"] == [{"name": "pcsc-0", "kind": "pcsc", "state": "ok"}]
    assert beat["queue_depth"] == 0 and beat["version"]
    assert world.worker.device is not None and world.worker.device["school_code"] == "SCH108"
    assert world.worker.clock_skew is not None and abs(world.worker.clock_skew) < 5

    # the server's database was restored: its version went back; a card vanished from it
    del fake_server.cards["0A02"]
    fake_server.reset_sequence()
    world.worker.heartbeat()
    world.worker.pull_allowlist()
    assert world.allowlist.count() == 2
    assert not world.allowlist.decide("0A02").known
    assert world.allowlist.cursor == fake_server.seq


def test_interrupted_snapshot_keeps_old_cards(world: World, fake_server: FakeDeviceServer) -> None:
    fake_server.add_cards(["0B01", "0B02"])
    world.worker.pull_allowlist()
    cursor = world.allowlist.cursor
    fake_server.add_cards([f"0C{i:04X}" for i in range(10)])
    world.worker._want_snapshot = True
    world.worker.page_size = 4
    fake_server.fail_with = None
    original = fake_server.handle
    calls = {"n": 0}

    def flaky(method, path, body):  # the second page fails
        if "/allowlist" in path:
            calls["n"] += 1
            if calls["n"] == 2:
                return 503, {"error": {"code": "unavailable", "message": "down"}}
        return original(method, path, body)

    fake_server.handle = flaky  # type: ignore[method-assign]
    with pytest.raises(ApiError):
        world.worker.pull_allowlist()
    assert world.allowlist.cursor == cursor  # not advanced by half a snapshot
    assert world.allowlist.decide("0B01").allow  # old cards still decide
    fake_server.handle = original  # type: ignore[method-assign]
    world.worker.pull_allowlist()  # starts the snapshot again
    assert world.allowlist.count() == 12 and world.allowlist.cursor == fake_server.seq


# --- events -----------------------------------------------------------------------------


def test_push_in_batches_in_order(world: World, fake_server: FakeDeviceServer) -> None:
    events = taps(1200) + taps(3, kind="passage")
    world.journal.append_many(events)
    assert world.worker.push_events() == 1203
    assert fake_server.posts == 3  # 500 + 500 + 203
    assert fake_server.order == [e.uuid for e in events]
    assert world.journal.counts() == {"pending": 0, "delivered": 1203, "rejected": 0}
    sent = fake_server.events[events[-1].uuid]
    assert sent["data"] == {"direction": "in", "decision": "allow", "reason": None}
    assert sent["at"].endswith("Z") and sent["reader"] == "pcsc-0"


def test_lost_answer_replayed_batch_counts_as_delivered(
    world: World, fake_server: FakeDeviceServer
) -> None:
    events = taps(10)
    world.journal.append_many(events)
    fake_server.drop_answers = 1
    world.worker.start()
    world.worker.wake()
    wait_for(lambda: world.journal.pending_count() == 0)
    assert fake_server.replayed == 1  # the re-sent batch (same batch_id) got 409
    assert fake_server.received == 10  # and its events were not processed twice
    assert fake_server.order == [e.uuid for e in events]
    assert {r["result"] for r in world.journal.rows()} == {"replayed_batch"}


def test_server_down_backoff_then_delivered_once(
    world: World, fake_server: FakeDeviceServer
) -> None:
    fake_server.go_down()
    world.worker.start()
    events = taps(25)
    for e in events:
        world.journal.append(e)
        world.worker.wake()
    wait_for(lambda: world.worker.state == "offline")
    wait_for(lambda: world.worker.backoff.failures >= 3, timeout=5)
    assert world.worker.retry_in is not None and world.worker.retry_in <= 0.2
    assert world.journal.pending_count() == 25
    fake_server.go_up()
    wait_for(lambda: world.journal.pending_count() == 0, timeout=10)
    wait_for(lambda: world.worker.state == "ok")
    assert world.worker.backoff.failures == 0
    assert fake_server.received == 25 and fake_server.order == [e.uuid for e in events]


def test_5xx_is_transient(world: World, fake_server: FakeDeviceServer) -> None:
    world.journal.append_many(taps(3))
    fake_server.fail_with = 503
    world.worker.start()
    wait_for(lambda: world.worker.state == "offline" and world.worker.backoff.failures >= 2)
    fake_server.fail_with = None
    wait_for(lambda: world.journal.pending_count() == 0)
    assert len(fake_server.events) == 3


def test_unknown_kind_is_parked_not_blocking(tmp_path: Path) -> None:
    server = FakeDeviceServer(key="test-key", kinds=("card_tap",))
    w = World(tmp_path, server)
    try:
        events = taps(3) + taps(1, kind="passage") + taps(4)
        w.journal.append_many(events)
        w.worker.push_events()
        w.worker.push_events()
        counts = w.journal.counts()
        assert counts == {"pending": 0, "delivered": 7, "rejected": 1}
        rejected = w.journal.rows("state = 'rejected'")
        assert rejected[0]["uuid"] == events[3].uuid and "unknown kind" in rejected[0]["result"]
        assert server.order == [e.uuid for e in events if e.kind == "card_tap"]
        # once the server knows the kind, the parked event goes through
        server.kinds.add("passage")
        assert w.journal.requeue_rejected() == 1
        w.worker.push_events()
        assert w.journal.counts()["delivered"] == 8
    finally:
        w.close()
        server.go_down()


def test_wrong_key_is_unauthorized(tmp_path: Path, fake_server: FakeDeviceServer) -> None:
    fake_server.key = "another-key"
    w = World(tmp_path, fake_server)
    try:
        w.worker.start()
        wait_for(lambda: w.worker.state == "unauthorized")
        assert "401 unauthorized" in w.worker.last_error
    finally:
        w.close()


def test_backoff_grows_with_jitter_and_resets() -> None:
    backoff = Backoff(1.0, 60.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    caps = [min(60.0, 2.0**i) for i in range(10)]
    for delay, cap in zip(delays, caps):
        assert cap / 2 <= delay <= cap
    assert len({round(d, 6) for d in delays}) == 10  # jitter: no two the same
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_new_events_do_not_cut_the_backoff(world: World, fake_server: FakeDeviceServer) -> None:
    world.cfg.server.backoff_min = 1.0
    world.cfg.server.backoff_max = 1.0
    world.worker.backoff = Backoff(1.0, 1.0)
    fake_server.go_down()
    world.worker.start()
    wait_for(lambda: world.worker.backoff.failures == 1)
    started = time.monotonic()
    for e in taps(20):
        world.journal.append(e)
        world.worker.wake()
        time.sleep(0.01)
    assert world.worker.backoff.failures == 1  # no retry storm while the server is away
    wait_for(lambda: world.worker.backoff.failures == 2, timeout=3)
    assert time.monotonic() - started >= 0.2
