"""A large, realistic event log made fast: applications driven through their life cycle by the
aggregate itself and saved many at a time (no parsing, no inbox markers), for benchmarks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from domain import criteria, lifecycle as lc
from domain.applications import Application, Meta
from domain.jurisdictions import CITY_CODES, region_of
from domain.service import Towns
from tests.factories import CALL, indicators

CST = timezone(timedelta(hours=8))
CUTOFF = datetime(2017, 3, 30, 23, 59, 59, tzinfo=CST)


def _at(day: int, hour: int) -> datetime:
    return datetime(2017, 3, 1, 9, tzinfo=CST) + timedelta(days=day, hours=hour)


def _life(i: int, late: bool) -> list[tuple[type, str, dict]]:
    """Ten events: a return and resubmission, two receipts, a re-evaluation, the approval.
    ``late``: the second receipt is dated after the cutoff, so the deadline check lapses it."""
    track = "industrial" if i % 2 else "application"
    ind = indicators(track)
    results = [r.as_dict() for r in criteria.assess(track, region_of(CITY_CODES[i % 22]), ind)]
    evaluation = {"score": 80 + i % 20, "panel": ["Li Wei"], "findings": "", "waivers": [],
                  "criteria": results}
    half = {"paper_copies": 1, "a4_bound": True, "electronic_copies": 1, "electronic_labelled": True}
    return [
        (Application.Returned, "city", {"reason": "zone map missing"}),
        (Application.Resubmitted, "applicant", {"indicators": ind, "attestation": {
            "truthful": True, "lawful": True, "feasible": True}}),
        (Application.CityVerified, "city", {"attestation": {"truthful": True, "complete": True},
                                            "notes": ""}),
        (Application.Recommended, "city", {"rank": 1, "notes": ""}),
        (Application.MaterialsReceived, "province", half),
        (Application.MaterialsReceived, "province", {**half, "late": late}),
        (Application.Evaluated, "province", evaluation),
        (Application.Evaluated, "province", evaluation),
        (Application.Approved, "province", {"decision_ref": f"D-{i}"}),
    ]


def generate(towns: Towns, applications: int, per_save: int = 200, late_every: int = 10) -> int:
    """Records ``applications`` × 10 events; every ``late_every``-th application gets its
    materials completed only after the cutoff. Returns the number of events."""
    events = 0
    for start in range(0, applications, per_save):
        batch = []
        for i in range(start, min(start + per_save, applications)):
            city = CITY_CODES[i % 22]
            late = i % late_every == 0
            actor = {"role": "applicant", "id": "gen", "organisation": "gen", "city": city}
            app = Application.submit(Meta(_at(0, i % 8), actor, f"g-{i}-0"), {
                "call_id": CALL, "application_ref": f"G-{i:07d}", "town_name": f"Town {i}",
                "track": "industrial" if i % 2 else "application", "city": city,
                "applicant": {"name": f"Town {i} Government", "kind": "town_government"},
                "indicators": indicators("industrial" if i % 2 else "application"),
                "attestation": {"truthful": True, "lawful": True, "feasible": True},
                "owner": f"{city}-applicant",
            })
            for step, (cls, role, data) in enumerate(_life(i, late), start=1):
                day = 31 if late and step == 6 else step * 2
                who = {**actor, "role": role} if role != "province" else {
                    "role": "province", "id": "gen", "organisation": "gen"}
                app.record(cls, Meta(_at(day, 1), who, f"g-{i}-{step}"),
                           {k: v for k, v in data.items() if k != "late"})
            batch.append(app)
        towns.save(*batch)
        events += sum(a.version for a in batch)
    return events


def twenty_event_application(towns: Towns, ref: str = "G-TWENTY") -> None:
    """One application with a history of twenty events (receipts add up)."""
    actor = {"role": "applicant", "id": "gen", "organisation": "gen", "city": "shunde"}
    province = {"role": "province", "id": "gen", "organisation": "gen"}
    app = Application.submit(Meta(_at(0, 1), actor, f"{ref}-0"), {
        "call_id": CALL, "application_ref": ref, "town_name": "Beijiao", "track": "industrial",
        "city": "shunde", "applicant": {"name": "Beijiao", "kind": "town_government"},
        "indicators": indicators("industrial"),
        "attestation": {"truthful": True, "lawful": True, "feasible": True},
        "owner": "shunde-applicant"})
    app.record(Application.CityVerified, Meta(_at(1, 1), {**actor, "role": "city"}, f"{ref}-1"),
               {"attestation": {"truthful": True, "complete": True}, "notes": ""})
    app.record(Application.Recommended, Meta(_at(2, 1), {**actor, "role": "city"}, f"{ref}-2"),
               {"rank": 1, "notes": ""})
    for n in range(3, 20):
        app.record(Application.MaterialsReceived, Meta(_at(3, n % 20), province, f"{ref}-{n}"),
                   {"paper_copies": 0, "a4_bound": True, "electronic_copies": 0,
                    "electronic_labelled": True})
    assert app.version == 20 and app.status == lc.RECOMMENDED
    towns.save(app)
