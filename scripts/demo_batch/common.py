"""Paths, the tables, the call's constants, jurisdictions, and business time."""

from __future__ import annotations

import json
import random
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "adapters" / "inbound" / "demo_batch.jsonl"
CONFIG = ROOT / "adapters" / "towns.toml"
TABLES = json.loads((ROOT / "scripts" / "demo_batch_tables.json").read_text(encoding="utf-8"))

SEED = 2017
CALL_ID = "GD-ITOWN-2017-B2"
TZ = timezone(timedelta(hours=8))
CUTOFF = datetime(2017, 3, 30, 23, 59, 59, tzinfo=TZ)
CHECK_AS_OF = CUTOFF + timedelta(days=1)
AUTO = "<assigned in arrival order>"  # placeholder message_id

PRD, EWN = "prd", "ewn"
IND, APP = "industrial", "application"
APPLICANT, CITY, PROVINCE = "applicant", "city", "province"


# =============================================================================================
# Jurisdictions

CITIES: dict[str, list[str]] = TABLES["cities"]  # code: [ref prefix, region]
PROVINCE_ORG: str = TABLES["province_organisation"]
OFFICERS: list[str] = TABLES["officers"]


# =============================================================================================
# Time

def day(md: str, hm: str = "00:00") -> datetime:
    """2017-MM-DD hh:mm in Guangdong time."""
    return datetime.fromisoformat(f"2017-{md}T{hm}:00+08:00")


STAGES: dict[str, tuple[datetime, datetime]] = {
    stage: (day(*lo.split()), day(*hi.split())) for stage, (lo, hi) in TABLES["stages"].items()}
GAP = timedelta(hours=2)  # between two events of one application: arrival jitter never reorders


def pick(rng: random.Random, after: datetime | None, lo: datetime, hi: datetime) -> datetime:
    """A business time in office hours within [lo, hi], at least GAP after ``after``."""
    start = lo if after is None else max(lo, after + GAP)
    jitter = timedelta(minutes=rng.randint(5, 50), seconds=rng.randint(0, 59))
    if start >= hi:
        return start + jitter
    span = (hi.date() - start.date()).days
    for _ in range(30):
        moment = datetime.combine(start.date() + timedelta(days=rng.randint(0, span)),
                                  time(8, 45), TZ)
        moment += timedelta(minutes=rng.randint(0, 540), seconds=rng.randint(0, 59))
        if start <= moment <= hi:
            return moment
    return start + jitter
