"""Append events to a journal as fast as it goes and print ``ACK <uuid>`` after each
append returned (= durably committed). The kill -9 test kills it at random moments."""

from __future__ import annotations

import sys

from multipas_box.events import Event
from multipas_box.journal import Journal


def main() -> None:
    path, label = sys.argv[1], sys.argv[2]
    journal = Journal(path)
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    i = 0
    while True:
        i += 1
        event = Event(kind="card_tap", uid=f"{i:08X}", reader=label, data={"i": i})
        journal.append(event)
        out.write(f"ACK {event.uuid}\n")
        out.flush()


if __name__ == "__main__":
    main()
