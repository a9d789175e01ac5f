"""What operators and the service's own processes do to the service, as events of the log, so that
they are under the same Merkle tree as the applications and an auditor sees them beside them.

* ``OperatorAction``: one aggregate per action (a re-drive, a projection rebuild, a deadline check
  run by hand, a restore from a backup), with who did it, when and why, and what it touched.
* ``Deployment``: one aggregate for the whole service, recording each configuration a process
  started with when it differs from the last one recorded (its hash, the calls and cutoffs it
  holds), and each change of the key that signs tree heads.

Texts are bounded: a reason is cut to ``MAX_REASON`` characters, never refused (the action has
happened; its record must not fail on the words given for it).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import bounded_text

MAX_REASON = 1000
MAX_ACTOR = 200
DEPLOYMENT_ID = uuid5(NAMESPACE_URL, "https://towns.gd.gov.cn/deployment")

REDRIVE = "dead_letters.requeue"
REBUILD = "projections.rebuild"
RETRY = "projections.retry"
DEADLINE_CHECK = "deadlines.check"
RESTORE = "database.restore"
ACTIONS = (REDRIVE, REBUILD, RETRY, DEADLINE_CHECK, RESTORE)


def bounded(text: Any, limit: int) -> str:
    """``text`` as recorded: NUL shown as U+FFFD, cut to ``limit`` characters."""
    return bounded_text("" if text is None else str(text).replace("\x00", "\ufffd"), limit)


class OperatorAction(Aggregate):
    TOPIC = "towns:OperatorAction"

    class Event(Aggregate.Event):
        TOPIC = "towns:OperatorAction.Event"

    class Taken(Event, Aggregate.Created):
        TOPIC = "towns:OperatorAction.Taken"
        action: str
        actor: str
        reason: str
        details: dict

    action: str
    actor: str
    reason: str
    details: dict

    def __init__(self, action: str, actor: str, reason: str, details: dict) -> None:
        self.action, self.actor, self.reason, self.details = action, actor, reason, details

    @classmethod
    def take(cls, action: str, actor: str, reason: str | None, details: dict | None = None,
             id: UUID | None = None) -> OperatorAction:
        if action not in ACTIONS:
            raise ValueError(f"no operator action {action!r}")
        return cls._create(cls.Taken, id=id or uuid4(), action=action,
                           actor=bounded(actor, MAX_ACTOR), reason=bounded(reason, MAX_REASON),
                           details=details or {})


class Deployment(Aggregate):
    TOPIC = "towns:Deployment"

    class Event(Aggregate.Event):
        TOPIC = "towns:Deployment.Event"

    class Started(Event, Aggregate.Created):
        TOPIC = "towns:Deployment.Started"

    class ConfigurationChanged(Event):
        TOPIC = "towns:Deployment.ConfigurationChanged"
        config_hash: str
        calls: list
        process: str
        actor: str

        def apply(self, deployment: Deployment) -> None:
            deployment.config_hash = self.config_hash

    class SigningKeyChanged(Event):
        TOPIC = "towns:Deployment.SigningKeyChanged"
        key_id: str | None
        public_key: str | None
        previous_key_id: str | None
        actor: str

        def apply(self, deployment: Deployment) -> None:
            deployment.key_id = self.key_id

    config_hash: str | None
    key_id: str | None

    def __init__(self) -> None:
        self.config_hash = None
        self.key_id = None

    @classmethod
    def create(cls) -> Deployment:
        return cls._create(cls.Started, id=DEPLOYMENT_ID)

    def configuration(self, config_hash: str, calls: list, process: str, actor: str) -> bool:
        """Records a configuration unless it is the last one recorded; whether it did."""
        if config_hash == self.config_hash:
            return False
        self.trigger_event(self.ConfigurationChanged, config_hash=config_hash, calls=calls,
                           process=bounded(process, MAX_ACTOR), actor=bounded(actor, MAX_ACTOR))
        return True

    def signing_key(self, key_id: str | None, public_key: str | None, actor: str) -> bool:
        """Records the key that signs tree heads now, unless it is the last one recorded."""
        if key_id == getattr(self, "key_id", None):
            return False
        self.trigger_event(self.SigningKeyChanged, key_id=key_id, public_key=public_key,
                           previous_key_id=self.key_id, actor=bounded(actor, MAX_ACTOR))
        return True
