"""The audit trail: every application event as a row, and a hash chain over the whole log.

``audit_events`` keeps one row per application event (who, when, which message, its hash and
link); ``audit_applications`` maps each application id to its call and ref, filled from the
submission, so that every later event can name them. ``audit_chain`` links every notification
of the log, of every topic (applications, inbox markers, dead letters, deadline checks...), in
notification order::

    chain_hash = sha256(previous chain_hash + "\\n" + position + "\\n" + topic + "\\n"
                        + sha256(stored state bytes))         starting from GENESIS

and ``audit_checkpoints`` records the chain every ``CHECKPOINT_EVERY`` notifications. Rows are
derived from the log alone (times are the events' own), so a rebuild gives the same rows. Text
columns show a NUL of the event (which PostgreSQL's text cannot hold) as U+FFFD: the chains
cover the stored bytes and the events' own hashes, never these columns, so they verify all the
same. (Upstream text reaches these columns in the call and ref of a submission, the message
id and the actor; the rest is the service's own.)
``adapters.audit.verify`` recomputes both chains from the raw log and compares.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from domain.applications import EVENT_CLASSES, Application
from domain.hashing import GENESIS
from projections.base import NEXT, Projection, Recorded, displayed, parse, utc_now
from projections import set_aside
from projections.merkle import NODES_DDL, Frontier, StoredTree
from projections.store import Tx

CHECKPOINT_EVERY = 1000
EVENT_COLUMNS = ("position", "app_id", "call_id", "application_ref", "version", "type", "actor",
                 "message_id", "occurred_at", "recorded_at", "hash", "prev_hash")


def state_digest(state: bytes) -> str:
    """The SHA-256 of a notification's stored bytes, as the chain records it."""
    return hashlib.sha256(state).hexdigest()


def log_link(previous: str, position: int, topic: str, state_sha256: str) -> str:
    """The chain hash of one notification, chained after ``previous``."""
    text = f"{previous}\n{position}\n{topic}\n{state_sha256}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recorded_at(recorded: Recorded) -> str:
    """The record time of a notification's event, exactly as stored."""
    stamp = parse(recorded.state).get("timestamp")
    return stamp["_data_"] if isinstance(stamp, dict) else ""


class AuditTrail(Projection):
    name = "audit"
    topics = ()  # every notification of the log
    tables = {
        "audit_events": """CREATE TABLE IF NOT EXISTS {name} (
            position BIGINT PRIMARY KEY, app_id TEXT NOT NULL, call_id TEXT NOT NULL,
            application_ref TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
            actor TEXT NOT NULL, message_id TEXT NOT NULL, occurred_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL)""",
        "audit_applications": """CREATE TABLE IF NOT EXISTS {name} (
            app_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, application_ref TEXT NOT NULL,
            position BIGINT NOT NULL)""",
        "audit_chain": """CREATE TABLE IF NOT EXISTS {name} (
            position BIGINT PRIMARY KEY, seq BIGINT NOT NULL, topic TEXT NOT NULL,
            state_sha256 TEXT NOT NULL, chain_hash TEXT NOT NULL, leaf TEXT)""",
        "audit_merkle": NODES_DDL,
        "audit_checkpoints": """CREATE TABLE IF NOT EXISTS {name} (
            position BIGINT PRIMARY KEY, chain_hash TEXT NOT NULL, events BIGINT NOT NULL,
            recorded_at TEXT NOT NULL)""",
    }
    indexes = {"audit_events": ["call_id, position", "app_id, version"],
               "audit_chain": ["seq"]}

    decodes = False  # the rows come straight from the stored JSON
    batch = 5000
    """Larger than the other views': a batch's fixed cost (five COPYs, the head, the position,
    the commit: ~17 round trips) spread over more records."""

    def __init__(self) -> None:
        self._frontiers: dict[str, Frontier] = {}

    def apply(self, tx: Tx, names: dict[str, str], batch: Sequence[Recorded]) -> None:
        head = tx.one(f"SELECT seq, chain_hash FROM {names['audit_chain']} "
                      "ORDER BY position DESC LIMIT 1")
        seq, previous = head if head else (0, GENESIS)
        frontier = self._frontier(tx, names, seq)
        ids = {r.originator_id: str(r.originator_id) for r in batch if r.topic in TYPES}
        apps = self._applications(tx, names["audit_applications"], batch, ids)
        new_apps, links, checkpoints, nodes = [], [], [], []
        unreadable: list[tuple[Recorded, str]] = []  # set aside once the rows are sent
        sha256, every, append = hashlib.sha256, CHECKPOINT_EVERY, frontier.append
        # The events' rows go to the server as they are made (the JSON is read meanwhile).
        with tx.inserter(names["audit_events"], EVENT_COLUMNS) as insert:
            for recorded in batch:
                position, topic = recorded.position, recorded.topic
                kind = TYPES.get(topic)
                if kind is not None:
                    try:
                        row = _event_row(recorded, kind, ids[recorded.originator_id], apps,
                                         new_apps)
                    except UNREADABLE as error:
                        # Its row cannot be made; its link and leaf still are, from its bytes.
                        unreadable.append((recorded, set_aside.reason_of(error)))
                    else:
                        insert(row)
                sha = sha256(recorded.state).hexdigest()  # state_digest
                # log_link and record_leaf (leaf_hash: 0x00 first) inline, sharing the place
                place = f"{position}\n{topic}\n"
                seq, previous = seq + 1, sha256(f"{previous}\n{place}{sha}".encode()).hexdigest()
                leaf = sha256(f"\x00{place}{recorded.originator_id}\n"
                              f"{recorded.originator_version}\n{sha}".encode()).digest()
                if made := append(leaf):
                    nodes += made
                links.append((position, seq, topic, sha, previous, leaf.hex()))
                if seq % every == 0:
                    checkpoints.append((position, previous, seq, _recorded_at(recorded)))
        for recorded, reason in unreadable:  # never while the rows stream (one statement)
            set_aside.record(tx, self._key(names), recorded, reason, utc_now())
        tx.insert_many(names["audit_applications"],
                       ("app_id", "call_id", "application_ref", "position"), new_apps)
        tx.insert_many(names["audit_chain"],
                       ("position", "seq", "topic", "state_sha256", "chain_hash", "leaf"), links)
        tx.insert_many(names["audit_merkle"], ("level", "idx", "hash"),
                       [(level, index, node.hex()) for level, index, node in nodes])
        self._frontiers[names["audit_chain"]] = frontier
        tx.insert_many(names["audit_checkpoints"],
                       ("position", "chain_hash", "events", "recorded_at"), checkpoints)

    def create(self, tx: Tx, names: dict[str, str]) -> None:
        """The tables; a trail written before the Merkle tree (its chain has no ``leaf``) is
        dropped and its position forgotten first, so that it is built again from zero at the
        next catch-up: the tree needs the leaf of every record from the first."""
        if not _has_leaves(tx, names["audit_chain"]):
            self.drop(tx, names)
            tx.execute("DELETE FROM projection_positions WHERE name = ?", (self._key(names),))
            self._frontiers.clear()
        super().create(tx, names)

    def trial(self, tx: Tx, names: dict[str, str], recorded: Recorded) -> None:
        """Only an event's row can be set aside here (its link and leaf never are): whether
        the row can be made now."""
        kind = TYPES.get(recorded.topic)
        if kind is not None:
            _event_row(recorded, kind, str(recorded.originator_id), {}, [])

    def _key(self, names: dict[str, str]) -> str:
        """The projection's name, or the name of its rebuild when ``names`` are not the live
        tables (``projections.set_aside`` records a rebuild's under it)."""
        return self.name if names == self.live_names() else f"{self.name}{NEXT}"

    def switched(self) -> None:
        self._frontiers.clear()  # a rebuilt chain may differ at the same size (set-aside events)

    def _frontier(self, tx: Tx, names: dict[str, str], size: int) -> Frontier:
        """The tree's pending nodes after ``size`` leaves: kept from the last batch this
        process applied (a copy: a batch rolled back leaves it as it was), else read."""
        kept = self._frontiers.get(names["audit_chain"])
        if kept is not None and kept.size == size:
            return kept.copy()
        return StoredTree(tx, names["audit_chain"], names["audit_merkle"]).frontier(size)

    def _applications(self, tx: Tx, table: str, batch: Sequence[Recorded],
                      ids: dict) -> dict[str, tuple]:
        """Call and ref of the batch's applications submitted in earlier batches."""
        submitted = {r.originator_id for r in batch if r.topic == SUBMITTED_TOPIC}
        wanted = sorted(app_id for uuid, app_id in ids.items() if uuid not in submitted)
        apps: dict[str, tuple] = {}
        for app_id, call_id, ref in tx.all_in(
            f"SELECT app_id, call_id, application_ref FROM {table} WHERE app_id", wanted
        ):
            apps[app_id] = (call_id, ref)
        return apps


UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeError,
              RecursionError)
"""What reading a record's JSON for its row can raise (damaged bytes, a missing field)."""


def _event_row(recorded: Recorded, kind: str, app_id: str, apps: dict, new_apps: list) -> tuple:
    """The ``audit_events`` row of an application event (and its application, when it is the
    submission); raises one of ``UNREADABLE`` when its bytes cannot give one."""
    position = recorded.position
    doc = parse(recorded.state)
    if kind == SUBMITTED:
        data = doc["data"]
        apps[app_id] = (displayed(data["call_id"]), displayed(data["application_ref"]))
        new_apps.append((app_id, *apps[app_id], position))
    call_id, ref = apps.get(app_id, ("", ""))  # no submission: verify names it
    actor, message_id = actor_text(doc["actor"]), doc["message_id"]
    if "\x00" in actor or (type(message_id) is str and "\x00" in message_id):
        actor, message_id = displayed(actor), displayed(message_id)
    return (position, app_id, call_id, ref, recorded.originator_version, kind, actor,
            message_id, doc["occurred_at"]["_data_"], doc["timestamp"]["_data_"], doc["hash"],
            doc["prev_hash"])


def _has_leaves(tx: Tx, chain: str) -> bool:
    """Whether the chain table has its ``leaf`` column, or does not exist yet."""
    columns = tx.columns(chain)
    return not columns or "leaf" in columns


def _recorded_at(recorded: Recorded) -> str:
    try:
        return recorded_at(recorded)
    except UNREADABLE:
        return ""



SUBMITTED = Application.Submitted.EVENT_TYPE
SUBMITTED_TOPIC = Application.Submitted.TOPIC
TYPES = {cls.TOPIC: cls.EVENT_TYPE for cls in EVENT_CLASSES.values()}


_ACTORS: dict[tuple, str] = {}
"""Actors as the trail writes them (sorted keys), by their items: a few principals act again
and again. Only actors whose values are all strings are kept, so that equal items mean an
equal text (``1 == True`` but they dump differently)."""


def actor_text(actor: Any) -> str:
    try:
        key = tuple(actor.items())
        return _ACTORS[key]
    except (KeyError, TypeError, AttributeError):
        pass
    text = json.dumps(actor, sort_keys=True, ensure_ascii=False)
    if isinstance(actor, dict) and all(type(v) is str for v in actor.values()):
        if len(_ACTORS) > 10_000:
            _ACTORS.clear()
        _ACTORS[tuple(actor.items())] = text
    return text
