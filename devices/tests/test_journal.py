"""The journal: order, batches that survive a restart, delivery states."""

from __future__ import annotations

from pathlib import Path

from multipas_box.events import Event
from multipas_box.journal import Journal


def ev(i: int, kind: str = "card_tap") -> Event:
    return Event(kind=kind, uid=f"{i:08X}", reader="r1", data={"i": i})


def test_pragmas_are_durable(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        cnx = journal._cnx
        assert cnx.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cnx.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        journal.close()


def test_batches_in_order_and_acknowledged(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    events = [ev(i) for i in range(7)]
    seqs = [journal.append(e) for e in events]
    assert seqs == sorted(seqs)
    assert journal.pending_count() == 7

    batch_id, first = journal.next_batch(3)
    assert [e.uuid for e in first] == [e.uuid for e in events[:3]]
    assert first[0].data == {"i": 0} and first[0].at == events[0].at
    # not acknowledged yet: the same batch again, same id and members
    again = journal.next_batch(3)
    assert again is not None and again[0] == batch_id
    assert [e.uuid for e in again[1]] == [e.uuid for e in first]

    assert journal.mark_delivered(batch_id, {e.uuid: "accepted" for e in first}) == 3
    batch2, second = journal.next_batch(3)
    assert batch2 != batch_id
    assert [e.uuid for e in second] == [e.uuid for e in events[3:6]]
    assert journal.mark_delivered(batch2, None) == 3  # 409 replayed_batch
    batch3, third = journal.next_batch(3)
    assert [e.uuid for e in third] == [events[6].uuid]
    journal.mark_delivered(batch3, {events[6].uuid: "duplicate"})
    assert journal.next_batch(3) is None
    assert journal.counts() == {"pending": 0, "delivered": 7, "rejected": 0}
    results = [r["result"] for r in journal.rows()]
    assert results == ["accepted"] * 3 + ["replayed_batch"] * 3 + ["duplicate"]
    journal.close()


def test_batch_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    for i in range(5):
        journal.append(ev(i))
    batch_id, events = journal.next_batch(4)
    journal.close()  # the box dies with the batch in flight

    journal = Journal(path)
    batch = journal.next_batch(2)  # even with a smaller batch size: same batch first
    assert batch is not None
    assert batch[0] == batch_id
    assert [e.uuid for e in batch[1]] == [e.uuid for e in events]
    journal.close()


def test_partial_answer_requeues_missing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    events = [ev(i) for i in range(3)]
    journal.append_many(events)
    batch_id, _ = journal.next_batch(10)
    journal.mark_delivered(batch_id, {events[0].uuid: "accepted"})
    batch = journal.next_batch(10)
    assert batch is not None and batch[0] != batch_id
    assert [e.uuid for e in batch[1]] == [e.uuid for e in events[1:]]
    journal.close()


def test_release_reject_requeue(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    events = [ev(0), ev(1, kind="strange"), ev(2)]
    journal.append_many(events)
    batch_id, _ = journal.next_batch(10)
    journal.release_batch(batch_id)
    batch_id2, members = journal.next_batch(1)
    assert batch_id2 != batch_id and [e.uuid for e in members] == [events[0].uuid]
    journal.mark_delivered(batch_id2, {events[0].uuid: "accepted"})
    journal.reject(events[1].uuid, "400 bad_request: unknown kind")
    _, rest = journal.next_batch(10)
    assert [e.uuid for e in rest] == [events[2].uuid]  # the rejected one no longer blocks
    assert journal.counts()["rejected"] == 1
    assert journal.requeue_rejected() == 1
    assert journal.counts() == {"pending": 2, "delivered": 1, "rejected": 0}
    journal.close()


def test_purge_delivered(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.append_many([ev(0), ev(1)])
    batch_id, events = journal.next_batch(1)
    journal.mark_delivered(batch_id, {events[0].uuid: "accepted"})
    assert journal.purge_delivered(3600) == 0  # too recent
    assert journal.purge_delivered(-1) == 1
    assert journal.counts() == {"pending": 1, "delivered": 0, "rejected": 0}
    journal.close()
