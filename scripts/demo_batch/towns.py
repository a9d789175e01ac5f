"""The applications of the batch: towns, their tracks, profiles and life-cycle paths."""

from __future__ import annotations

from dataclasses import dataclass, field

from .common import CITIES, TABLES


@dataclass
class Town:
    """One application: the town, its applicant body, its track, profile and path."""

    ref: str
    city: str
    town_en: str
    town_zh: str
    track: str
    profile: str  # how its declared indicators read against the criteria
    path: str  # the life-cycle path it takes
    kind: str = "town_government"
    body: tuple[str, str] | None = None  # applicant body (English, Chinese)
    owner: str | None = None  # the applicant principal; default "<city>-applicant"
    opts: dict = field(default_factory=dict)
    # filled in while the batch is built
    indicators: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.owner = self.owner or f"{self.city}-applicant"
        if self.body is None:
            if self.town_en.endswith("Subdistrict"):
                self.body = (f"{self.town_en} Office", f"{self.town_zh}办事处")
            else:
                self.body = (f"{self.town_en} People's Government", f"{self.town_zh}人民政府")

    @property
    def region(self) -> str:
        return CITIES[self.city][1]

    @property
    def town_name(self) -> str:
        return f"{self.town_en} ({self.town_zh})"

    @property
    def body_name(self) -> str:
        return f"{self.body[0]} ({self.body[1]})"


def town(ref, city, en, zh, track, profile, path, **kw) -> Town:
    known = {"kind", "body", "owner"}
    return Town(ref, city, en, zh, track, profile, path,
                **{k: v for k, v in kw.items() if k in known},
                opts={k: v for k, v in kw.items() if k not in known})


def towns_table() -> list[Town]:
    """Every application of the batch that is (eventually) recorded, with its path."""
    return [town(**t) for t in TABLES["towns"]]
