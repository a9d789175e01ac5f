"""Operator actions and process starts as events of the log (``domain.operations``), so that they
sit under the same signed tree as the applications.

``record_action`` is called by the commands and endpoints that act on the service (a re-drive, a
projection rebuild or retry, a deadline check run by hand), with who did it and why.
``record_start`` is called by every process as it starts: it records the configuration when it
differs from the last one recorded (its hash, and the calls and cutoffs it holds; tokens enter
the hash only as their own hashes) and the signing key when it changed. Reading them back
(``recent``) is for the operators' and auditors' page.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from typing import Any

from eventsourcing.persistence import IntegrityError

from adapters.config import Config
from adapters.audit.evidence.heads import Signer, public_pem
from domain.operations import DEPLOYMENT_ID, Deployment, OperatorAction

log = logging.getLogger("towns.audit")
TOPICS = (OperatorAction.Taken.TOPIC, Deployment.ConfigurationChanged.TOPIC,
          Deployment.SigningKeyChanged.TOPIC)


def local_actor() -> str:
    """Who runs a command on this machine: the operating-system user (as a re-drive records
    it when ``--by`` is not given)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in this environment
        return "unknown"


def record_action(towns: Any, action: str, actor: str, reason: str | None,
                  details: dict | None = None, id: Any = None) -> OperatorAction:
    taken = OperatorAction.take(action, actor, reason, details, id=id)
    towns.save(taken)
    return taken


def config_hash(config: Config) -> tuple[str, list[dict]]:
    """The configuration's hash and the calls it holds (id, cutoff, grace)."""
    calls = [{"id": c.id, "title": c.title, "notice": c.notice, "cutoff": c.cutoff.isoformat(),
              "grace_seconds": c.grace_seconds} for c in sorted(config.calls.values(),
                                                                 key=lambda c: c.id)]
    principals = [{"name": p.name, "role": p.role, "organisation": p.organisation,
                   "city": p.city, "amqp_user": p.amqp_user,
                   "token_sha256": hashlib.sha256(p.token.encode()).hexdigest() if p.token else None}
                  for p in sorted(config.principals.values(), key=lambda p: p.name)]
    text = json.dumps({"calls": calls, "principals": principals}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest(), [
        {"id": c["id"], "cutoff": c["cutoff"], "grace_seconds": c["grace_seconds"]} for c in calls]


def record_start(towns: Any, config: Config, signer: Signer | None, process: str,
                 attempts: int = 3) -> list[str]:
    """Records what changed since the last start of any process: the configuration, the
    signing key (only where this process signs, ``signer`` given or ``process`` the worker).
    Answers what it recorded."""
    digest, calls = config_hash(config)
    for attempt in range(attempts):
        deployment = towns.repository.get(DEPLOYMENT_ID) if DEPLOYMENT_ID in towns.repository \
            else Deployment.create()
        recorded = []
        if deployment.configuration(digest, calls, process, local_actor()):
            recorded.append(f"configuration {digest[:12]}")
        if signer is not None or process == "worker":
            key = signer.key_id if signer else None
            pem = public_pem(signer.public) if signer else None
            if deployment.signing_key(key, pem, local_actor()):
                recorded.append(f"signing key {key or 'none'}")
        if not deployment.pending_events:
            return []
        try:
            towns.save(deployment)
            return recorded
        except IntegrityError:  # another process started at the same moment: look again
            if attempt == attempts - 1:
                log.warning("the start of %s could not be recorded: another process kept "
                            "recording at the same time", process)
    return []


def recent(towns: Any, limit: int = 20) -> list[dict]:
    """The last operator actions and deployment changes, newest first."""
    found: list[dict] = []
    for event in towns.events_with_topics(list(TOPICS)):
        found.append(describe(event))
        if len(found) > limit * 4:
            found = found[-limit:]
    return list(reversed(found[-limit:]))


def describe(event: Any) -> dict:
    at = event.timestamp.isoformat()
    if isinstance(event, OperatorAction.Taken):
        return {"at": at, "action": event.action, "actor": event.actor, "reason": event.reason,
                "details": event.details}
    if isinstance(event, Deployment.ConfigurationChanged):
        return {"at": at, "action": "configuration.changed", "actor": event.actor,
                "reason": f"{event.process} started with configuration {event.config_hash[:12]}",
                "details": {"config_hash": event.config_hash, "calls": event.calls}}
    return {"at": at, "action": "signing_key.changed", "actor": event.actor,
            "reason": f"heads are signed by {event.key_id or 'no key'} "
                      f"(before: {event.previous_key_id or 'none'})",
            "details": {"key_id": event.key_id, "public_key": event.public_key}}
