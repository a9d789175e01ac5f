"""``towns audit verify`` (and ``GET /api/v1/audit/verify``): recompute both hash chains.

``verify(towns, runner)`` reads the head of the log first and checks every notification up to
it, straight from the stored records, whether or not the audit trail has read them:
  * every application's own chain (``adapters.audit.chains``): each event decoded from its bytes,
    its hash over its content and the previous hash, and the hash the trail recorded;
  * the chain over the whole log (``adapters.audit.log_chain``): every notification of every topic
    linked again, and compared with ``audit_chain`` and ``audit_checkpoints`` wherever the
    trail recorded it. Records the trail has not recorded (it is behind, or set them aside)
    are checked from their stored bytes alone and counted.
It reads the views and the log and writes nothing, so it is right whether the audit view is at
the head, behind, stalled or has skipped records, and it does not wait for the view's runner.

It answers ``{"ok", "events_checked" (notifications linked), "first_break", "breaks",
"head_at_start" (the last position when it began), "checked_to" (every record up to here was
checked), "incomplete" (None, or why it stopped before ``head_at_start``: the store failed),
"position" (how far the audit trail had read), "outside_trail" (records the trail did not vouch
for: past it, set aside by it, or after the first break of its chain; checked from their bytes
alone) and "outside_trail_positions" (the first of them), "chain_head" (the log's chain
hash at ``checked_to``), "applications_checked", "application_events_checked",
"checkpoints_checked"}``. ``ok`` is True only when every record up to ``head_at_start`` was
checked and none is broken, False when one is, and None when the check stopped early without
finding a break: it never says intact about a record it did not check. A break is ``{"chain"
(application | log | application+log), "position", "topic", "call_id", "application_ref",
"version", "reason"}`` with None where a field does not apply, and ``first_break`` is the
earliest in log order. Exporting lives in ``adapters.audit.export``.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TextIO

import psycopg
from eventsourcing.persistence import PersistenceError

from adapters.audit.chains import ApplicationChains, whole_events
from adapters.audit.log_chain import FIELDS, LogChain
from adapters.audit.evidence.summary import summary_lines
from adapters.audit.evidence.verify import Evidence, Reproduction, start
from adapters.audit.evidence.verify import from_env as evidence_from_env
from adapters.audit.evidence.witnesses import Witnesses
from domain.service import Towns
from projections.audit import TYPES, AuditTrail
from projections.log import LogReader
from projections.runner import ProjectionRunner

PAGE = 1000
PARALLEL_FROM = 50_000
"""From this many records, application events are read in a second process beside the rest."""
STORE_ERRORS = (PersistenceError, psycopg.Error, sqlite3.Error)


def verify(towns: Towns, runner: ProjectionRunner,
           evidence: tuple[Witnesses, dict] | None = None,
           on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Checks every record of ``towns``' log up to its head as this call begins, against the
    audit trail of ``runner``'s views where it has recorded them (see the module's doc), and
    against the tree heads of the witnesses (``evidence``: the witnesses and the trusted keys;
    None: this deployment's, ``adapters.audit.evidence.verify.from_env``). ``on_progress`` is
    told (position checked to, head) after each page."""
    head = towns.recorder.max_notification_id() or 0  # first: what "everything" means here
    names = runner.projection(AuditTrail.name).live_names()
    with runner.store.transaction(read_only=True) as tx:
        position = runner.store.position(tx, AuditTrail.name)
        trail_to = min(position, head)  # the trail's rows up to here are all written
        apps = {a: (c, r) for a, c, r in tx.all(
            f"SELECT app_id, call_id, application_ref FROM {names['audit_applications']}")}
        marks = {p: (h, n) for p, h, n in tx.all(
            f"SELECT position, chain_hash, events FROM {names['audit_checkpoints']} "
            "WHERE position <= ?", (trail_to,))}
    log, chains = LogChain(apps, marks), ApplicationChains(towns, apps)
    witnesses, keys = evidence if evidence is not None else evidence_from_env()
    witnessed = Evidence()
    tree = Reproduction(start(runner.store, witnesses, keys, witnessed), witnessed)
    checked_to, stopped = 0, None
    try:
        with _second_process(head) as pool:
            for end, page, rows, events, quick in _ahead(
                    _windows(towns, runner, names, head, trail_to), pool):
                raw = {n.position: n for n in page}
                records = []
                for at in sorted(raw.keys() | rows.keys()):
                    if at not in raw:
                        log.orphan(rows[at], events.get(at, (None, None))[:2])
                        continue
                    n = raw[at]
                    vouched = log.record(n, rows.get(at), at <= trail_to)
                    records.append((at, n.topic, n.originator_id, n.originator_version, log.sha))
                    chains.record(n, vouched, events.get(at), quick.get(at, False))
                with runner.store.transaction(read_only=True) as tx:
                    tree.feed(tx, records, {r[1] - 1: (bytes.fromhex(r[5]), r[0], r[2])
                                            for r in rows.values() if r[5]})
                checked_to = end
                if on_progress is not None:
                    on_progress(end, head)
        with runner.store.transaction(read_only=True) as tx:
            tree.finish(tx)
    except STORE_ERRORS as error:
        stopped = f"the store failed: {' '.join(str(error).split()) or type(error).__name__}"
        witnessed.records_checked = tree.accumulator.size
    else:
        log.finish()
    breaks = ([log.broken] if log.broken else []) + chains.breaks
    breaks.sort(key=lambda b: (b["position"] is None, b["position"] or 0))
    ok = False if breaks or not witnessed.ok else None if stopped else True
    return {"ok": ok, "events_checked": log.linked, "first_break": _first(breaks),
            "breaks": breaks, "head_at_start": head, "checked_to": checked_to,
            "incomplete": stopped, "position": position, "outside_trail": log.outside_count,
            "outside_trail_positions": log.outside, "chain_head": log.head,
            "applications_checked": chains.applications,
            "application_events_checked": chains.events, "checkpoints_checked": log.checkpoints,
            "evidence": witnessed.as_dict()}


