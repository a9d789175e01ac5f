"""Payload builders, and ``Flow``: one application's events, each after the last."""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta

from .batch import Batch, Step, applicant_actor, city_actor, envelope, province_actor
from .common import APPLICANT, CITY, PROVINCE, STAGES, TABLES, pick
from .indicators import assess
from .towns import Town

PANEL: list[str] = TABLES["panel"]
WAIVER_REASONS: list[str] = TABLES["waiver_reasons"]


def attestation() -> dict:
    return {"truthful": True, "lawful": True, "feasible": True}


def decision_ref(when: datetime) -> str:
    # One decision letter a day; the numbers grow through the year.
    return f"粤经信函〔2017〕{150 + 4 * when.timetuple().tm_yday}号"


def findings_text(app: Town, outcomes: dict[str, str], waived: set[str]) -> str:
    failed = [c for c, o in outcomes.items() if o == "fail"]
    warned = [c for c, o in outcomes.items() if o == "warning"]
    parts = []
    if failed:
        parts.append(f"clause {', '.join(failed)} not met")
    for clause in warned:
        note = "waived" if clause in waived else "not waived"
        parts.append(f"clause {clause}: area below the guide's figure ({note})")
    if not parts:
        parts.append("all seven clauses met")
    return f"{app.town_en}: " + "; ".join(parts) + "."


def score_for(rng: random.Random, outcomes: dict[str, str]) -> float:
    if "fail" in outcomes.values():
        return round(rng.uniform(48, 64), 1)
    if "warning" in outcomes.values():
        return round(rng.uniform(72, 84), 1)
    return round(rng.uniform(80, 94), 1)



# =============================================================================================
# One application's flow

