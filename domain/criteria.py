"""The guide's criteria (Attachment 1, part 二(一)) as pure functions over declared indicators.

Each clause of a track reads the indicators (CONTRACT.md §2) and gets one outcome: ``pass``;
``fail``, a hard requirement not met; ``warning``, an area shortfall in clause (2) while the zone
is defined (the guide lets areas "be adjusted as appropriate", 可酌情增减, so an evaluator may
waive it with a reason); or ``waived``, such a warning after the waiver.

Shares are computed here from declared counts, in exact arithmetic: 3 of 10 is exactly 30 % and
passes, and a share over zero enterprises fails. Declared floats (areas, funding ratios) are read
as the decimal written, not the nearest binary fraction, so 0.1 is exactly 1/10 (the numbers
and the sub-conditions a clause is judged on: ``domain.criteria_checks``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from domain.criteria_checks import (
    FAIL,
    OUTCOMES,
    PASS,
    WAIVED,
    WARNING,
    Verdict,
    _all_of,
    _at_least,
    _flag,
    _funding,
    _one_of,
    _projects,
    _share,
    _verdict,
)
from domain.errors import PreconditionFailed
from domain.indicators import (
    APPLICATION,
    INDUSTRIAL,
    LIVELIHOOD_SUBFIELDS,
    PROJECT_FIELDS,
)
from domain.jurisdictions import EWN, PRD

__all__ = ["CLAUSE_IDS", "FAIL", "OUTCOMES", "PASS", "WAIVED", "WARNING", "ClauseResult", "Verdict",
           "apply_waivers", "approvable", "assess", "clause_ids"]

_PREFIX = {INDUSTRIAL: "1", APPLICATION: "2"}
CLAUSE_IDS: tuple[str, ...] = tuple(f"{p}({n})" for p in ("1", "2") for n in range(1, 8))

# (track, region) -> (planned mu, core mu); the industrial track asks the same everywhere.
_AREA_THRESHOLDS = {
    (INDUSTRIAL, PRD): (300, 150),
    (INDUSTRIAL, EWN): (300, 150),
    (APPLICATION, PRD): (300, 150),
    (APPLICATION, EWN): (200, 100),
}


@dataclass(frozen=True)
class ClauseResult:
    """The outcome of one clause, with a one-sentence detail and the figures it was judged on."""

    clause: str
    outcome: str
    detail: str
    figures: dict

    def as_dict(self) -> dict:
        """The result as plain JSON-safe data."""
        return {"clause": self.clause, "outcome": self.outcome, "detail": self.detail,
                "figures": dict(self.figures)}


# --- clauses --------------------------------------------------------------------------------

def _organisation(ind: Mapping[str, Any], region: str) -> Verdict:
    return _all_of([
        _flag("leadership mechanism", "leadership_mechanism", ind),
        _flag("management body", "management_body", ind),
        _one_of("operations team", "operations_team", ind, ("established", "forming")),
    ])


def _zone(track: str, ind: Mapping[str, Any], region: str) -> Verdict:
    planned, core = _AREA_THRESHOLDS[(track, region)]
    zone = _flag("zone defined", "zone_defined", ind)
    planned_area = _at_least("planned area", "planned_area_mu", ind, planned, " mu")
    checks = [
        zone,
        replace(planned_area, text=f"{planned_area.text} ({region.upper()})",
                figures={**planned_area.figures, "region": region}),
        _at_least("core area", "core_area_mu", ind, core, " mu"),
    ]
    if not zone.ok:
        return _verdict(False, checks)
    return _verdict(all(c.ok for c in checks), checks, soft=True)


def _industrial_zone(ind: Mapping[str, Any], region: str) -> Verdict:
    return _zone(INDUSTRIAL, ind, region)


def _application_zone(ind: Mapping[str, Any], region: str) -> Verdict:
    return _zone(APPLICATION, ind, region)


def _industrial_enterprises(ind: Mapping[str, Any], region: str) -> Verdict:
    checks = [_at_least("backbone enterprises (>= CNY 200m)", "backbone_enterprises_200m", ind, 3),
              _at_least("internet enterprises (>= CNY 30m)", "internet_enterprises_30m", ind, 10)]
    return _verdict(any(c.ok for c in checks), checks)  # the guide's "or"


def _application_enterprises(ind: Mapping[str, Any], region: str) -> Verdict:
    return _all_of([
        _at_least("internet-tech enterprises", "internet_tech_enterprises", ind, 3),
        _share("traditional enterprises integrated", ind,
               "traditional_enterprises_integrated", "traditional_enterprises", 30),
    ])


def _industrial_projects(ind: Mapping[str, Any], region: str) -> Verdict:
    return _all_of([_projects("a listed field", ind, PROJECT_FIELDS)])


def _application_projects(ind: Mapping[str, Any], region: str) -> Verdict:
    return _all_of([_projects("livelihood fields", ind, ("livelihood",) + LIVELIHOOD_SUBFIELDS)])


def _industrial_innovation(ind: Mapping[str, Any], region: str) -> Verdict:
    return _all_of([
        _share("internet enterprises with R&D", ind, "internet_enterprises_with_rd",
               "internet_enterprises", 20),
        _at_least("innovation platforms", "innovation_platforms", ind, 3),
        _at_least("R&D collaborations", "rd_collaborations", ind, 10),
    ])


def _application_innovation(ind: Mapping[str, Any], region: str) -> Verdict:
    return _all_of([
        _share("enterprises with an IT department", ind, "enterprises_with_it_department",
               "enterprises", 30),
        _at_least("innovation platforms", "innovation_platforms", ind, 1),
        _at_least("R&D collaborations", "rd_collaborations", ind, 3),
    ])


def _policy(ind: Mapping[str, Any], region: str) -> Verdict:
    return _all_of([
        _one_of("plan status", "plan_status", ind, ("issued", "drafting")),
        _flag("support policies", "support_policies", ind),
        _funding(ind),
    ])


def _infrastructure(ind: Mapping[str, Any], region: str) -> Verdict:
    return _all_of([
        _at_least("service platforms", "service_platforms", ind, 3),
        _at_least("fibre", "fibre_mbps", ind, 100, " Mbps"),
        _flag("4G full coverage", "lte_full_coverage", ind),
        _flag("public WLAN full coverage", "public_wlan_full_coverage", ind),
    ])


_CLAUSES: dict[str, Callable[[Mapping[str, Any], str], Verdict]] = {
    "1(1)": _organisation, "1(2)": _industrial_zone, "1(3)": _industrial_enterprises,
    "1(4)": _industrial_projects, "1(5)": _industrial_innovation, "1(6)": _policy,
    "1(7)": _infrastructure,
    "2(1)": _organisation, "2(2)": _application_zone, "2(3)": _application_enterprises,
    "2(4)": _application_projects, "2(5)": _application_innovation, "2(6)": _policy,
    "2(7)": _infrastructure,
}


# --- public ---------------------------------------------------------------------------------

def clause_ids(track: str) -> tuple[str, ...]:
    """The seven clause ids of ``track`` (``industrial`` or ``application``), in order."""
    if track not in _PREFIX:
        raise ValueError(f"unknown track {track!r}")
    return tuple(c for c in CLAUSE_IDS if c.startswith(_PREFIX[track]))


def assess(track: str, region: str, indicators: Mapping[str, Any]) -> list[ClauseResult]:
    """The seven results of ``track`` for a town in ``region`` (``prd``/``ewn``), in clause order.

    ``indicators`` must carry every field of the track (CONTRACT.md §2), well typed; the edge
    and the service check that before the criteria are read.
    """
    if region not in (PRD, EWN):
        raise ValueError(f"unknown region {region!r}")
    return [ClauseResult(clause, *_CLAUSES[clause](indicators, region))
            for clause in clause_ids(track)]


def apply_waivers(results: Sequence[ClauseResult],
                  waivers: Sequence[Mapping[str, str]]) -> list[ClauseResult]:
    """``results`` with each waived ``warning`` turned into ``waived``, the reason in its detail.

    Raises PreconditionFailed for a waiver of a clause that is not a ``warning`` among
    ``results``: a pass, a fail, or a clause that was not assessed (another track's).
    """
    outcomes = {r.clause: r.outcome for r in results}
    reasons: dict[str, list[str]] = {}
    for i, waiver in enumerate(waivers):
        clause = waiver.get("criterion")
        outcome = outcomes.get(clause)
        if outcome != WARNING:
            found = f"its outcome is {outcome}" if outcome else "it was not assessed here"
            raise PreconditionFailed(
                f"clause {clause} cannot be waived: {found}, and only a warning may be waived",
                {f"payload.waivers[{i}].criterion": f"{clause}: {found}, not a warning"},
            )
        reasons.setdefault(clause, []).append(str(waiver.get("reason", "")))
    return [_waived(r, reasons[r.clause]) if r.clause in reasons else r for r in results]


def _waived(result: ClauseResult, reasons: list[str]) -> ClauseResult:
    detail = "; ".join([result.detail] + [f"waived: {reason}" for reason in reasons])
    return ClauseResult(result.clause, WAIVED, detail, dict(result.figures))


def approvable(results: Sequence[ClauseResult]) -> tuple[bool, list[str]]:
    """Whether the results allow approval, and the clauses in the way (``fail`` or ``warning``)."""
    blocking = [r.clause for r in results if r.outcome in (FAIL, WARNING)]
    return not blocking, blocking
