"""Who may send what: principals, actors, and the roles' reach (DOMAIN.md, "Who is who")."""

from __future__ import annotations

from dataclasses import dataclass

APPLICANT = "applicant"
CITY = "city"
PROVINCE = "province"
AUDITOR = "auditor"
OPERATOR = "operator"
SYSTEM = "system"
ROLES = (APPLICANT, CITY, PROVINCE, AUDITOR, OPERATOR)
LOCAL_ROLES = (APPLICANT, CITY)
"""The roles that act for one city, and so name it."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, from the configuration (CONTRACT.md §1)."""

    name: str
    role: str
    organisation: str = ""
    city: str | None = None
    token: str | None = None
    amqp_user: str | None = None

    def may_act_as(self, actor: Actor) -> bool:
        """The role matches and, for applicants and cities, so does the city."""
        if actor.role != self.role:
            return False
        if self.role in LOCAL_ROLES:
            return actor.city == self.city
        return True


@dataclass(frozen=True)
class Actor:
    """Who an envelope says acted; recorded as given."""

    role: str
    id: str
    organisation: str = ""
    city: str | None = None

    @classmethod
    def declared(cls, role: str, id: str, organisation: str = "", city: str | None = None) -> Actor:
        """The actor an envelope declares. Only applicants and cities carry a city (CONTRACT.md
        §2): one given for another role, such as the province, is not kept."""
        return cls(role, id, organisation, city if role in LOCAL_ROLES else None)

    def as_dict(self) -> dict:
        data = {"role": self.role, "id": self.id, "organisation": self.organisation}
        if self.city is not None:
            data["city"] = self.city
        return data


SYSTEM_PRINCIPAL = Principal(name="system", role=SYSTEM, organisation="towns service")
SYSTEM_ACTOR = Actor(role=SYSTEM, id="deadline-check", organisation="towns service")
