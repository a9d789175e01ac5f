"""The ``Application`` aggregate: one application to a call, from submission to decision.

Every event carries its business time (``occurred_at``), its actor and message id beside the
record time the library stamps (``timestamp``), and a link in the application's hash chain.

Commands check, events apply: each command method (``domain.application_commands``, a base of
the aggregate) checks the transition table (``domain.lifecycle``) and the guide's rules that
need only this application and its call, in the contract's order of refusals, and then triggers
its event; the events' mutators, here, never refuse, so that replaying any subset of the
history (as of a date, as known at a date) always works. What needs more than this aggregate
(who may send what, repeats, whether the call's deadline check has run) stays with the
application service (``domain.service``).

Topics are explicit and stable: they are part of the stored data, not of the module layout.
"""

from __future__ import annotations

from functools import lru_cache
from datetime import datetime
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as LibrarySnapshot

from domain import lifecycle as lc
from domain.application_commands import ApplicationCommands, check_message_id
from domain.event_fields import Meta, content, event_content, event_fields, without_ids
from domain.hashing import GENESIS, chain
from domain.ids import Namespace
from domain.jurisdictions import region_of

__all__ = ["EVENT_CLASSES", "Application", "Meta", "application_id", "check_message_id",
           "event_content"]

NAMESPACE = Namespace(uuid5(NAMESPACE_URL, "https://towns.gd.gov.cn/applications"))


APPLICATION_ID_CACHE = 4096
"""Ids kept by ``application_id``: a message asks for its application's id several times, and a
batch's applications again (at most ``BATCH_SIZE`` of them), so a few thousand keep the hits;
the id costs a SHA-1 (``domain.ids``) otherwise. Kept small on purpose: every entry is
~300 bytes held for the life of the process, and 65,536 of them grew the consumer by ~20 MiB
over the first 400,000 messages of a soak (one entry per application ever seen)."""


@lru_cache(maxsize=APPLICATION_ID_CACHE)
def application_id(call_id: str, ref: str) -> UUID:
    """The id of the application (call_id, ref): the pair names one application forever."""
    return NAMESPACE.uuid5(f"{call_id}\n{ref}")


