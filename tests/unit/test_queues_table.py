"""What ``towns queues`` prints: the time of each redraw, and why the dead queue's depth is not
the number of open dead letters."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from adapters.ops.queues_table import print_view

CST = timezone(timedelta(hours=8))
AT = datetime(2017, 4, 1, 2, 0, 5, 123456, tzinfo=timezone.utc)


def view(dead_ready: int | None = 5) -> dict:
    queue = {"ready": 0, "unacknowledged": 0, "consumers": 1, "publish_rate": None,
             "deliver_rate": None, "ack_rate": None}
    return {"source": "management_api", "vhost": "/", "note": None, "parked": 0,
            "dead_letters_open": 3, "projections": [],
            "queues": [{**queue, "name": "towns.inbound"},
                       {**queue, "name": "towns.inbound.dead", "ready": dead_ready,
                        "unacknowledged": 1 if dead_ready is not None else None}]}


def printed(*args) -> list[str]:
    out = io.StringIO()
    print_view(args[0], out, *args[1:])
    return out.getvalue().splitlines()


def test_a_redraw_starts_with_its_time_in_the_calls_zone_and_utc():
    lines = printed(view(), AT, CST)
    assert lines[0] == "at 2017-04-01T10:00:05+08:00 (2017-04-01T02:00:05+00:00 UTC)"
    assert lines[2].split()[0] == "QUEUE"


def test_a_single_view_has_no_time_line():
    assert printed(view())[0].split()[0] == "QUEUE"


def test_the_dead_queue_and_the_open_dead_letters_are_told_apart():
    lines = printed(view())
    at = lines.index("dead letters open: 3")
    note = lines[at + 1]
    assert note.startswith("  towns.inbound.dead holds 6 copies, not the records counted above")
    for why in ("a re-driven letter leaves the queue",
                "one the broker dead-lettered itself (expired, delivery limit) is on the queue "
                "without a record", "one that could not be sent is recorded only"):
        assert why in note


def test_without_the_dead_queue_there_is_nothing_to_tell_apart():
    shown = view()
    shown["queues"] = []
    assert not any("towns.inbound.dead" in line for line in printed(shown))
    unknown = printed(view(dead_ready=None))
    assert any("holds an unknown number of copies" in line for line in unknown)
