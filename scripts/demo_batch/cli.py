"""Building, checking and writing the batch: what ``scripts/make_demo_batch.py`` runs."""

from __future__ import annotations

import json
import random
import sys
import tomllib
from collections import Counter
from pathlib import Path

from .batch import Batch, Step
from .common import CONFIG, SEED, TABLES
from .faults import fault_line, faults_deadline, faults_late_on_lapsed
from .indicators import indicators_for
from .model import Answer, Simulation
from .paths import PATHS
from .towns import towns_table


def load_principals() -> dict[str, dict]:
    with CONFIG.open("rb") as fh:
        return {p["name"]: p for p in tomllib.load(fh)["principals"]}


def build(principals: dict[str, dict]) -> Batch:
    rng = random.Random(SEED)
    b = Batch(rng, principals)
    for app in towns_table():
        assert app.ref not in b.apps, app.ref
        assert app.owner in principals, app.owner
        app.indicators = indicators_for(rng, app, app.profile)
        b.apps[app.ref] = app
    for app in b.apps.values():
        PATHS[app.path](b, app)
    for family in TABLES["faults"]:
        for line in family["lines"]:
            fault_line(b, line)
    faults_deadline(b)
    faults_late_on_lapsed(b)
    return b


def check(steps: list[Step], principals: dict[str, dict]) -> tuple[Simulation, list[Answer]]:
    """Plays the lines; stops if any would not get the answer it was written for."""
    sim = Simulation(principals)
    answers, wrong = [], []
    for number, step in enumerate(steps, 1):
        answer = sim.play(step.line())
        answers.append(answer)
        if answer.code != step.expect:
            wrong.append(f"line {number}: expected {step.expect}, model says {answer.code} "
                         f"({answer.note}) -- {step.label}")
    if wrong:
        sys.exit("the batch does not do what it was written for:\n" + "\n".join(wrong))
    return sim, answers


def describe(number: int, step: Step, answer: Answer) -> str:
    line = step.line()
    if "control" in line:
        return f"{number:4d}  {'CONTROL':20s} deadline_check as of {line['as_of']}: {answer.note}"
    env = step.env or {}
    kind = env.get("type", "?") if "envelope" in line else "raw"
    state = f"-> {answer.status} v{answer.version}" if answer.status else ""
    extra = f" [{answer.note}]" if answer.note and answer.code == "ok" else ""
    return (f"{number:4d}  {answer.code:20s} {str(step.principal):22s} {kind:26s} "
            f"{env.get('application_ref', ''):12s} {state}{extra}  | {step.label}")



def run(out: Path, expect: bool = False) -> int:
    """Writes the batch to ``out`` and prints a summary; with ``expect``, every line's answer."""
    principals = load_principals()
    batch = build(principals)
    steps = batch.finalize()
    sim, answers = check(steps, principals)
    with out.open("w", encoding="utf-8") as fh:
        for step in steps:
            fh.write(json.dumps(step.line(), ensure_ascii=False) + "\n")

    if expect:
        for number, (step, answer) in enumerate(zip(steps, answers), 1):
            print(describe(number, step, answer))
        print()
    apps = list(sim.apps.values())
    control_line = next(i for i, s in enumerate(steps, 1) if s.control)
    print(f"wrote {len(steps)} lines to {out} (deadline check at line {control_line})")
    print(f"applications: {len(apps)} in {len({a.city for a in apps})} of 22 jurisdictions")
    print("tracks: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(a.track for a in apps).items())))
    print("regions: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(a.region for a in apps).items())))
    print("expected answers: " + ", ".join(
        f"{k} {v}" for k, v in Counter(a.code for a in answers).most_common()))
    print("final status: " + ", ".join(
        f"{k} {v}" for k, v in Counter(a.status for a in apps).most_common()))
    print("deadline outcome: " + ", ".join(
        f"{k} {v}" for k, v in Counter(a.deadline for a in apps).most_common()))
    return 0
