"""Steps (one line of the batch each), the batch being built, envelopes and actors."""

from __future__ import annotations

import copy
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from .common import (APPLICANT, AUTO, CALL_ID, CHECK_AS_OF, CITIES, CITY, OFFICERS, PROVINCE,
                     PROVINCE_ORG)
from .towns import Town


@dataclass
class Step:
    seq: int
    arrive: datetime  # record order: lines are sorted by this
    principal: str | None
    expect: str  # "ok", "duplicate" or an error code
    label: str
    env: dict | None = None
    system: str | None = None  # the upstream system whose message_id counter it uses
    render: Callable[[dict], str] | None = None  # raw text made from env
    derive: tuple[Step, Callable[[dict], dict]] | None = None  # a copy of an earlier message
    control: dict | None = None

    def line(self) -> dict:
        if self.control is not None:
            return self.control
        if self.render is not None:
            return {"principal": self.principal, "raw": self.render(self.env)}
        return {"principal": self.principal, "envelope": self.env}


class Batch:
    """The lines being built, the applications, and the upstream systems' message counters."""

    def __init__(self, rng: random.Random, principals: dict[str, dict]) -> None:
        self.rng = rng
        self.principals = principals
        self.steps: list[Step] = []
        self.apps: dict[str, Town] = {}
        self.ranks: Counter = Counter()
        self._counters: dict[str, int] = {}

    def add(self, principal: str | None, env: dict | None, arrive: datetime, expect: str = "ok",
            label: str = "", **kw: Any) -> Step:
        step = Step(len(self.steps), arrive, principal, expect, label, env, **kw)
        if step.system is None and env is not None:
            step.system = self.system_of(principal, env.get("actor", {}))
        self.steps.append(step)
        return step

    def derive(self, source: Step, principal: str | None, arrive: datetime, expect: str,
               label: str, change: Callable[[dict], dict] = lambda env: env) -> Step:
        """A later copy of ``source``'s message (same message_id), changed by ``change``."""
        return self.add(principal, None, arrive, expect, label, derive=(source, change))

    def system_of(self, principal: str | None, actor: dict) -> str:
        p = self.principals.get(principal or "")
        role, city = (p["role"], p.get("city")) if p else (actor.get("role"), actor.get("city"))
        if role == PROVINCE:
            return "gd-prov-sys"
        if role in (APPLICANT, CITY) and city in CITIES:
            prefix = CITIES[city][0].lower()
            if role == CITY:
                return f"{prefix}-city-sys"
            return f"{prefix}-park-sys" if (principal or "").endswith("-2") else f"{prefix}-app-sys"
        return f"{role or 'unknown'}-console"

    def next_id(self, system: str) -> str:
        if system not in self._counters:
            self._counters[system] = self.rng.randint(100, 700)
        self._counters[system] += self.rng.randint(1, 9)
        return f"{system}-{self._counters[system]:06d}"

    def next_rank(self, city: str) -> int:
        self.ranks[city] += 1
        return self.ranks[city]

    def finalize(self) -> list[Step]:
        """The steps in arrival order, the control line placed, message ids assigned."""
        self.add(None, None, CHECK_AS_OF, "ok", "the deadline check runs here", control={
            "control": "deadline_check", "call_id": CALL_ID, "as_of": CHECK_AS_OF.isoformat()})
        self.steps[-1].seq = -1  # a line arriving at exactly the check time comes after it
        ordered = sorted(self.steps, key=lambda s: (s.arrive, s.seq))
        done: set[int] = set()
        for step in ordered:
            if step.derive is not None:
                source, change = step.derive
                assert id(source) in done, f"{step.label}: copied before its source arrived"
                step.env = change(copy.deepcopy(source.env))
            elif step.env is not None and step.env.get("message_id") == AUTO:
                step.env["message_id"] = self.next_id(step.system)
            done.add(id(step))
        return ordered


def envelope(type_: str, ref: str, when: datetime | str, actor: dict, payload: dict,
             call_id: str = CALL_ID) -> dict:
    return {
        "message_id": AUTO,
        "type": type_,
        "occurred_at": when if isinstance(when, str) else when.isoformat(),
        "application_ref": ref,
        "call_id": call_id,
        "actor": actor,
        "payload": payload,
    }


def city_organisation(principals: dict[str, dict], city: str) -> str:
    return principals[f"{city}-city"]["organisation"]


def applicant_actor(app: Town) -> dict:
    slug = app.town_en.split()[0].lower().replace("'", "")
    return {"role": APPLICANT, "id": f"{CITIES[app.city][0].lower()}-{slug}-clerk",
            "organisation": app.body_name, "city": app.city}


def city_actor(b: Batch, city: str) -> dict:
    officer = OFFICERS[sum(map(ord, city)) % len(OFFICERS)]
    return {"role": CITY, "id": f"{CITIES[city][0].lower()}-jxj-{officer}",
            "organisation": city_organisation(b.principals, city), "city": city}


def province_actor() -> dict:
    return {"role": PROVINCE, "id": "gd-jxw-xxhc-07", "organisation": PROVINCE_ORG}