class Application(ApplicationCommands, Aggregate):
    TOPIC = "towns:Application"

    class Event(Aggregate.Event):
        TOPIC = "towns:Application.Event"
        EVENT_TYPE: ClassVar[str] = ""
        occurred_at: datetime
        actor: dict
        message_id: str
        data: dict
        prev_hash: str
        hash: str

        def content(self) -> dict[str, Any]:
            """What the hash covers (beside the previous hash)."""
            return content(
                type(self), self.originator_id, self.originator_version, self.timestamp,
                Meta(self.occurred_at, self.actor, self.message_id), self.data,
                getattr(self, "originator_topic", None),
            )

        def computed_hash(self) -> str:
            return chain(self.prev_hash, self.content())

        def apply(self, aggregate: Application) -> None:
            before = None if self.originator_version == 1 else aggregate.standing
            standing = lc.standing_after(before, self.EVENT_TYPE, self.data)
            aggregate.status, aggregate.lapsed_from = standing.status, standing.lapsed_from
            aggregate.last_hash = self.hash
            aggregate.updated_at = self.occurred_at
            self.evolve(aggregate)

        def evolve(self, aggregate: Application) -> None:
            raise NotImplementedError

    class Submitted(Event, Aggregate.Created):
        TOPIC = "towns:Application.Submitted"
        EVENT_TYPE = lc.SUBMIT

        def evolve(self, app: Application) -> None:
            d = self.data
            app.call_id = d["call_id"]
            app.application_ref = d["application_ref"]
            app.town_name = d["town_name"]
            app.track = d["track"]
            app.city = d["city"]
            app.region = region_of(d["city"])
            app.applicant = d["applicant"]
            app.owner = d["owner"]
            app.indicators = d["indicators"]
            app.attestation = d["attestation"]
            app.submitted_at = self.occurred_at
            app.lapse = None
            app.reinstated = None
            app.recommended_at = None
            app.receipts = []
            app.evaluation = None
            app.decision = None
            app.closed_at = None
            app.closed_version = None

    class Resubmitted(Event):
        TOPIC = "towns:Application.Resubmitted"
        EVENT_TYPE = lc.RESUBMIT

        def evolve(self, app: Application) -> None:
            app.indicators = self.data["indicators"]
            app.attestation = self.data["attestation"]

    class Withdrawn(Event):
        TOPIC = "towns:Application.Withdrawn"
        EVENT_TYPE = lc.WITHDRAW

        def evolve(self, app: Application) -> None:
            app.closed_at = self.timestamp
            app.closed_version = self.originator_version

    class Returned(Event):
        TOPIC = "towns:Application.Returned"
        EVENT_TYPE = lc.RETURN

        def evolve(self, app: Application) -> None:
            pass

    class CityVerified(Event):
        TOPIC = "towns:Application.CityVerified"
        EVENT_TYPE = lc.VERIFY

        def evolve(self, app: Application) -> None:
            pass

    class Recommended(Event):
        TOPIC = "towns:Application.Recommended"
        EVENT_TYPE = lc.RECOMMEND

        def evolve(self, app: Application) -> None:
            app.recommended_at = self.occurred_at

    class Rejected(Event):
        TOPIC = "towns:Application.Rejected"
        EVENT_TYPE = lc.REJECT

        def evolve(self, app: Application) -> None:
            app.closed_at = self.timestamp
            app.closed_version = self.originator_version

    class MaterialsReceived(Event):
        TOPIC = "towns:Application.MaterialsReceived"
        EVENT_TYPE = lc.RECEIVE_MATERIALS

        def evolve(self, app: Application) -> None:
            app.receipts = [*app.receipts, {**self.data, "occurred_at": self.occurred_at}]

    class Evaluated(Event):
        TOPIC = "towns:Application.Evaluated"
        EVENT_TYPE = lc.EVALUATE

        def evolve(self, app: Application) -> None:
            app.evaluation = self.data

    class Approved(Event):
        TOPIC = "towns:Application.Approved"
        EVENT_TYPE = lc.APPROVE

        def evolve(self, app: Application) -> None:
            app.decision = self.data

    class Lapsed(Event):
        """The deadline check found the application short of the condition at the cutoff."""

        TOPIC = "towns:Application.Lapsed"
        EVENT_TYPE = lc.LAPSE

        def evolve(self, app: Application) -> None:
            app.lapse = self.data

    class Reinstated(Event):
        """Timely evidence that arrived after a lapse brought the application to the condition."""

        TOPIC = "towns:Application.Reinstated"
        EVENT_TYPE = lc.REINSTATE

        def evolve(self, app: Application) -> None:
            app.reinstated = self.data

    class Snapshot(LibrarySnapshot):
        TOPIC = "towns:Application.Snapshot"

    # Declared for readers and type checkers; set by Submitted.
    call_id: str
    application_ref: str
    status: str
    lapsed_from: str | None
    receipts: list[dict]
    evaluation: dict | None
    last_hash: str

    def __init__(self, **_: Any) -> None:
        """State is set by the events' mutators."""

    # -- unchecked: the commands' last step, and generators of histories (bench/generate.py) --

    @classmethod
    def submit(cls, meta: Meta, data: dict) -> Application:
        """Records a submission without checking it (``submit_to`` checks)."""
        event_id = application_id(data["call_id"], data["application_ref"])
        timestamp = cls.Submitted.create_timestamp()
        fields = event_fields(cls.Submitted, event_id, 1, timestamp, meta, data, GENESIS, cls.TOPIC)
        return cls._create(cls.Submitted, id=event_id, **without_ids(fields))

    def record(self, event_class: type[Application.Event], meta: Meta, data: dict) -> None:
        """Appends one event of ``event_class``, chained after the last one, without checking
        it (the commands above check)."""
        timestamp = event_class.create_timestamp()
        fields = event_fields(
            event_class, self.id, self.version + 1, timestamp, meta, data, self.last_hash
        )
        self.trigger_event(event_class, **without_ids(fields))

    # -- what the state says -----------------------------------------------------------------

    @property
    def standing(self) -> lc.Standing:
        return lc.Standing(self.status, self.lapsed_from)

    @property
    def underlying_status(self) -> str:
        """The state the life cycle has reached, beneath a lapse if there is one."""
        return self.standing.underlying


EVENT_CLASSES: dict[str, type[Application.Event]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        Application.Submitted,
        Application.Resubmitted,
        Application.Withdrawn,
        Application.Returned,
        Application.CityVerified,
        Application.Recommended,
        Application.Rejected,
        Application.MaterialsReceived,
        Application.Evaluated,
        Application.Approved,
        Application.Lapsed,
        Application.Reinstated,
    )
}
"""Every event of the aggregate by its contract type name."""
