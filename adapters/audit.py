"""``towns audit verify`` (and ``GET /api/v1/audit/verify``): recompute both hash chains.

``verify(towns, runner)`` first catches the audit projection up, then checks
  * every application's own chain (each event's hash covers its content and the previous hash),
    read from the event store, and that the audit trail recorded the same hashes;
  * the chain over the whole log: every notification up to the audit projection's position, of
    every topic, read raw from the store in pages of 1000, against ``audit_chain`` (a notification
    whose stored bytes differ from those recorded, a missing or an extra row, a wrong link) and
    ``audit_checkpoints``.
It answers ``{"ok", "events_checked" (notifications of the log chain), "first_break", "breaks",
"position", "applications_checked", "application_events_checked", "checkpoints_checked"}``; a
break is ``{"chain" (application | log | application+log), "position", "topic", "call_id",
"application_ref", "version", "reason"}`` with None where a field does not apply, and
``first_break`` is the earliest in log order. Exporting lives in ``adapters.audit_export``.
"""

from __future__ import annotations

from typing import Any, TextIO
from uuid import UUID

from adapters.audit_export import check_export, export, write_csv, write_json  # noqa: F401
from adapters.audit_log import FIELDS, PAGE, breach, verify_log
from domain.history import ChainBreak, first_break
from domain.service import Towns
from projections.audit import AuditTrail
from projections.runner import ProjectionRunner


def verify(towns: Towns, runner: ProjectionRunner) -> dict[str, Any]:
    runner.setup()
    names = runner.projection(AuditTrail.name).live_names()
    stalled = _catch_up(towns, runner)
    with runner.store.transaction() as tx:
        position = runner.store.position(tx, AuditTrail.name)
        apps = {a: (c, r) for a, c, r in tx.all(
            f"SELECT app_id, call_id, application_ref FROM {names['audit_applications']} "
            "ORDER BY position")}
    breaks: list[dict] = []
    checked, events = _applications(towns, runner, names, apps, breaks)
    log_events, checkpoints = verify_log(towns, runner, names, apps, position, breaks)
    if stalled:
        breaks.append(breach("log", apps, *stalled))
    breaks.sort(key=lambda b: (b["position"] is None, b["position"] or 0))
    return {"ok": not breaks, "events_checked": log_events, "first_break": _first(breaks),
            "breaks": breaks, "position": position, "applications_checked": checked,
            "application_events_checked": events, "checkpoints_checked": checkpoints}


def _catch_up(towns: Towns, runner: ProjectionRunner) -> tuple | None:
    """Projects as far as it can; None, or the notification it cannot get past and why (a
    record that does not decode, or decodes to an event the trail cannot read)."""
    batch = PAGE
    while True:
        try:
            if not runner.run_once(AuditTrail.name, batch):
                return None  # at the end of the log, or another runner holds the trail
        except Exception as failure:
            if batch > 1:
                batch //= 2  # narrow down to the one notification that fails
                continue
            with runner.store.transaction() as tx:
                position = runner.store.position(tx, AuditTrail.name)
            after = towns.recorder.select_notifications(position, 1, inclusive_of_start=False)
            if not after:
                raise
            culprit = after[0]
            try:
                towns.mapper.to_domain_event(culprit)
            except Exception as error:  # noqa: BLE001 - an undecodable record is the break
                return culprit, f"stored bytes cannot be decoded ({type(error).__name__}: {error})"
            if isinstance(failure, (KeyError, TypeError, ValueError, AttributeError)):
                return culprit, f"the audit trail cannot read it ({type(failure).__name__}: {failure})"
            raise


def _applications(towns: Towns, runner: ProjectionRunner, names: dict, apps: dict,
                  breaks: list) -> tuple[int, int]:
    """Each application's own chain, as ``Towns.verify_application`` checks it."""
    checked = events = 0
    ids = [a for a, (call_id, _) in apps.items() if call_id in towns.calls]
    for start in range(0, len(ids), PAGE // 5):
        chunk = ids[start : start + PAGE // 5]
        recorded: dict[str, dict[int, tuple]] = {a: {} for a in chunk}
        with runner.store.transaction() as tx:
            for app_id, version, position, digest in tx.all(
                f"SELECT app_id, version, position, hash FROM {names['audit_events']} "
                f"WHERE app_id IN ({', '.join('?' for _ in chunk)})", chunk):
                recorded[app_id][version] = (position, digest)
        for app_id in chunk:
            stored = towns.stored_events(UUID(app_id))
            checked, events = checked + 1, events + len(stored)
            found = first_break(stored) or _against_trail(stored, recorded[app_id])
            if found:
                position = recorded[app_id].get(found.version, (None,))[0]
                breaks.append(breach("application", apps, position, found.reason, app_id,
                                     found.version))
    return checked, events


def _against_trail(stored: list, recorded: dict[int, tuple]) -> ChainBreak | None:
    """Where the store and the trail's hashes differ, or the store lacks a recorded event."""
    for event in stored:
        row = recorded.get(event.originator_version)
        if row is not None and row[1] != event.hash:
            return ChainBreak(event.originator_version, "hash differs from the audit trail's")
    missing = sorted(v for v in recorded if v > len(stored))
    if missing:
        return ChainBreak(missing[0], "recorded by the audit trail, missing from the store")
    return None


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


def print_summary(result: dict, out: TextIO) -> None:
    verdict = "intact" if result["ok"] else "BROKEN"
    print(f"log hash chain: {result['events_checked']} notifications and "
          f"{result['checkpoints_checked']} checkpoints checked (audit trail at position "
          f"{result['position']})", file=out)
    print(f"application hash chains: {result['applications_checked']} applications, "
          f"{result['application_events_checked']} events", file=out)
    print(f"audit: {verdict}", file=out)
    for found in result["breaks"]:
        print(f"  {found['chain']} chain broken at {describe(found)}", file=out)