class Flow:
    """Adds an application's events to the batch, each after the last in business time."""

    def __init__(self, b: Batch, app: Town) -> None:
        self.b, self.app, self.t = b, app, None

    def _send(self, type_: str, role: str, payload: dict, stage: str | None,
              at: datetime | None, arrive: datetime | None, expect: str, label: str,
              name: str | None) -> Step:
        if at is None:
            at = pick(self.b.rng, self.t, *STAGES[stage])
        self.t = max(self.t or at, at)
        actor, principal = {
            APPLICANT: (applicant_actor(self.app), self.app.owner),
            CITY: (city_actor(self.b, self.app.city), f"{self.app.city}-city"),
            PROVINCE: (province_actor(), "province"),
        }[role]
        env = envelope(type_, self.app.ref, at, actor, payload)
        if arrive is None:
            arrive = at + timedelta(minutes=self.b.rng.randint(1, 40),
                                    seconds=self.b.rng.randint(0, 59))
        step = self.b.add(principal, env, arrive, expect, label or f"{self.app.ref} {type_}")
        self.app.steps[name or type_.split(".")[-1]] = step
        return step

    # --- applicant
    def submit(self, stage="submit", at=None, arrive=None, expect="ok", label="") -> Step:
        a = self.app
        payload = {"town_name": a.town_name, "track": a.track, "city": a.city,
                   "applicant": {"name": a.body_name, "kind": a.kind},
                   "indicators": copy.deepcopy(a.indicators), "attestation": attestation()}
        return self._send("application.submitted", APPLICANT, payload, stage, at, arrive,
                          expect, label, "submit")

    def resubmit(self, indicators: dict, stage="resubmit", expect="ok", label="",
                 name="resubmit") -> Step:
        payload = {"indicators": copy.deepcopy(indicators), "attestation": attestation()}
        return self._send("application.resubmitted", APPLICANT, payload, stage, None, None,
                          expect, label, name)

    def withdraw(self, reason: str, stage: str, at=None, arrive=None, expect="ok",
                 label="") -> Step:
        return self._send("application.withdrawn", APPLICANT, {"reason": reason}, stage, at,
                          arrive, expect, label, "withdraw")

    # --- city
    def verify(self, stage="verify", at=None, arrive=None, expect="ok", label="",
               name="verify") -> Step:
        notes = self.b.rng.choice(["Checked on site; figures match the statistics bureau.",
                                   "Documents complete; zone map verified.",
                                   "Verified with the district economic bureau."])
        payload = {"attestation": {"truthful": True, "complete": True}, "notes": notes}
        return self._send("application.city_verified", CITY, payload, stage, at, arrive,
                          expect, label, name)

    def recommend(self, stage="recommend", at=None, arrive=None, expect="ok",
                  label="") -> Step:
        rank = self.b.next_rank(self.app.city)
        payload = {"rank": rank, "notes": f"Recommended as choice {rank} of the city."}
        return self._send("application.recommended", CITY, payload, stage, at, arrive, expect,
                          label, "recommend")

    def return_(self, reason: str, stage="return") -> Step:
        return self._send("application.returned", CITY, {"reason": reason}, stage, None, None,
                          "ok", "", "return")

    def reject_by_city(self, reason: str, stage: str) -> Step:
        return self._send("application.rejected", CITY, {"reason": reason}, stage, None, None,
                          "ok", "", "reject")

    # --- province
    def materials(self, paper: int, bound: bool, electronic: int, labelled: bool,
                  stage="materials", at=None, arrive=None, expect="ok", label="",
                  name="materials") -> Step:
        payload = {"paper_copies": paper, "a4_bound": bound, "electronic_copies": electronic,
                   "electronic_labelled": labelled}
        return self._send("materials.received", PROVINCE, payload, stage, at, arrive, expect,
                          label, name)

    def complete_materials(self, split: str | None = None) -> None:
        """Two A4 bound paper copies and one labelled electronic copy, in one or two receipts."""
        if split == "1+1":
            self.materials(1, True, 0, False, name="materials")
            self.materials(1, True, 1, True, stage="materials2", name="materials2")
        elif split == "2+e":
            self.materials(2, True, 0, False, name="materials")
            self.materials(0, False, 1, True, stage="materials2", name="materials2")
        elif split == "unlabelled":  # the first electronic copy lacked its label
            self.materials(2, True, 1, False, name="materials")
            self.materials(0, False, 1, True, stage="materials2", name="materials2")
        else:
            self.materials(2, True, 1, True)

    def evaluate(self, waive: bool = True, waivers: list | None = None, stage="evaluate",
                 at=None, arrive=None, expect="ok", label="", name="evaluate") -> Step:
        a = self.app
        outcomes = assess(a.track, a.region, a.indicators)
        if waivers is None:
            warned = [c for c, o in outcomes.items() if o == "warning"] if waive else []
            waivers = [{"criterion": c, "reason": self.b.rng.choice(WAIVER_REASONS)}
                       for c in warned]
        waived = {w["criterion"] for w in waivers}
        payload = {"score": score_for(self.b.rng, outcomes),
                   "panel": sorted(self.b.rng.sample(PANEL, 3)),
                   "findings": findings_text(a, outcomes, waived), "waivers": waivers}
        return self._send("application.evaluated", PROVINCE, payload, stage, at, arrive,
                          expect, label, name)

    def approve(self, stage="approve", at=None, arrive=None, expect="ok", label="",
                name="approve") -> Step:
        if at is None:
            at = pick(self.b.rng, self.t, *STAGES[stage])
        return self._send("application.approved", PROVINCE, {"decision_ref": decision_ref(at)},
                          None, at, arrive, expect, label, name)

    def reject_by_province(self, reason: str, stage="decide") -> Step:
        return self._send("application.rejected", PROVINCE, {"reason": reason}, stage, None,
                          None, "ok", "", "reject")

    def to_recommended(self, split: str | None = "complete") -> None:
        self.submit()
        self.verify()
        self.recommend()
        if split is not None:
            self.complete_materials(None if split == "complete" else split)
