"""Fault lines: the table's "faults", then two families written out."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta
from typing import Any, Callable

from .batch import Batch, Step, applicant_actor, city_actor, envelope, province_actor
from .common import AUTO, TABLES, day
from .flow import Flow, decision_ref
from .indicators import application_indicators, indicators_for
from .schema import INDUSTRIAL_ONLY
from .towns import Town


def _moment(spec: str, base: datetime | None) -> datetime:
    """"MM-DD hh:mm", or an offset from ``base`` such as "+19h", "-30m", "+4h10m", "+2d"."""
    if spec[0] not in "+-":
        return day(*spec.split())
    amount = {"d": 0, "h": 0, "m": 0}
    for number, unit in re.findall(r"(\d+)([dhm])", spec):
        amount[unit] = int(number)
    delta = timedelta(days=amount["d"], hours=amount["h"], minutes=amount["m"])
    return base + delta if spec[0] == "+" else base - delta


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


def _other_track_fields(b: Batch, env: dict) -> dict:
    """The industrial fields dropped, the application track's put in their place."""
    ind = {k: v for k, v in env["payload"]["indicators"].items() if k not in INDUSTRIAL_ONLY}
    ind.update(application_indicators(b.rng, "good"))
    env["payload"]["indicators"] = ind
    return env


def _next_rank(b: Batch, env: dict) -> dict:
    env["payload"]["rank"] += 1
    return env


def _naive_time(b: Batch, env: dict) -> dict:
    env["occurred_at"] = env["occurred_at"][:19]
    return env


CHANGES: dict[str, Callable[[Batch, dict], dict]] = {
    "reverse_keys": lambda b, env: _reverse_keys(env), "next_rank": _next_rank,
    "naive_time": _naive_time, "other_track_fields": _other_track_fields}
RENDERS: dict[str, Callable[[dict], str]] = {
    "json_array": lambda env: json.dumps([env], ensure_ascii=False),
    "truncated": lambda env: json.dumps(env, ensure_ascii=False)[:230]}  # the connection dropped


def _actor(b: Batch, spec: str | dict, app: Town) -> dict:
    """"applicant" (the application's own), "province", "city:<code>", or the actor itself."""
    if isinstance(spec, dict):
        return copy.deepcopy(spec)
    if spec == "applicant":
        return applicant_actor(app)
    if spec == "province":
        return province_actor()
    return city_actor(b, spec.removeprefix("city:"))


def _edit(b: Batch, env: dict, line: dict, app: Town | None) -> dict:
    """``line``'s changes to a copy of an envelope: set, drop, actor, then a named change."""
    for path, value in line.get("set", {}).items():
        *parents, key = path.split(".")
        target = env
        for name in parents:
            target = target[name]
        target[key] = copy.deepcopy(value)
    for path in line.get("drop", []):
        *parents, key = path.split(".")
        target = env
        for name in parents:
            target = target[name]
        del target[key]
    if "actor" in line:
        env["actor"] = _actor(b, line["actor"], app)
    if "change" in line:
        env = CHANGES[line["change"]](b, env)
    return env


def fault_line(b: Batch, line: dict) -> Step:
    """One line of the table's "faults", made from the step it names ("<ref> <step>").

    kind: ``derive`` re-sends that message (same message_id), changed when it is copied;
    ``variant`` is a new message made from it; ``envelope`` a new message about its
    application; ``raw`` sends the text ``raw``."""
    source = app = None
    if "from" in line:
        ref, name = line["from"].split()
        app = b.apps[ref]
        source = app.steps[name]
    arrive = _moment(line["arrive"], source.arrive if source else None)
    args = (line["principal"], arrive, line["expect"], line["label"])
    kind = line["kind"]
    if kind == "raw":
        return b.add(args[0], {}, *args[1:], render=lambda env, text=line["raw"]: text,
                     system="-")
    if kind == "derive":
        return b.derive(source, *args, lambda env: _edit(b, env, line, app))
    if kind == "envelope":
        occurred = _moment(line["occurred"], datetime.fromisoformat(source.env["occurred_at"]))
        env = envelope(line["type"], app.ref, occurred, _actor(b, line["actor"], app),
                       copy.deepcopy(line["payload"]))
        return b.add(args[0], env, *args[1:])
    env = copy.deepcopy(source.env)
    env["message_id"] = AUTO
    step = b.add(args[0], _edit(b, env, line, app), *args[1:],
                 system=line.get("system") or source.system)
    step.render = RENDERS.get(line.get("render"))
    return step


def faults_deadline(b: Batch) -> None:
    """Submissions dated after the cutoff: deadline_passed, before and after the check."""
    for t in TABLES["refused_submissions"]:
        app = Town(t["ref"], t["city"], t["en"], t["zh"], t["track"], "good", "refused")
        app.indicators = indicators_for(b.rng, app, "good")
        when = day(*t["at"].split())
        Flow(b, app).submit(at=when, arrive=day(*t["arrive"].split()), expect="deadline_passed",
                            label=f"{app.ref} submission dated {when.date()}, after the cutoff")


def faults_late_on_lapsed(b: Batch) -> None:
    """After the check: events on lapsed applications that cannot save them."""
    mz3 = b.apps["MZ-2017-003"]
    Flow(b, mz3).verify(at=day("04-01", "10:30"), arrive=day("04-01", "10:41"),
                        expect="invalid_transition",
                        label="MZ-2017-003 (lapsed) verified on 2017-04-01, after the cutoff",
                        name="verify_late")
    zj2 = b.apps["ZJ-2017-002"]
    Flow(b, zj2).materials(1, True, 0, False, at=day("04-02", "15:00"),
                           arrive=day("04-02", "15:06"), expect="invalid_transition",
                           label="ZJ-2017-002 (lapsed) materials dated 2017-04-02",
                           name="materials_after_lapse")
    jm3 = b.apps["JM-2017-003"]
    Flow(b, jm3).withdraw("No longer pursued.", stage="late_misc", expect="invalid_transition",
                          label="JM-2017-003 (lapsed) withdrawn after the check")
    sw2 = b.apps["SW-2017-002"]
    approve = envelope("application.approved", sw2.ref, day("04-18", "10:00"), province_actor(),
                       {"decision_ref": decision_ref(day("04-18"))})
    b.add("province", approve, day("04-18", "10:07"), "invalid_transition",
          "SW-2017-002 (lapsed) approved")
