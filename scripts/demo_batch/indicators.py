"""Declared indicators, and the criteria (DOMAIN.md) they pass, fail or warn against."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

from .common import APP, IND, PRD, TABLES
from .towns import Town

AREA_NEEDED = {(track, region): tuple(needed) for track, by_region in TABLES["area_needed"].items()
               for region, needed in by_region.items()}  # (track, region): (planned, core) mu
INDUSTRIAL_PROJECTS = TABLES["projects"]["industrial"]  # [name, field]
LIVELIHOOD_PROJECTS = TABLES["projects"]["livelihood"]
OTHER_PROJECTS = TABLES["projects"]["other"]


def _projects(rng: random.Random, track: str) -> list[dict]:
    if track == IND:
        chosen = rng.sample(INDUSTRIAL_PROJECTS, rng.randint(2, 4))
    else:
        chosen = rng.sample(LIVELIHOOD_PROJECTS, rng.randint(2, 3))
        if rng.random() < 0.4:
            chosen.append(rng.choice(OTHER_PROJECTS))
    return [{"name": name, "field": fld} for name, fld in chosen]


def _areas(rng: random.Random, track: str, region: str, profile: str) -> tuple[Any, Any]:
    planned_needed, core_needed = AREA_NEEDED[(track, region)]
    if profile == "edge":
        return planned_needed, core_needed  # exactly on the threshold: passes
    if profile == "area" and track == APP:
        planned = 280 if region == PRD else 190  # a planned-area shortfall: a warning
        return planned, core_needed + 5 * rng.randint(1, 8)
    if profile == "area":
        return 10 * rng.randint(40, 120), 140  # industrial: core area 140 < 150 mu
    if profile == "area2":
        return (280, 140) if region == PRD else (190, 95)  # both short
    planned = 10 * rng.randint(planned_needed // 10 + 6, planned_needed // 2)
    core = 5 * rng.randint(core_needed // 5 + 4, planned // 10)
    if rng.random() < 0.25:
        core += 0.5  # areas are surveyed, not always whole mu
    return planned, core


def common_indicators(rng: random.Random, track: str, region: str, profile: str) -> dict:
    planned, core = _areas(rng, track, region, profile)
    edge = profile == "edge"
    funding = {"province": 1, "city": rng.choice([1, 1, 1.5, 2]),
               "district": rng.choice([1, 1, 2, 3])}
    if edge:
        funding = {"province": 1, "city": 1, "district": 1}
    if profile == "low_funding":
        funding = {"province": 1, "city": 0.5, "district": 1}  # city below province: fails (6)
    return {
        "leadership_mechanism": True,
        "management_body": True,
        "operations_team": "none" if profile == "no_team" else rng.choice(
            ["established", "established", "forming"]),
        "zone_defined": profile != "no_zone",
        "planned_area_mu": planned,
        "core_area_mu": core,
        "application_projects": _projects(rng, track),
        "plan_status": "none" if profile == "no_plan" else rng.choice(["issued", "drafting"]),
        "support_policies": True,
        "funding_ratio": funding,
        "service_platforms": 3 if edge else rng.randint(4, 11),
        "fibre_mbps": 50 if profile == "weak_network" else (
            100 if edge else rng.choice([200, 500, 1000])),
        "lte_full_coverage": True,
        "public_wlan_full_coverage": profile != "weak_network",
    }


def industrial_indicators(rng: random.Random, profile: str) -> dict:
    if profile == "edge":  # 3 backbone (and only 9 smaller firms), 5 of 25 = 20 % with R&D
        return {"backbone_enterprises_200m": 3, "internet_enterprises_30m": 9,
                "internet_enterprises": 25, "internet_enterprises_with_rd": 5,
                "innovation_platforms": 3, "rd_collaborations": 10}
    total = rng.randint(40, 160)
    ind = {
        "backbone_enterprises_200m": rng.randint(3, 9),
        "internet_enterprises_30m": rng.randint(10, 45),
        "internet_enterprises": total,
        "internet_enterprises_with_rd": total // 4 + rng.randint(1, total // 4),
        "innovation_platforms": rng.randint(3, 12),
        "rd_collaborations": rng.randint(10, 45),
    }
    if profile == "few_enterprises":  # neither 3 backbone nor 10 internet enterprises
        ind.update(backbone_enterprises_200m=2, internet_enterprises_30m=8)
    if profile == "low_rd":  # 19 of 100 = 19 % < 20 %
        ind.update(internet_enterprises=100, internet_enterprises_with_rd=19)
    return ind


def application_indicators(rng: random.Random, profile: str) -> dict:
    if profile == "edge":  # 3 of 10 = 30 % integrated, 6 of 20 = 30 % with an IT department
        return {"internet_tech_enterprises": 3, "traditional_enterprises": 10,
                "traditional_enterprises_integrated": 3, "enterprises": 20,
                "enterprises_with_it_department": 6, "innovation_platforms": 1,
                "rd_collaborations": 3}
    traditional = rng.randint(40, 220)
    tech = rng.randint(4, 30)
    total = traditional + tech + rng.randint(10, 80)
    ind = {
        "internet_tech_enterprises": tech,
        "traditional_enterprises": traditional,
        "traditional_enterprises_integrated": traditional * 7 // 20 + rng.randint(1, traditional // 4),
        "enterprises": total,
        "enterprises_with_it_department": total * 7 // 20 + rng.randint(1, total // 5),
        "innovation_platforms": rng.randint(1, 6),
        "rd_collaborations": rng.randint(3, 15),
    }
    if profile == "few_enterprises":  # only 2 internet-tech enterprises
        ind.update(internet_tech_enterprises=2)
    if profile == "low_rd":
        ind.update(enterprises=100, enterprises_with_it_department=19)
    return ind


def indicators_for(rng: random.Random, app: Town, profile: str) -> dict:
    ind = common_indicators(rng, app.track, app.region, profile)
    track_part = industrial_indicators if app.track == IND else application_indicators
    ind.update(track_part(rng, profile))
    return ind


# =============================================================================================
# The criteria (DOMAIN.md): which clauses pass, fail or warn

LIVELIHOOD = set(TABLES["livelihood_fields"])


def assess(track: str, region: str, ind: dict) -> dict[str, str]:
    """clause id -> pass | fail | warning, read as DOMAIN.md says."""
    def share(part: str, whole: str, percent: int) -> bool:
        return ind[whole] > 0 and Fraction(ind[part], ind[whole]) * 100 >= percent

    def num(v: Any) -> Fraction:
        return Fraction(str(v)) if isinstance(v, float) else Fraction(v)

    p = "1" if track == IND else "2"
    planned_needed, core_needed = AREA_NEEDED[(track, region)]
    fund = {k: num(v) for k, v in ind["funding_ratio"].items()}
    fields = {f["field"] for f in ind["application_projects"]}
    out = {
        f"{p}(1)": ind["leadership_mechanism"] and ind["management_body"]
        and ind["operations_team"] in ("established", "forming"),
        f"{p}(6)": ind["plan_status"] in ("issued", "drafting") and ind["support_policies"]
        and fund["province"] > 0 and fund["city"] >= fund["province"]
        and fund["district"] >= fund["province"],
        f"{p}(7)": ind["service_platforms"] >= 3 and ind["fibre_mbps"] >= 100
        and ind["lte_full_coverage"] and ind["public_wlan_full_coverage"],
    }
    if track == IND:
        out["1(3)"] = ind["backbone_enterprises_200m"] >= 3 or ind["internet_enterprises_30m"] >= 10
        out["1(4)"] = bool(fields)
        out["1(5)"] = (share("internet_enterprises_with_rd", "internet_enterprises", 20)
                       and ind["innovation_platforms"] >= 3 and ind["rd_collaborations"] >= 10)
    else:
        out["2(3)"] = (ind["internet_tech_enterprises"] >= 3
                       and share("traditional_enterprises_integrated", "traditional_enterprises", 30))
        out["2(4)"] = bool(fields & LIVELIHOOD)
        out["2(5)"] = (share("enterprises_with_it_department", "enterprises", 30)
                       and ind["innovation_platforms"] >= 1 and ind["rd_collaborations"] >= 3)
    result = {clause: ("pass" if ok else "fail") for clause, ok in out.items()}
    if not ind["zone_defined"]:
        result[f"{p}(2)"] = "fail"
    elif num(ind["planned_area_mu"]) >= planned_needed and num(ind["core_area_mu"]) >= core_needed:
        result[f"{p}(2)"] = "pass"
    else:
        result[f"{p}(2)"] = "warning"
    return dict(sorted(result.items()))
