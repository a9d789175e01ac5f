"""``towns demo``: the 2017 batch through the ingest path on the embedded default, then a report.

Each commit nudges the projections, which the in-process worker catches up; the report waits
until they have (``Runtime.drain``). It shows applications per state and jurisdiction, every
refused message with its code and detail, the deadline check, the deadline report as the
``deadline_report`` projection has it, and the audit: every application's hash chain and the
chain over the whole log verified.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from adapters.audit.verify import describe, verify
from adapters.audit.evidence.summary import summary_lines
from adapters.inbound.batch import DeadlineCheckRequest, Message, read_batch
from adapters.config import Config
from adapters.inbound.ingest import ingest
from adapters.bootstrap import Runtime
from domain import lifecycle as lc
from domain.deadline_checks import DeadlineRun
from domain.errors import DomainError
from domain.jurisdictions import JURISDICTIONS
from domain.service import Towns


@dataclass
class DemoResult:
    applied: int = 0
    duplicates: int = 0
    refused: list[tuple[Message, DomainError]] = field(default_factory=list)
    checks: list[DeadlineRun] = field(default_factory=list)
    before_checks: list[Counter] = field(default_factory=list)  # states just before each check

    @property
    def codes(self) -> Counter:
        return Counter(error.code for _, error in self.refused)


def run_batch(towns: Towns, config: Config, path: Path,
              on_progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Sends every message of the batch through the ingest path, in file order.
    ``on_progress`` is told (lines done, lines of the batch) after each."""
    result = DemoResult()
    items = read_batch(path, config)
    for done, item in enumerate(items, start=1):
        _send(towns, item, result)
        if on_progress is not None:
            on_progress(done, len(items))
    return result


def _send(towns: Towns, item: Message | DeadlineCheckRequest, result: DemoResult) -> None:
    if isinstance(item, DeadlineCheckRequest):
        result.before_checks.append(_states(towns, item.call_id))
        result.checks.append(towns.check_deadline(item.call_id, item.as_of))
        return
    try:
        outcome = ingest(towns, item.body, item.principal)
    except DomainError as error:
        result.refused.append((item, error))
        return
    result.duplicates += outcome.duplicate
    result.applied += not outcome.duplicate


def _states(towns: Towns, call_id: str) -> Counter:
    return Counter(towns.application_by_id(i).status for i in towns.application_ids(call_id))


def report(runtime: Runtime, config: Config, result: DemoResult, out: TextIO,
           checked: dict | None = None) -> dict:
    """Prints the report; returns the audit's verification, which decides the command's exit:
    ``checked``, where the caller has verified the log already (``check``), else one made here."""
    towns = runtime.towns
    for call in config.calls.values():
        _pipeline(towns, call.id, out)
    _deadline(towns, result, out)
    for call in config.calls.values():
        _deadline_report(runtime, call.id, out)
    _refusals(result, out)
    return _audit(runtime, out, checked if checked is not None else check(runtime))


def check(runtime: Runtime, on_progress: Callable[[int, int], None] | None = None) -> dict:
    """The audit's verification of the whole log (``adapters.audit.verify``); ``on_progress`` is
    told (position checked to, head) as it goes."""
    return verify(runtime.towns, runtime.runner, None, on_progress)


def _pipeline(towns: Towns, call_id: str, out: TextIO) -> None:
    apps = [towns.application_by_id(i) for i in towns.application_ids(call_id)]
    if not apps:
        return
    counts = Counter((a.city, a.status) for a in apps)
    short = {s: s.replace("city_verified", "verified")[:9] for s in lc.STATES}
    print(f"\n{call_id}: {len(apps)} applications by jurisdiction and state", file=out)
    header = f"{'jurisdiction':<14}" + "".join(f"{short[s]:>10}" for s in lc.STATES) + f"{'total':>8}"
    print(header, file=out)
    for city, j in JURISDICTIONS.items():
        row = [counts[(city, s)] for s in lc.STATES]
        cells = "".join(f"{n or '.':>10}" for n in row)
        print(f"{j.name + ' ' + j.chinese:<12}{cells}{sum(row):>8}", file=out)
    totals = [sum(counts[(c, s)] for c in JURISDICTIONS) for s in lc.STATES]
    print(f"{'all':<14}" + "".join(f"{n:>10}" for n in totals) + f"{len(apps):>8}", file=out)
    tracks = Counter(a.track for a in apps)
    regions = Counter(a.region for a in apps)
    print(f"tracks: {dict(tracks)}; regions: {dict(regions)}", file=out)


