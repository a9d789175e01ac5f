"""The auditors' endpoints, for the province and auditors only: ``GET /api/v1/audit/verify``
(CONTRACT.md §3), whether the whole event log's hash chains hold; ``GET /api/v1/audit/heads``,
the signed tree heads, paged; ``GET /api/v1/audit/proof``, an application's events with their
inclusion proofs (``adapters.audit.evidence.proofs``).

Verify answers at once from the last verification that completed in this process (or, after a
restart, the last one recorded) and starts at most one in the background
(``adapters.audit.background``, which says what each field means); it never waits for one. Before
any has completed it answers ``state: "pending"`` with ``ok: null``, which is not intact.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from adapters.audit.evidence.actions import recent
from adapters.audit.evidence.checkpoints import heads_page, latest, witness_failures
from adapters.audit.evidence.proofs import application_proof
from adapters.http.auth import require_roles
from adapters.http.context import current_runner, current_towns, current_verifications
from adapters.http.cursor import CursorField, encode_cursor
from domain.applications import application_id
from domain.errors import SchemaInvalid
from domain.principals import AUDITOR, PROVINCE
from domain.reading import never_submitted

blp = Blueprint("audit", __name__, description="Verifying the event log")


class LogBreakSchema(Schema):
    chain = fields.String(required=True,
                          metadata={"description": "application, log or application+log"})
    position = fields.Integer(allow_none=True, metadata={"description": "in the log"})
    topic = fields.String(allow_none=True)
    call_id = fields.String(allow_none=True)
    application_ref = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    reason = fields.String(required=True)


class FailureSchema(Schema):
    at = fields.String(required=True)
    reason = fields.String(required=True)


class VerifySchema(Schema):
    ok = fields.Boolean(required=True, allow_none=True, metadata={
        "description": "true: intact up to checked_to; false: broken (see first_break); null: "
                       "not known (state pending, or incomplete)"})
    events_checked = fields.Integer(required=True,
                                    metadata={"description": "notifications of the log chain"})
    first_break = fields.Nested(LogBreakSchema, allow_none=True, required=True)
    state = fields.String(required=True, metadata={
        "description": "pending (no verification has completed yet), verified (every record up "
                       "to head_at_start was checked) or incomplete (stopped at checked_to)"})
    verified_at = fields.String(allow_none=True,
                                metadata={"description": "when the verification answered ended"})
    started_at = fields.String(allow_none=True)
    head_at_start = fields.Integer(allow_none=True,
                                   metadata={"description": "the log's head when it began"})
    checked_to = fields.Integer(allow_none=True,
                                metadata={"description": "every record up to here was checked"})
    incomplete = fields.String(allow_none=True, metadata={"description": "why it stopped early"})
    running = fields.Boolean(required=True,
                             metadata={"description": "whether a verification runs now"})
    running_since = fields.String(allow_none=True)
    last_error = fields.Nested(FailureSchema, allow_none=True, metadata={
        "description": "the last attempt, when it failed outright"})
    breaks = fields.List(fields.Nested(LogBreakSchema))
    position = fields.Integer(metadata={"description": "how far the audit trail had read"})
    outside_trail = fields.Integer(metadata={
        "description": "records the audit trail did not vouch for (past it, set aside by it, "
                       "or after the first break of its chain), checked from their stored "
                       "bytes alone"})
    outside_trail_positions = fields.List(fields.Integer(), metadata={
        "description": "the first of them"})
    chain_head = fields.String(metadata={"description": "the log's chain hash at checked_to"})
    applications_checked = fields.Integer()
    application_events_checked = fields.Integer()
    checkpoints_checked = fields.Integer()
    evidence = fields.Dict(metadata={
        "description": "the log against the signed tree heads read from the witnesses: ok, "
                       "signed, heads_checked, latest_head, witnesses, missing_witnesses, "
                       "findings, first_difference, records_checked, unwitnessed_records"})


@blp.route("/api/v1/audit/verify")
@blp.response(200, VerifySchema, description="the last verification's verdict and first break")
@require_roles(PROVINCE, AUDITOR)
def verify():
    """Verify the hash chains

    Answers at once with the last completed verification of every application's chain and the
    chain over the whole log (``verified_at``, ``checked_to``), and starts a new one in the
    background when none runs and the last is more than 30 s old. Before one has completed,
    ``state`` is ``pending`` and ``ok`` null: not intact.
    """
    return current_verifications().status()


class HeadSchema(Schema):
    size = fields.Integer(required=True, metadata={"description": "records of the log covered"})
    root = fields.String(required=True, metadata={"description": "RFC 9162 root, hex"})
    time = fields.String(required=True)
    key_id = fields.String(allow_none=True, required=True)
    signature = fields.String(allow_none=True, required=True,
                              metadata={"description": "Ed25519, base64; null: unsigned"})


class HeadsArgs(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = CursorField(metadata={"description": "next_cursor of the previous page"})


class HeadsSchema(Schema):
    items = fields.List(fields.Nested(HeadSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class ProofArgs(Schema):
    call_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    application_ref = fields.String(required=True, validate=validate.Length(min=1, max=128))


class ProvenEventSchema(Schema):
    position = fields.Integer(required=True)
    version = fields.Integer(required=True)
    type = fields.String(required=True)
    leaf_index = fields.Integer(allow_none=True, required=True)
    proof = fields.List(fields.String(), allow_none=True, required=True, metadata={
        "description": "RFC 9162 inclusion path to tree_head's root, hex; null until a head "
                       "covers the event"})


class ProofSchema(Schema):
    call_id = fields.String(required=True)
    application_ref = fields.String(required=True)
    tree_head = fields.Nested(HeadSchema, allow_none=True, required=True)
    items = fields.List(fields.Nested(ProvenEventSchema), required=True)


@blp.route("/api/v1/audit/heads")
@blp.arguments(HeadsArgs, location="query")
@blp.response(200, HeadsSchema)
@require_roles(PROVINCE, AUDITOR)
def heads(args: dict):
    """The signed tree heads

    Every tree head the service has made over the log's Merkle tree, oldest first, a page at a
    time. These are the database's copies, for reading: verification (``towns audit verify``)
    believes the witnesses instead.
    """
    after = 0
    if args.get("cursor") is not None:
        key = args["cursor"]
        if key[0] != "heads" or not key[1].isdigit():
            raise SchemaInvalid("not a cursor of this list", {"cursor": "not a cursor of this list"})
        after = int(key[1])
    runner = current_runner()
    with runner.store.transaction(read_only=True) as tx:
        found = heads_page(tx, after, args["limit"] + 1)
    page = found[: args["limit"]]
    more = len(found) > args["limit"]
    return {"items": [h.as_dict() for h in page],
            "next_cursor": encode_cursor(("heads", str(page[-1].size))) if more else None}


@blp.route("/api/v1/audit/proof")
@blp.arguments(ProofArgs, location="query")
@blp.response(200, ProofSchema)
@require_roles(PROVINCE, AUDITOR)
def proof(args: dict):
    """Inclusion proofs of an application's events

    Each event of the application with its leaf index in the log's Merkle tree and an RFC 9162
    inclusion proof against the latest tree head, which an auditor checks against a head from a
    witness.
    """
    call_id, ref = args["call_id"], args["application_ref"]
    found = application_proof(current_runner().store, application_id(call_id, ref))
    if not found["items"]:
        raise never_submitted(call_id, ref)
    return {"call_id": call_id, "application_ref": ref, **found}


class ActionSchema(Schema):
    at = fields.String(required=True)
    action = fields.String(required=True)
    actor = fields.String(required=True)
    reason = fields.String(required=True)
    details = fields.Dict()


class AuditEvidenceSchema(Schema):
    latest_head = fields.Nested(HeadSchema, allow_none=True, required=True)
    age_seconds = fields.Float(allow_none=True, required=True,
                               metadata={"description": "since the latest head was signed"})
    signed = fields.Boolean(required=True, metadata={
        "description": "whether the latest head is signed (false: no TOWNS_SIGNING_KEY)"})
    witness_failures = fields.List(fields.Dict(), required=True, metadata={
        "description": "heads a witness could not take when they were made"})
    actions = fields.List(fields.Nested(ActionSchema), required=True, metadata={
        "description": "the last operator actions and configuration changes, newest first"})


@blp.route("/api/v1/audit/evidence")
@blp.response(200, AuditEvidenceSchema)
@require_roles(PROVINCE, AUDITOR)
def evidence():
    """The latest tree head and the last operator actions

    What the audit panel shows beside the verification: the latest head the service made (from
    the database; whether the witnesses agree is the verification's ``evidence``), its age,
    heads a witness could not take, and the last operator actions, which are events of the log
    under the same tree.
    """
    with current_runner().store.transaction(read_only=True) as tx:
        head = latest(tx)
        failures = witness_failures(tx)
    age = None
    if head is not None:
        age = (datetime.now(timezone.utc) - datetime.fromisoformat(head.time)).total_seconds()
    return {"latest_head": head.as_dict() if head else None, "age_seconds": age,
            "signed": bool(head and head.signed),
            "witness_failures": [{"size": s, "failures": f} for s, f in failures],
            "actions": recent(current_towns(), 10)}
