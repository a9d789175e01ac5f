"""Proofs for auditors: each event of an application with its place in the log's Merkle tree and
an inclusion proof against the latest tree head, for the HTTP API and for exports; and the
export's own signature, which makes every byte of it count.

An export carries ``tree_head`` (the signed head its proofs lead to), ``public_key`` (PEM), and
per event ``record``: ``{"leaf_index", "state" (the stored bytes, base64), "proof" (hex)}``;
then ``signature``: Ed25519 over ``EXPORT_PREFIX`` and the export without it as compact JSON
with sorted keys. ``check_export`` checks all of it with the public key alone, as
``scripts/check_export.py`` does without the project.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.audit.export import check_export as check_chains
from adapters.audit.export import json_text
from adapters.audit.evidence.checkpoints import Checkpoints, latest, stored_tree
from adapters.audit.evidence.heads import Signer, TreeHead, key_id, public_pem, verify_head
from domain.hashing import canonical
from domain.merkle import verify_inclusion
from projections.audit import AuditTrail
from projections.merkle import record_leaf
from projections.store import ViewStore

EXPORT_PREFIX = b"towns-audit-export-v1\n"


def _leaf_indexes(tx, positions: list[int]) -> dict[int, int]:
    chain = AuditTrail().live_names()["audit_chain"]
    found: dict[int, int] = {}
    for start in range(0, len(positions), 500):
        chunk = positions[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        for position, seq in tx.all(f"SELECT position, seq FROM {chain} WHERE position IN "
                                    f"({marks})", chunk):
            found[int(position)] = int(seq) - 1
    return found


def application_proof(store: ViewStore, app_id: UUID) -> dict[str, Any]:
    """Each event of the application with its leaf index and inclusion proof against the
    latest head (events recorded after it have ``proof`` null until the next head)."""
    events_table = AuditTrail().live_names()["audit_events"]
    with store.transaction(read_only=True) as tx:
        head = latest(tx)
        rows = tx.all(f"SELECT position, version, type FROM {events_table} WHERE app_id = ? "
                      "ORDER BY version", (str(app_id),))
        indexes = _leaf_indexes(tx, [int(r[0]) for r in rows])
        tree = stored_tree(tx)
        covered = [indexes[int(r[0])] for r in rows if head is not None
                   and indexes.get(int(r[0])) is not None and indexes[int(r[0])] < head.size]
        proofs = dict(zip(covered, tree.inclusion_proofs(covered, head.size))) if covered else {}
        items = []
        for position, version, kind in rows:
            index = indexes.get(int(position))
            items.append({
                "position": int(position), "version": int(version), "type": kind,
                "leaf_index": index,
                "proof": [p.hex() for p in proofs[index]] if index in proofs else None,
            })
    return {"tree_head": head.as_dict() if head else None, "items": items}


def add_evidence(trail: dict[str, Any], towns: Any, store: ViewStore,
                 checkpoints: Checkpoints) -> dict[str, Any]:
    """The export with its evidence: a head made now (so that it covers every exported
    event), each event's record and proof, the public key, and the export's signature."""
    checkpoints.sign_if_due(force=True)
    records = _records(towns, trail["events"])
    with store.transaction(read_only=True) as tx:
        head = latest(tx)
        indexes = _leaf_indexes(tx, [e["position"] for e in trail["events"]])
        tree = stored_tree(tx)
        covered = sorted({i for i in indexes.values() if head is not None and i < head.size})
        proofs = dict(zip(covered, tree.inclusion_proofs(covered, head.size))) if covered else {}
        for event in trail["events"]:
            index = indexes.get(event["position"])
            state = records.get(event["position"])
            if index not in proofs or state is None:
                event["record"] = None
                continue
            event["record"] = {"leaf_index": index,
                               "state": base64.b64encode(state).decode("ascii"),
                               "proof": [p.hex() for p in proofs[index]]}
    signer = checkpoints.signer
    trail["tree_head"] = head.as_dict() if head else None
    trail["public_key"] = public_pem(signer.public) if signer else None
    if signer is not None:
        trail["signature"] = base64.b64encode(
            signer.private.sign(EXPORT_PREFIX + canonical(trail))).decode("ascii")
    return trail


def _records(towns: Any, events: list[dict]) -> dict[int, bytes]:
    """The stored bytes of the exported events, by log position."""
    found: dict[int, bytes] = {}
    by_app: dict[str, set[int]] = {}
    for event in events:
        by_app.setdefault(event["application_id"], set()).add(event["version"])
    positions = {(e["application_id"], e["version"]): e["position"] for e in events}
    for app_id, versions in by_app.items():
        for record in towns.recorder.select_events(UUID(app_id)):
            if record.originator_version in versions:
                found[positions[(app_id, record.originator_version)]] = record.state
    return found


def check_export(raw: bytes, public: Ed25519PublicKey) -> str | None:
    """None when the export file verifies with ``public`` alone, else the first problem."""
    try:
        trail = json.loads(raw)
    except ValueError as error:
        return f"the file is not JSON: {error}"
    if not isinstance(trail, dict):
        return "the file is not an export"
    if raw != json_text(trail).encode("utf-8"):
        return "the file is not byte for byte as exported"
    if trail.get("public_key") is None or trail.get("signature") is None:
        return "the export is not signed (the service had no signing key)"
    if str(trail["public_key"]).strip() != public_pem(public).strip():
        return "the export names another public key than the one given"
    body = {k: v for k, v in trail.items() if k != "signature"}
    try:
        public.verify(base64.b64decode(trail["signature"], validate=True),
                      EXPORT_PREFIX + canonical(body))
    except (InvalidSignature, ValueError, TypeError):
        return "the export's signature does not verify"
    try:
        head = TreeHead.parse(trail.get("tree_head"))
    except ValueError as error:
        return f"the export's tree head is not one: {error}"
    wrong = verify_head(head, {key_id(public): public})
    if wrong:
        return f"the export's tree head: {wrong}"
    root = bytes.fromhex(head.root)
    for event in trail.get("events", []):
        problem = _event_problem(event, head, root)
        if problem:
            return f"event at position {event.get('position')}: {problem}"
    broken = check_chains(trail)
    if broken:
        return (f"event at position {broken.get('position')}: {broken['reason']}")
    return None


def _event_problem(event: dict, head: TreeHead, root: bytes) -> str | None:
    record = event.get("record")
    if not isinstance(record, dict):
        return "it carries no record and proof"
    try:
        state = base64.b64decode(record["state"], validate=True)
        proof = [bytes.fromhex(p) for p in record["proof"]]
        leaf = record_leaf(event["position"], event["topic"], event["application_id"],
                           event["version"], hashlib.sha256(state).hexdigest())
        stored = json.loads(state)
    except (KeyError, TypeError, ValueError) as error:
        return f"its record cannot be read ({type(error).__name__})"
    if not verify_inclusion(leaf, record["leaf_index"], head.size, proof, root):
        return "its record is not in the signed tree"
    if (stored.get("hash"), stored.get("prev_hash")) != (event.get("hash"), event.get("prev_hash")):
        return "its hashes are not those of its record"
    return None


__all__ = ["Signer", "add_evidence", "application_proof", "check_export"]
