"""The operators' incidents and charts (``GET /api/v1/ops/incidents``, ``/api/v1/ops/charts``).

Incidents are read from what the service keeps, each list bounded:

- the read models: each one's position, head and lag, events set aside, and whether it is
  *stalled* (behind, and its position has not moved over the lag samples of the last
  ``STALL_MINUTES`` minutes: ``adapters.ops.lag_samples``);
- the events the read models set aside and have not taken since (``projection_set_aside``),
  the first ``SHOWN`` with the open total;
- the worker's messages that failed for good (``worker_failures``: a deadline check that
  failed, a projection actor that gave up), the last ``SHOWN``;
- the open dead letters by code (``open_by_code``: at most ``SCAN`` letters are read).

The charts count per minute over the last ``minutes`` (at most a day): application events
recorded (the audit trail's record times: the ingest rate), dead-letterings (the dead letters'
records in the log: refusals of the RabbitMQ path), and each read model's lag as sampled.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from adapters.ops import lag_samples
from adapters.ops.dead_letters import every
from adapters.store.tables import create_tables
from domain.dead_letters import DeadLetter
from projections.base import parse

SHOWN = 20
SCAN = 10_000
STALL_MINUTES = 5
MAX_MINUTES = 24 * 60
REFUSALS_READ = 20_000


def open_by_code(records: Any, scan: int = SCAN) -> dict:
    """Open dead letters by code: ``{"open", "codes": {code: n}, "not_redrivable",
    "truncated"}``; at most ``scan`` letters are read (``truncated`` then)."""
    codes: Counter = Counter()
    seen = not_redrivable = 0
    truncated = False
    for letter in every(records):
        if seen >= scan:
            truncated = True
            break
        seen += 1
        codes[letter.code] += 1
        not_redrivable += letter.body is None
    return {"open": seen, "codes": dict(codes.most_common()), "not_redrivable": not_redrivable,
            "truncated": truncated}


def _failures(store: Any, limit: int) -> tuple[list[dict], int]:
    from workers import failures

    if not getattr(store, "_worker_failures_ready", False):
        create_tables(lambda: failures.setup(store))
        store._worker_failures_ready = True
    with store.transaction(read_only=True) as tx:
        total = tx.one("SELECT COUNT(*) FROM worker_failures")[0]
        rows = tx.all("SELECT message_id, actor, queue, args, retries, error, failed_at "
                      "FROM worker_failures ORDER BY failed_at DESC, message_id LIMIT ?", (limit,))
    return [{"message_id": m, "actor": a, "queue": q, "args": args, "retries": r,
             "error": e, "failed_at": at} for m, a, q, args, r, e, at in rows], int(total)


def incidents(runner: Any, records: Any, now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    letters = open_by_code(records)
    parked = len(records.open_parked())
    answer: dict[str, Any] = {
        "at": now.isoformat(), "projections": [], "set_aside": [], "set_aside_open": 0,
        "worker_failures": [], "worker_failures_total": 0,
        "dead_letters": {"open": letters["open"], "not_redrivable": letters["not_redrivable"],
                         "truncated": letters["truncated"],
                         "by_code": [{"code": c, "count": n} for c, n in letters["codes"].items()]},
        "parked": parked,
    }
    if runner is not None:
        lag_samples.record(runner, now)
        samples = lag_samples.series(runner, now - timedelta(minutes=STALL_MINUTES))
        for status in runner.status():
            rows = samples.get(status.name, [])
            stalled = (status.lag > 0 and len(rows) >= STALL_MINUTES
                       and _unmoved(runner, status.name, rows))
            answer["projections"].append({
                "name": status.name, "position": status.position, "head": status.head,
                "lag": status.lag, "set_aside": status.set_aside,
                "state": "stalled" if stalled else "lagging" if status.lag else
                         "set_aside" if status.set_aside else "ok"})
        answer["set_aside_open"] = sum(p["set_aside"] for p in answer["projections"])
        answer["set_aside"] = [r.as_dict() for r in runner.set_aside(limit=SHOWN)]
        answer["worker_failures"], answer["worker_failures_total"] = _failures(runner.store, SHOWN)
    answer["count"] = (sum(p["state"] != "ok" for p in answer["projections"])
                       + answer["set_aside_open"] + answer["worker_failures_total"]
                       + letters["open"])
    return answer


def _unmoved(runner: Any, name: str, rows: list[dict]) -> bool:
    """Whether the view's position stayed the same over the sampled minutes."""
    with runner.store.transaction(read_only=True) as tx:
        found = tx.all("SELECT DISTINCT position FROM projection_lag_samples WHERE name = ? "
                       "AND minute >= ?", (name, rows[0]["minute"]))
    return len(found) == 1


def charts(runner: Any, towns: Any, minutes: int = 60, now: datetime | None = None) -> dict:
    """Per minute over the last ``minutes``: ingest, refusals and each view's lag."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    buckets = [lag_samples.minute_of(start + timedelta(minutes=i)) for i in range(minutes)]
    ingest: Counter = Counter()
    refusals: Counter = Counter()
    lag: dict[str, list] = {}
    first_position = 0
    if runner is not None:
        lag_samples.record(runner, now)
        names = runner.projection("audit").live_names()
        since = start.isoformat()
        with runner.store.transaction(read_only=True) as tx:
            for minute, count in tx.all(
                    f"SELECT substr(recorded_at, 1, 16), COUNT(*) FROM {names['audit_events']} "
                    "WHERE recorded_at >= ? GROUP BY substr(recorded_at, 1, 16)", (since,)):
                ingest[f"{minute}:00+00:00"] += int(count)
            before = tx.one(f"SELECT MAX(position) FROM {names['audit_events']} "
                            "WHERE recorded_at < ?", (since,))
        first_position = int(before[0] or 0) if before else 0
        for name, rows in lag_samples.series(runner, start).items():
            by_minute = {row["minute"]: row["lag"] for row in rows}
            lag[name] = [by_minute.get(minute) for minute in buckets]
    notes = towns.recorder.select_notifications(
        start=first_position, limit=REFUSALS_READ, inclusive_of_start=False,
        topics=[DeadLetter.Recorded.TOPIC, DeadLetter.DeadLetteredAgain.TOPIC])
    for note in notes:
        stamp = parse(note.state).get("timestamp")
        text = stamp.get("_data_") if isinstance(stamp, dict) else None
        if not text:
            continue
        at = datetime.fromisoformat(text).astimezone(timezone.utc)
        if start <= at < end:
            refusals[lag_samples.minute_of(at)] += 1
    return {
        "from": start.isoformat(), "to": end.isoformat(), "bucket_seconds": 60,
        "minutes": buckets,
        "ingest": [ingest.get(minute, 0) for minute in buckets],
        "refusals": [refusals.get(minute, 0) for minute in buckets],
        "lag": lag,
        "truncated": len(notes) >= REFUSALS_READ,
    }
