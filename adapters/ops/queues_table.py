"""The queue view as ``towns queues`` prints it: the queues, the projections, then the counts
and where the figures came from."""

from __future__ import annotations

from typing import Any, TextIO

QUEUE_HEADER = ("QUEUE", "READY", "UNACKED", "CONSUMERS", "PUBLISH/S", "DELIVER/S", "ACK/S")
PROJECTION_HEADER = ("PROJECTION", "POSITION", "LAG", "SET_ASIDE")


def print_view(view: dict[str, Any], out: TextIO) -> None:
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
    source = view["source"] + (f" (vhost {view['vhost']})" if view.get("vhost") else "")
    print(f"source: {source}", file=out)
    if view.get("note"):
        print(f"note: {view['note']}", file=out)


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
