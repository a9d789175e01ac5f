"""The queue view as ``towns queues`` prints it: the queues, the projections, then the counts
and where the figures came from; with ``--watch``, each redraw starts with its time."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import Any, TextIO

from adapters.amqp.topology import DEAD_QUEUE

QUEUE_HEADER = ("QUEUE", "READY", "UNACKED", "CONSUMERS", "PUBLISH/S", "DELIVER/S", "ACK/S")
PROJECTION_HEADER = ("PROJECTION", "POSITION", "LAG", "SET_ASIDE")


def print_view(view: dict[str, Any], out: TextIO, at: datetime | None = None,
               zone: tzinfo | None = None) -> None:
    """``at``: the time the figures were read, printed first in ``zone`` (the call's) and UTC."""
    if at is not None:
        print(time_line(at, zone), file=out)
        print(file=out)
    if view["queues"]:
        _table(QUEUE_HEADER, [_queue_row(q) for q in view["queues"]], out)
        missing = [q["name"] for q in view["queues"] if q.get("exists") is False]
        if missing:
            print(f"not declared yet: {', '.join(missing)}", file=out)
    else:
        print("no queues", file=out)
    print(file=out)
    if view["projections"]:
        _table(PROJECTION_HEADER,
               [(p["name"], str(p["position"]), str(p["lag"]), str(p.get("set_aside", 0)))
                for p in view["projections"]], out)
    else:
        print("no projections", file=out)
    print(file=out)
    print(f"parked: {view['parked']}", file=out)
    print(f"dead letters open: {view['dead_letters_open']}", file=out)
    dead = next((q for q in view["queues"] if q["name"] == DEAD_QUEUE), None)
    if dead is not None and dead.get("exists") is not False:
        print(dead_letters_note(dead), file=out)
    source = view["source"] + (f" (vhost {view['vhost']})" if view.get("vhost") else "")
    print(f"source: {source}", file=out)
    if view.get("note"):
        print(f"note: {view['note']}", file=out)


def time_line(at: datetime, zone: tzinfo | None = None) -> str:
    """``at 2017-04-01T10:00:00+08:00 (2017-04-01T02:00:00+00:00 UTC)``, to the second."""
    at = at.replace(microsecond=0)
    here = at.astimezone(zone) if zone is not None else at.astimezone()
    return f"at {here.isoformat()} ({at.astimezone(timezone.utc).isoformat()} UTC)"


def dead_letters_note(dead: dict) -> str:
    """Why the dead queue's depth is not the number of open dead letters."""
    held = [count for count in (dead.get("ready"), dead.get("unacknowledged")) if count is not None]
    depth = f"holds {sum(held)}" if held else "holds an unknown number of"
    return (f"  {DEAD_QUEUE} {depth} copies, not the records counted above: a re-driven "
            "letter leaves the queue; one the broker dead-lettered itself (expired, delivery "
            "limit) is on the queue without a record; one that could not be sent is recorded "
            "only")


def _queue_row(queue: dict) -> tuple[str, ...]:
    return (queue["name"], _count(queue["ready"]), _count(queue["unacknowledged"]),
            _count(queue["consumers"]), _rate(queue["publish_rate"]),
            _rate(queue["deliver_rate"]), _rate(queue["ack_rate"]))


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], out: TextIO) -> None:
    """The first column left-aligned, the figures right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        print("  ".join(cells).rstrip(), file=out)
