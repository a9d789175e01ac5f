"""The guide's criteria, clause by clause, at every boundary (DOMAIN.md, "The criteria")."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.criteria import (
    CLAUSE_IDS,
    ClauseResult,
    apply_waivers,
    approvable,
    assess,
    clause_ids,
)
from domain.errors import PreconditionFailed
from domain.indicators import (
    APPLICATION,
    COMMON_FIELDS,
    INDUSTRIAL,
    OPERATIONS_TEAM,
    PLAN_STATUS,
    PROJECT_FIELDS,
    TRACK_FIELDS,
)
from domain.jurisdictions import EWN, PRD

# Each track's indicators, every clause passing, most of them exactly at the threshold.
_TRACK_PASSING = {
    INDUSTRIAL: {
        "backbone_enterprises_200m": 3,
        "internet_enterprises_30m": 10,
        "internet_enterprises": 10,
        "internet_enterprises_with_rd": 2,
        "innovation_platforms": 3,
        "rd_collaborations": 10,
    },
    APPLICATION: {
        "internet_tech_enterprises": 3,
        "traditional_enterprises": 10,
        "traditional_enterprises_integrated": 3,
        "enterprises": 10,
        "enterprises_with_it_department": 3,
        "innovation_platforms": 1,
        "rd_collaborations": 3,
    },
}


def passing(track: str, **overrides) -> dict:
    """A complete indicators dict of ``track`` on which every clause passes, with ``overrides``."""
    indicators = {
        "leadership_mechanism": True,
        "management_body": True,
        "operations_team": "established",
        "zone_defined": True,
        "planned_area_mu": 300,
        "core_area_mu": 150,
        "application_projects": [{"name": "Smart clinics", "field": "livelihood"}],
        "plan_status": "issued",
        "support_policies": True,
        "funding_ratio": {"province": 1, "city": 1, "district": 1},
        "service_platforms": 3,
        "fibre_mbps": 100,
        "lte_full_coverage": True,
        "public_wlan_full_coverage": True,
        **_TRACK_PASSING[track],
    }
    indicators.update(overrides)
    return indicators


def result_of(clause: str, region: str = PRD, **overrides) -> ClauseResult:
    """The result of ``clause`` for a town in ``region`` passing everything but ``overrides``."""
    track = INDUSTRIAL if clause.startswith("1") else APPLICATION
    results = assess(track, region, passing(track, **overrides))
    (result,) = [r for r in results if r.clause == clause]
    return result


def projects(*fields: str) -> list[dict]:
    return [{"name": f"project {i}", "field": field} for i, field in enumerate(fields)]


def with_rd(count: int, of: int) -> dict:
    return {"internet_enterprises_with_rd": count, "internet_enterprises": of}


def with_it(count: int, of: int) -> dict:
    return {"enterprises_with_it_department": count, "enterprises": of}


def funding(province, city, district) -> dict:
    return {"funding_ratio": {"province": province, "city": city, "district": district}}


# --- the tracks as a whole ------------------------------------------------------------------

def test_clause_ids_are_the_guides_numbering():
    assert CLAUSE_IDS == tuple(f"{track}({n})" for track in "12" for n in range(1, 8))
    assert clause_ids(INDUSTRIAL) == CLAUSE_IDS[:7]
    assert clause_ids(APPLICATION) == CLAUSE_IDS[7:]


def test_unknown_track_or_region_is_a_programming_error():
    with pytest.raises(ValueError):
        clause_ids("commercial")
    with pytest.raises(ValueError):
        assess(INDUSTRIAL, "hk", passing(INDUSTRIAL))


@pytest.mark.parametrize("track", [INDUSTRIAL, APPLICATION])
@pytest.mark.parametrize("region", [PRD, EWN])
def test_a_town_meeting_every_threshold_passes_every_clause(track, region):
    results = assess(track, region, passing(track))

    assert [r.clause for r in results] == list(clause_ids(track))
    assert [r.outcome for r in results] == ["pass"] * 7
    assert approvable(results) == (True, [])


def test_as_dict_is_plain_json():
    result = result_of("2(3)", traditional_enterprises=10, traditional_enterprises_integrated=3)

    data = result.as_dict()

    assert json.loads(json.dumps(data)) == data
    assert data == {
        "clause": "2(3)",
        "outcome": "pass",
        "detail": result.detail,
        "figures": {
            "internet_tech_enterprises": 3,
            "internet_tech_enterprises_required": 3,
            "share": "3/10",
            "share_percent": "30.00",
            "threshold_percent": "30",
        },
    }


# --- (1) organisation -----------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["1", "2"])
@pytest.mark.parametrize(
    "overrides, outcome, says",
    [
        ({}, "pass", "operations team established"),
        ({"operations_team": "forming"}, "pass", "operations team forming"),
        ({"operations_team": "none"}, "fail", "team none (needs established or forming)"),
        ({"leadership_mechanism": False}, "fail", "leadership mechanism: no"),
        ({"management_body": False}, "fail", "management body: no"),
    ],
)
def test_organisation(prefix, overrides, outcome, says):
    result = result_of(f"{prefix}(1)", **overrides)

    assert (result.outcome, says in result.detail) == (outcome, True), result.detail


# --- (2) zone and areas (soft) ----------------------------------------------------------------

@pytest.mark.parametrize(
    "clause, region, planned, core, outcome, says",
    [
        # Pearl River Delta, both tracks: 300 / 150
        ("1(2)", PRD, 300, 150, "pass", "300 mu >= 300 mu (PRD); core area 150 mu >= 150 mu"),
        ("1(2)", PRD, 299, 150, "warning", "planned area 299 mu < 300 mu (PRD)"),
        ("1(2)", PRD, 300, 149, "warning", "core area 149 mu < 150 mu"),
        ("2(2)", PRD, 300, 150, "pass", "planned area 300 mu >= 300 mu (PRD)"),
        ("2(2)", PRD, 299, 150, "warning", "planned area 299 mu < 300 mu (PRD)"),
        ("2(2)", PRD, 300, 149, "warning", "core area 149 mu < 150 mu"),
        # east, west and north: the application track asks 200 / 100 ...
        ("2(2)", EWN, 200, 100, "pass", "200 mu >= 200 mu (EWN); core area 100 mu >= 100 mu"),
        ("2(2)", EWN, 199, 100, "warning", "planned area 199 mu < 200 mu (EWN)"),
        ("2(2)", EWN, 200, 99, "warning", "core area 99 mu < 100 mu"),
        # ... but the industrial track still asks 300 / 150 there
        ("1(2)", EWN, 200, 100, "warning", "200 mu < 300 mu (EWN); core area 100 mu < 150 mu"),
        ("1(2)", EWN, 299, 150, "warning", "planned area 299 mu < 300 mu (EWN)"),
        ("1(2)", EWN, 300, 150, "pass", "planned area 300 mu >= 300 mu (EWN)"),
        # areas may be declared with decimals, compared exactly
        ("1(2)", PRD, 299.99, 150, "warning", "planned area 299.99 mu < 300 mu"),
        ("1(2)", PRD, 300.0, 150.5, "pass", "300 mu >= 300 mu (PRD); core area 150.5 mu"),
        ("2(2)", EWN, 200, 99.9, "warning", "core area 99.9 mu < 100 mu"),
    ],
)
def test_area_shortfall_is_a_warning_never_a_fail(clause, region, planned, core, outcome, says):
    result = result_of(clause, region, planned_area_mu=planned, core_area_mu=core)

    assert (result.outcome, says in result.detail) == (outcome, True), result.detail


def test_area_figures_carry_the_thresholds_of_the_region():
    result = result_of("2(2)", EWN, planned_area_mu=199, core_area_mu=100.5)

    assert result.figures == {
        "zone_defined": "yes",
        "region": "ewn",
        "planned_area_mu": 199,
        "planned_area_mu_required": 200,
        "core_area_mu": "100.5",
        "core_area_mu_required": 100,
    }


@pytest.mark.parametrize("clause", ["1(2)", "2(2)"])
@pytest.mark.parametrize("planned, core", [(300, 150), (10, 5)])
def test_zone_not_defined_fails_whatever_the_areas(clause, planned, core):
    result = result_of(clause, zone_defined=False, planned_area_mu=planned, core_area_mu=core)

    assert result.outcome == "fail"
    assert "zone defined: no" in result.detail


# --- (3) enterprises ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "backbone, internet_30m, outcome",
    [
        (3, 10, "pass"),
        (3, 0, "pass"),  # backbone enterprises alone suffice ...
        (0, 10, "pass"),  # ... or internet enterprises alone
        (2, 10, "pass"),
        (3, 9, "pass"),
        (2, 9, "fail"),
        (0, 0, "fail"),
    ],
)
def test_industrial_enterprises_backbone_or_internet(backbone, internet_30m, outcome):
    result = result_of(
        "1(3)", backbone_enterprises_200m=backbone, internet_enterprises_30m=internet_30m
    )

    assert result.outcome == outcome
    if outcome == "fail":
        assert f"backbone enterprises (>= CNY 200m) {backbone} < 3" in result.detail
        assert f"internet enterprises (>= CNY 30m) {internet_30m} < 10" in result.detail


@pytest.mark.parametrize(
    "tech, integrated, traditional, outcome, says",
    [
        (3, 3, 10, "pass", "traditional enterprises integrated 3/10 = 30.00 % >= 30 %"),
        (3, 30, 100, "pass", "30/100 = 30.00 % >= 30 %"),
        (3, 29, 100, "fail", "29/100 = 29.00 % < 30 %"),
        (3, 2999, 10000, "fail", "2999/10000 = 29.99 % < 30 %"),
        (3, 29999, 100000, "fail", "29999/100000 = 29.99 % < 30 %"),  # truncated, never 30.00
        (3, 1, 3, "pass", "1/3 = 33.33 % >= 30 %"),
        (3, 0, 0, "fail", "0/0: a share over zero enterprises fails"),
        (2, 3, 10, "fail", "internet-tech enterprises 2 < 3"),
    ],
)
def test_application_enterprises(tech, integrated, traditional, outcome, says):
    result = result_of(
        "2(3)",
        internet_tech_enterprises=tech,
        traditional_enterprises_integrated=integrated,
        traditional_enterprises=traditional,
    )

    assert (result.outcome, says in result.detail) == (outcome, True), result.detail
    assert result.figures["share"] == f"{integrated}/{traditional}"


# --- (4) projects ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "clause, fields, outcome",
    [
        ("1(4)", ("manufacturing",), "pass"),
        ("1(4)", ("government", "finance"), "pass"),
        ("1(4)", ("livelihood",), "pass"),
        ("1(4)", ("medical",), "pass"),  # a livelihood sub-field counts as livelihood
        ("1(4)", (), "fail"),
        ("1(4)", ("mining",), "fail"),  # not in the contract's list
        ("2(4)", ("livelihood",), "pass"),
        ("2(4)", ("medical",), "pass"),
        ("2(4)", ("elderly_care",), "pass"),
        ("2(4)", ("manufacturing", "education"), "pass"),
        ("2(4)", ("manufacturing",), "fail"),
        ("2(4)", ("finance", "logistics", "government"), "fail"),
        ("2(4)", (), "fail"),
    ],
)
def test_projects(clause, fields, outcome):
    result = result_of(clause, application_projects=projects(*fields))

    assert result.outcome == outcome, result.detail
    assert result.figures["projects"] == len(fields)


@pytest.mark.parametrize("field", PROJECT_FIELDS)
def test_every_listed_field_counts_for_the_industrial_track(field):
    assert result_of("1(4)", application_projects=projects(field)).outcome == "pass"


# --- (5) innovation -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides, outcome, says",
    [
        (with_rd(200, of=1000), "pass", "200/1000 = 20.00 % >= 20 %"),
        (with_rd(199, of=1000), "fail", "199/1000 = 19.90 % < 20 %"),
        (with_rd(1, of=5), "pass", "1/5 = 20.00 % >= 20 %"),
        (with_rd(0, of=0), "fail", "0/0: a share over zero"),
        ({"innovation_platforms": 3}, "pass", "innovation platforms 3 >= 3"),
        ({"innovation_platforms": 2}, "fail", "innovation platforms 2 < 3"),
        ({"rd_collaborations": 10}, "pass", "R&D collaborations 10 >= 10"),
        ({"rd_collaborations": 9}, "fail", "R&D collaborations 9 < 10"),
    ],
)
def test_industrial_innovation(overrides, outcome, says):
    result = result_of("1(5)", **overrides)

    assert (result.outcome, says in result.detail) == (outcome, True), result.detail


@pytest.mark.parametrize(
    "overrides, outcome, says",
    [
        (with_it(3, of=10), "pass", "3/10 = 30.00 % >= 30 %"),
        (with_it(30, of=100), "pass", "30/100 = 30.00 % >= 30 %"),
        (with_it(29, of=100), "fail", "29/100 = 29.00 % < 30 %"),
        (with_it(0, of=0), "fail", "0/0: a share over zero"),
        ({"innovation_platforms": 1}, "pass", "innovation platforms 1 >= 1"),
        ({"innovation_platforms": 0}, "fail", "innovation platforms 0 < 1"),
        ({"rd_collaborations": 3}, "pass", "R&D collaborations 3 >= 3"),
        ({"rd_collaborations": 2}, "fail", "R&D collaborations 2 < 3"),
    ],
)
def test_application_innovation(overrides, outcome, says):
    result = result_of("2(5)", **overrides)

    assert (result.outcome, says in result.detail) == (outcome, True), result.detail


# --- (6) plan, policies and funding ---------------------------------------------------------

@pytest.mark.parametrize("prefix", ["1", "2"])
@pytest.mark.parametrize(
    "overrides, outcome, says",
    [
        ({}, "pass", "funding province:city:district 1:1:1"),
        ({"plan_status": "drafting"}, "pass", "plan status drafting"),
        ({"plan_status": "none"}, "fail", "plan status none (needs issued or drafting)"),
        ({"support_policies": False}, "fail", "support policies: no"),
        (funding(1, 2, 3), "pass", "1:2:3"),
        (funding(0.5, 0.5, 0.5), "pass", "0.5:0.5:0.5"),
        (funding(0.3, 0.3, 1), "pass", "0.3:0.3:1"),
        (funding(1, 0.9, 1), "fail", "city 0.9 < province 1"),
        (funding(1, 1, 0.9), "fail", "district 0.9 < province 1"),
        (funding(0, 1, 1), "fail", "province 0 is not > 0"),
        (funding(0, 0, 0), "fail", "province 0 is not > 0"),
    ],
)
def test_policy_and_funding(prefix, overrides, outcome, says):
    result = result_of(f"{prefix}(6)", **overrides)

    assert (result.outcome, says in result.detail) == (outcome, True), result.detail


# --- (7) infrastructure ---------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["1", "2"])
@pytest.mark.parametrize(
    "overrides, outcome, says",
    [
        ({}, "pass", "fibre 100 Mbps >= 100 Mbps"),
        ({"fibre_mbps": 99}, "fail", "fibre 99 Mbps < 100 Mbps"),
        ({"service_platforms": 2}, "fail", "service platforms 2 < 3"),
        ({"lte_full_coverage": False}, "fail", "4G full coverage: no"),
        ({"public_wlan_full_coverage": False}, "fail", "public WLAN full coverage: no"),
    ],
)
def test_infrastructure(prefix, overrides, outcome, says):
    result = result_of(f"{prefix}(7)", **overrides)

    assert (result.outcome, says in result.detail) == (outcome, True), result.detail


# --- waivers and approval -------------------------------------------------------------------

def _short_of_area(**overrides) -> list[ClauseResult]:
    """An industrial town in the PRD whose planned area falls short: 1(2) is a warning."""
    return assess(INDUSTRIAL, PRD, passing(INDUSTRIAL, planned_area_mu=280, **overrides))


def test_a_waived_warning_no_longer_blocks_approval():
    results = _short_of_area()
    assert approvable(results) == (False, ["1(2)"])

    waived = apply_waivers(results, [{"criterion": "1(2)", "reason": "hill town, land is scarce"}])

    (zone,) = [r for r in waived if r.clause == "1(2)"]
    assert zone.outcome == "waived"
    assert zone.detail.startswith("zone defined: yes; planned area 280 mu < 300 mu (PRD)")
    assert zone.detail.endswith("waived: hill town, land is scarce")
    assert [r for r in waived if r.clause != "1(2)"] == [r for r in results if r.clause != "1(2)"]
    assert approvable(waived) == (True, [])
    assert results[1].outcome == "warning"  # the input is left as it was


def test_no_waivers_change_nothing():
    results = _short_of_area()

    assert apply_waivers(results, []) == results


@pytest.mark.parametrize(
    "criterion, outcome",
    [
        ("1(3)", "pass"),  # a pass
        ("1(7)", "fail"),  # a fail: hard requirements cannot be waived
        ("2(2)", "not assessed"),  # the other track's clause
        ("9(9)", "not assessed"),  # no such clause
    ],
)
def test_waiving_anything_but_a_warning_is_refused(criterion, outcome):
    results = _short_of_area(fibre_mbps=99)
    waivers = [
        {"criterion": "1(2)", "reason": "hill town"},
        {"criterion": criterion, "reason": "please"},
    ]

    with pytest.raises(PreconditionFailed) as refused:
        apply_waivers(results, waivers)

    assert refused.value.code == "precondition_failed"
    assert criterion in refused.value.message and outcome in refused.value.message
    assert list(refused.value.details) == ["payload.waivers[1].criterion"]


def test_a_waived_clause_cannot_be_waived_again_later():
    waived = apply_waivers(_short_of_area(), [{"criterion": "1(2)", "reason": "hill town"}])

    with pytest.raises(PreconditionFailed, match="waived"):
        apply_waivers(waived, [{"criterion": "1(2)", "reason": "again"}])


def test_approvable_lists_fails_and_unwaived_warnings_in_clause_order():
    results = _short_of_area(fibre_mbps=99, operations_team="none")

    assert approvable(results) == (False, ["1(1)", "1(2)", "1(7)"])
    assert approvable(apply_waivers(results, [{"criterion": "1(2)", "reason": "r"}])) == (
        False,
        ["1(1)", "1(7)"],
    )


# --- property: assess is total over well-typed indicators -----------------------------------

_counts = st.integers(min_value=0, max_value=30) | st.integers(min_value=0, max_value=10**9)
_numbers = _counts | st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
_STRATEGIES = {
    "leadership_mechanism": st.booleans(),
    "management_body": st.booleans(),
    "operations_team": st.sampled_from(OPERATIONS_TEAM),
    "zone_defined": st.booleans(),
    "planned_area_mu": _numbers,
    "core_area_mu": _numbers,
    "application_projects": st.lists(
        st.fixed_dictionaries(
            {"name": st.text(max_size=20), "field": st.sampled_from(PROJECT_FIELDS)}
        ),
        max_size=4,
    ),
    "plan_status": st.sampled_from(PLAN_STATUS),
    "support_policies": st.booleans(),
    "funding_ratio": st.fixed_dictionaries(
        {"province": _numbers, "city": _numbers, "district": _numbers}
    ),
    "lte_full_coverage": st.booleans(),
    "public_wlan_full_coverage": st.booleans(),
}


def _indicators(track: str):
    fields = COMMON_FIELDS + TRACK_FIELDS[track]
    return st.fixed_dictionaries({name: _STRATEGIES.get(name, _counts) for name in fields})


@st.composite
def _assessments(draw):
    track = draw(st.sampled_from([INDUSTRIAL, APPLICATION]))
    return track, draw(st.sampled_from([PRD, EWN])), draw(_indicators(track))


@settings(max_examples=300)
@given(_assessments())
def test_assess_is_total_and_warns_only_on_areas(case):
    track, region, indicators = case

    results = assess(track, region, indicators)

    assert [r.clause for r in results] == list(clause_ids(track))
    for result in results:
        assert result.outcome in ("pass", "fail", "warning")
        if result.outcome == "warning":
            assert result.clause.endswith("(2)") and indicators["zone_defined"]
        assert all(type(v) in (int, str) for v in result.figures.values()), result.figures
        assert json.loads(json.dumps(result.as_dict())) == result.as_dict()
        assert result.detail
