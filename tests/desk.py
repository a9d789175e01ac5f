"""A test desk: sends envelopes through the real ingest path as a named principal."""

from __future__ import annotations

from adapters.config import Config
from adapters.inbound.ingest import ingest
from domain.commands import Outcome
from domain.service import Towns
from tests.factories import encode, envelope


class Desk:
    def __init__(self, towns: Towns, config: Config) -> None:
        self.towns = towns
        self.config = config

    def send(self, principal: str | None, body: dict | bytes) -> Outcome:
        raw = body if isinstance(body, bytes) else encode(body)
        who = self.config.principals.get(principal) if principal else None
        return ingest(self.towns, raw, who)

    def submit(self, ref: str = "SD-2017-001", city: str = "shunde", **kw) -> Outcome:
        return self.send(f"{city}-applicant", envelope("application.submitted", ref, city, **kw))

    def city(self, type_: str, ref: str = "SD-2017-001", city: str = "shunde", **kw) -> Outcome:
        return self.send(f"{city}-city", envelope(type_, ref, city, **kw))

    def province(self, type_: str, ref: str = "SD-2017-001", city: str = "shunde", **kw) -> Outcome:
        return self.send("province", envelope(type_, ref, city, **kw))

    def applicant(self, type_: str, ref: str = "SD-2017-001", city: str = "shunde", **kw) -> Outcome:
        return self.send(f"{city}-applicant", envelope(type_, ref, city, **kw))

    def to_recommended(self, ref: str = "SD-2017-001", city: str = "shunde", **kw) -> Outcome:
        self.submit(ref, city, occurred_at=kw.get("submitted_at"))
        self.city("application.city_verified", ref, city, occurred_at=kw.get("verified_at"))
        return self.city("application.recommended", ref, city, occurred_at=kw.get("recommended_at"))

    def to_evaluated(self, ref: str = "SD-2017-001", city: str = "shunde", **kw) -> Outcome:
        self.to_recommended(ref, city)
        self.province("materials.received", ref, city)
        return self.province("application.evaluated", ref, city, **kw)