def _windows(towns: Towns, runner: ProjectionRunner, names: dict, head: int,
             trail_to: int) -> Iterator[tuple[int, list, dict, dict]]:
    """The log up to ``head`` in pages (``projections.base.Recorded``), each with the trail's
    ``audit_chain`` and ``audit_events`` rows (up to ``trail_to``) over the same positions:
    (the page's last position, its records, chain rows and event rows by position)."""
    reader, start = LogReader(towns.recorder), 0
    while start < head:
        page = [r for r in reader.after(start, PAGE) if r.position <= head]
        end = page[-1].position if len(page) == PAGE else head
        span = (start, min(end, trail_to))
        with runner.store.transaction(read_only=True) as tx:
            rows = {r[0]: r for r in tx.all(
                "SELECT position, seq, topic, state_sha256, chain_hash, leaf FROM "
                f"{names['audit_chain']} WHERE position > ? AND position <= ?", span)}
            events = {r[0]: r[1:] for r in tx.all(
                f"SELECT position, app_id, version, hash FROM {names['audit_events']} "
                "WHERE position > ? AND position <= ?", span)}
        yield end, page, rows, events
        start = end


@contextmanager
def _second_process(head: int) -> Iterator[ProcessPoolExecutor | None]:
    """A second process to read application events in (``whole_events``), where the log is
    long enough to be worth its start and the machine has a second core; else None."""
    if head < PARALLEL_FROM or (os.cpu_count() or 1) < 2:
        yield None
        return
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _ahead(windows: Iterator[tuple], pool: ProcessPoolExecutor | None) -> Iterator[tuple]:
    """Each window with ``whole_event`` of its application events by position: computed in
    ``pool`` one page ahead of the caller, or ({}: the caller computes them) without one."""
    if pool is None:
        for window in windows:
            yield (*window, {})
        return
    previous = None
    for window in windows:
        events = [r for r in window[1] if r.topic in TYPES]
        future = pool.submit(whole_events, [(r.topic, r.state, r.originator_id,
                                             r.originator_version) for r in events])
        if previous is not None:
            yield _with_quick(*previous)
        previous = (window, events, future)
    if previous is not None:
        yield _with_quick(*previous)


def _with_quick(window: tuple, events: list, future: Future) -> tuple:
    return (*window, {r.position: quick for r, quick in zip(events, future.result())})


def _first(breaks: list[dict]) -> dict | None:
    """The earliest break, joined by the other chain's break at the same event."""
    if not breaks:
        return None
    first = dict(breaks[0])
    for other in breaks[1:]:
        same = (other["position"] is not None and other["position"] == first["position"]) or (
            other["application_ref"] and (other["call_id"], other["application_ref"],
            other["version"]) == (first["call_id"], first["application_ref"], first["version"]))
        if same and other["chain"] != first["chain"]:
            first["chain"] = "application+log"
            first["reason"] += f"; {other['chain']}: {other['reason']}"
            for key in FIELDS:
                first[key] = first[key] if first[key] is not None else other[key]
    return first


def describe(found: dict) -> str:
    where = f"log position {found['position']}" if found["position"] is not None else "the log"
    if found["application_ref"]:
        where += f" ({found['call_id']} {found['application_ref']} v{found['version']})"
    elif found["topic"]:
        where += f" ({found['topic']})"
    return f"{where}: {found['reason']}"


def verdict(result: dict) -> str:
    """One line: intact up to where it checked, broken, or not verified past where it stopped."""
    if result["ok"] is True:
        return f"intact up to position {result['checked_to']}"
    if result["ok"] is False:
        return "BROKEN" if result["breaks"] else "BROKEN: the log differs from the witnessed tree"
    return f"NOT VERIFIED past position {result['checked_to']}: {result['incomplete']}"


def failure(result: dict) -> str | None:
    """Why the result fails a command (``audit verify``, ``demo``), or ``None`` when it is intact."""
    if result["ok"] is False and result["first_break"] is not None:
        return f"hash chain broken at {describe(result['first_break'])}"
    if result["ok"] is False:
        finding = result["evidence"]["findings"][0]
        return f"the log differs from the witnessed tree heads: {finding['message']}"
    if result["ok"] is None:
        return (f"not verified past position {result['checked_to']} of "
                f"{result['head_at_start']}: {result['incomplete']}")
    return None


def print_summary(result: dict, out: TextIO) -> None:
    print(f"checked the log up to position {result['checked_to']} of {result['head_at_start']} "
          f"(its head when the check began)", file=out)
    print(f"log hash chain: {result['events_checked']} notifications and "
          f"{result['checkpoints_checked']} checkpoints checked (audit trail at position "
          f"{result['position']}; records it did not vouch for, checked from their stored "
          f"bytes alone: {result['outside_trail']})", file=out)
    print(f"application hash chains: {result['applications_checked']} applications, "
          f"{result['application_events_checked']} events", file=out)
    for line in summary_lines(result["evidence"]):
        print(line, file=out)
    print(f"audit: {verdict(result)}", file=out)
    for found in result["breaks"]:
        print(f"  {found['chain']} chain broken at {describe(found)}", file=out)
