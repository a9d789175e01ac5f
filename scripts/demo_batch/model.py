"""The expected answers: a small model of DOMAIN.md's rules, played line by line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

# The transition table is the domain's: who sends what, while in which state, leading where.
from domain.lifecycle import standing_after, transition_for

from .common import APPLICANT, CALL_ID, CITIES, CITY, CUTOFF
from .indicators import assess
from .schema import COMMON, TRACK_FIELDS, shape_problem

EVIDENCE = {"application.city_verified", "application.recommended", "materials.received"}


@dataclass
class Answer:
    code: str  # ok | duplicate | an error code
    ref: str = ""
    status: str = ""
    version: int = 0
    note: str = ""


@dataclass
class Model:
    ref: str
    owner: str
    city: str
    track: str
    region: str
    indicators: dict
    status: str = "submitted"
    underlying: str = ""  # the state evidence reached while lapsed
    version: int = 1
    recommended_at: datetime | None = None
    receipts: list = field(default_factory=list)  # (occurred_at, paper, electronic) counted
    outcomes: dict | None = None
    deadline: str = "pending"



class Simulation:
    """Plays the batch through DOMAIN.md's rules to say what each line should get."""

    def __init__(self, principals: dict[str, dict]) -> None:
        self.principals = principals
        self.apps: dict[str, Model] = {}
        self.applied: dict[str, str] = {}  # message_id -> canonical body
        self.checked = False

    def play(self, line: dict) -> Answer:
        if "control" in line:
            return self.deadline_check()
        principal = self.principals.get(line.get("principal") or "")
        if principal is None:
            return Answer("unauthenticated")
        if "raw" in line:
            try:
                env = json.loads(line["raw"])
            except ValueError:
                return Answer("malformed")
        else:
            env = line["envelope"]
        if not isinstance(env, dict):
            return Answer("malformed")
        problem = shape_problem(env)
        if problem:
            return Answer(problem, env.get("application_ref", ""))
        answer = self.apply(line["principal"], principal, env)
        answer.ref = answer.ref or env["application_ref"]
        return answer

    def apply(self, name: str, principal: dict, env: dict) -> Answer:
        ref, type_, actor = env["application_ref"], env["type"], env["actor"]
        when = datetime.fromisoformat(env["occurred_at"])
        role = principal["role"]
        if env["call_id"] != CALL_ID:
            return Answer("unknown_call")
        if actor["role"] != role or (role in (APPLICANT, CITY)
                                     and actor.get("city") != principal.get("city")):
            return Answer("forbidden", note="may not act as this actor")
        if transition_for(type_, role) is None:
            return Answer("forbidden", note=f"a {role} never sends {type_}")
        body = json.dumps(env, sort_keys=True, ensure_ascii=False)
        if env["message_id"] in self.applied:
            if self.applied[env["message_id"]] != body:
                return Answer("idempotency_conflict")
            app = self.apps[ref]
            return Answer("duplicate", ref, app.status, app.version)
        if type_ == "application.submitted":
            answer = self.submit(name, principal, env, when)
        else:
            answer = self.change(name, principal, env, when)
        if answer.code == "ok":
            self.applied[env["message_id"]] = body
        return answer

    def submit(self, name: str, principal: dict, env: dict, when: datetime) -> Answer:
        p, ref = env["payload"], env["application_ref"]
        if p["city"] != principal.get("city"):
            return Answer("forbidden", note="payload city is not the applicant's")
        if when > CUTOFF:
            return Answer("deadline_passed")
        if ref in self.apps:
            return Answer("invalid_transition", note="already submitted")
        app = Model(ref, name, p["city"], p["track"], CITIES[p["city"]][1], p["indicators"])
        self.apps[ref] = app
        note = ""
        if self.checked:
            self.lapse_if_short(app)
            note = "lapsed at once"
        return Answer("ok", ref, app.status, app.version, note)

    def change(self, name: str, principal: dict, env: dict, when: datetime) -> Answer:
        ref, type_, p = env["application_ref"], env["type"], env["payload"]
        role = principal["role"]
        app = self.apps.get(ref)
        if app is None:
            return Answer("unknown_application")
        if role == CITY and app.city != principal["city"]:
            return Answer("forbidden", note="another city's application")
        if role == APPLICANT and app.owner != name:
            return Answer("forbidden", note="another applicant's application")
        if type_ == "application.resubmitted" and any(
                k not in p["indicators"] for k in COMMON + TRACK_FIELDS[app.track]):
            return Answer("schema_invalid", note="track fields missing")
        lapsed = app.status == "lapsed"
        state = app.underlying if lapsed else app.status
        if lapsed and (type_ not in EVIDENCE or when > CUTOFF):
            return Answer("invalid_transition", note="lapsed")
        if not transition_for(type_, role).allows(state):
            return Answer("invalid_transition", note=f"while {state}")
        if type_ == "application.evaluated":
            if not self.complete(app, None):
                return Answer("precondition_failed", note="materials incomplete")
            outcomes = assess(app.track, app.region, app.indicators)
            for waiver in p.get("waivers", []):
                if outcomes.get(waiver["criterion"]) != "warning":
                    return Answer("precondition_failed", note=f"waiver of {waiver['criterion']}")
                outcomes[waiver["criterion"]] = "waived"
            app.outcomes = outcomes
        if type_ == "application.approved" and {"fail", "warning"} & set(app.outcomes.values()):
            return Answer("precondition_failed", note="failing or unwaived clause")
        # apply
        app.version += 1
        if type_ == "application.resubmitted":
            app.indicators = p["indicators"]
        if type_ == "application.recommended":
            app.recommended_at = when
        if type_ == "materials.received":
            app.receipts.append((when, p["paper_copies"] if p["a4_bound"] else 0,
                                 p["electronic_copies"] if p["electronic_labelled"] else 0))
        after = standing_after(None, type_, {})  # None: the state stays (materials receipts)
        new_state = after.status if after else state
        note = ""
        if lapsed:
            app.underlying = new_state
            note = "recorded; still lapsed"
            if not self.shortfall(app):
                app.status, app.deadline = new_state, "reinstated"
                app.version += 1
                note = "reinstated"
        else:
            app.status = new_state
        return Answer("ok", ref, app.status, app.version, note)

    def complete(self, app: Model, until: datetime | None) -> bool:
        paper = sum(r[1] for r in app.receipts if until is None or r[0] <= until)
        electronic = sum(r[2] for r in app.receipts if until is None or r[0] <= until)
        return paper >= 2 and electronic >= 1

    def shortfall(self, app: Model) -> bool:
        recommended = app.recommended_at is not None and app.recommended_at <= CUTOFF
        return not (recommended and self.complete(app, CUTOFF))

    def lapse_if_short(self, app: Model) -> bool:
        if self.shortfall(app):
            app.underlying, app.status = app.status, "lapsed"
            app.version += 1
            app.deadline = "lapsed"
            return True
        app.deadline = "on_time"
        return False

    def deadline_check(self) -> Answer:
        self.checked = True
        lapsed = []
        for app in self.apps.values():
            if app.status in ("rejected", "withdrawn"):
                app.deadline = "not_applicable"
            elif app.status != "lapsed" and self.lapse_if_short(app):
                lapsed.append(app.ref)
        return Answer("ok", note=f"lapsed {len(lapsed)}: {', '.join(lapsed)}")