def _deadline(towns: Towns, result: DemoResult, out: TextIO) -> None:
    for run, before in zip(result.checks, result.before_checks):
        states = ", ".join(f"{s} {before[s]}" for s in lc.STATES if before[s])
        print(f"\nstates just before the deadline check: {states}", file=out)
        state = "ran" if run.due else "not due"
        print(
            f"\ndeadline check {run.call_id} as of {run.as_of.isoformat()}: {state}; "
            f"{run.checked} open applications checked, {len(run.lapsed)} lapsed: "
            f"{', '.join(run.lapsed) or '-'}",
            file=out,
        )
        apps = [towns.application_by_id(i) for i in towns.application_ids(run.call_id)]
        outcomes = Counter(towns.deadline_outcome(a).outcome for a in apps)
        print(f"deadline outcomes now: {dict(sorted(outcomes.items()))}", file=out)


def _refusals(result: DemoResult, out: TextIO) -> None:
    print(
        f"\nmessages: {result.applied} applied, {result.duplicates} duplicates, "
        f"{len(result.refused)} refused",
        file=out,
    )
    for code, n in sorted(result.codes.items()):
        print(f"  {code:<22}{n:>4}", file=out)
    print("\nrefused messages (batch line, principal, code: detail):", file=out)
    for message, error in result.refused:
        print(
            f"  line {message.line:>4}  {message.principal_name or '-':<22} "
            f"{error.code}: {error.message}",
            file=out,
        )


def _deadline_report(runtime: Runtime, call_id: str, out: TextIO) -> None:
    """The deadline report as its projection has it: outcomes, then the evidence."""
    with runtime.store.transaction() as tx:
        rows = tx.all("SELECT application_ref, deadline_outcome, detail, state FROM "
                      "deadline_report WHERE call_id = ? ORDER BY application_ref", (call_id,))
    if not rows:
        return
    counts = Counter(outcome for _, outcome, _, _ in rows)
    print(f"\ndeadline report {call_id} (projection): "
          + ", ".join(f"{o} {n}" for o, n in sorted(counts.items())), file=out)
    for ref, outcome, detail, state in rows:
        if outcome == "lapsed":
            print(f"  lapsed      {ref}: {detail}", file=out)
    for ref, outcome, detail, state in rows:
        if outcome == "reinstated":
            evidence = (json.loads(state).get("reinstated") or {}).get("evidence", "-")
            print(f"  reinstated  {ref}: {detail} (evidence: message {evidence})", file=out)


def _audit(runtime: Runtime, out: TextIO, result: dict) -> dict:
    chains = " ".join(found["chain"] for found in result["breaks"])
    print(f"\naudit: {result['applications_checked']} application hash chains over "
          f"{result['application_events_checked']} events: "
          f"{_verdict('application', chains, result)}", file=out)
    print(f"audit: the log's hash chain over {result['events_checked']} notifications up to "
          f"position {result['checked_to']}, {result['checkpoints_checked']} checkpoints: "
          f"{_verdict('log', chains, result)}", file=out)
    for found in result["breaks"]:
        print(f"  {found['chain']} chain broken at {describe(found)}", file=out)
    for line in summary_lines(result["evidence"]):
        print(f"audit: {line}", file=out)
    return result


def _verdict(chain: str, chains: str, result: dict) -> str:
    if chain in chains:
        return "BROKEN"
    return "intact" if result["ok"] is not None else f"NOT VERIFIED ({result['incomplete']})"
