"""What a principal may read (CONTRACT.md §3, roles): the province and auditors everything, a
city its jurisdiction, an applicant its own applications; operators no application data.

An application belongs to the applicant principal that submitted it: the submission's
``data["owner"]``. The read models do not keep the owner, so applicants' lists are filtered by
reading the first events of the candidates, a page's in one query (candidates are already
narrowed to its city, the only city an applicant may submit for).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from domain.applications import Application
from domain.principals import APPLICANT, AUDITOR, CITY, PROVINCE, Principal
from domain.service import Towns

READERS = (PROVINCE, AUDITOR, CITY, APPLICANT)
"""The roles that read application data."""


@dataclass(frozen=True)
class Reach:
    principal: Principal

    @property
    def city(self) -> str | None:
        """The one city the principal reads, or None for all of them."""
        return self.principal.city if self.principal.role in (CITY, APPLICANT) else None

    @property
    def owner(self) -> str | None:
        """The owner the principal's applications must have, or None for any."""
        return self.principal.name if self.principal.role == APPLICANT else None

    def city_filter(self, asked: str | None) -> tuple[bool, str | None]:
        """(whether anything can match, the city to filter on) for a list asking for ``asked``:
        a city or applicant asking for another city gets an empty list, not a refusal."""
        if self.city is None:
            return True, asked
        return asked in (None, self.city), self.city

    def covers(self, submitted: Application.Event | None) -> bool:
        """Whether the principal may read the application that ``submitted`` (its first event;
        None when it cannot be read) created. One it may not read is answered as one that does
        not exist (``domain.reading.never_submitted``), so that refs cannot be probed."""
        if self.city is None:
            return True
        data = submitted.data if submitted is not None else {}
        if data.get("city") != self.city:
            return False
        return self.owner is None or data.get("owner") == self.owner

    def keep(self, towns: Towns, app_ids: Iterable[str]) -> set[str]:
        """Those of ``app_ids`` (already of the principal's city) the principal may read."""
        if self.owner is None:
            return set(app_ids)
        owners = owners_of(towns, [UUID(a) for a in app_ids])
        return {str(a) for a, owner in owners.items() if owner == self.owner}


def submission(events: Iterable[Application.Event]) -> Application.Event | None:
    """The submission among an application's events (its first, when the store is whole)."""
    return next((e for e in events if isinstance(e, Application.Submitted)), None)


def owners_of(towns: Towns, app_ids: list[UUID]) -> dict[UUID, str | None]:
    """The applicant principal that submitted each application (None: unknown), from the first
    stored events: in one query on a store that reads many at once, one each otherwise."""
    select_many = getattr(towns.recorder, "select_events_of", None)
    if select_many is not None:
        firsts = {r.originator_id: r for r in select_many(app_ids, first_only=True)}
    else:
        firsts = {a: r[0] for a in app_ids if (r := towns.recorder.select_events(a, lte=1, limit=1))}
    return {a: _owner(towns, firsts.get(a)) for a in app_ids}


def _owner(towns: Towns, record) -> str | None:
    if record is None:
        return None
    try:
        event = towns.mapper.to_domain_event(record)
    except Exception:  # noqa: BLE001 - an undecodable submission has no owner anyone may claim
        return None
    return event.data.get("owner") if isinstance(event, Application.Submitted) else None
