"""The shapes of inbound events (CONTRACT.md §2): the envelope and the payload of every type.

``parse_envelope`` is the one entry point. It checks, in the contract's order, that the message is
an object (``malformed``), that the envelope has its shape (``schema_invalid``), that the type is
known (``unknown_type``) and that the payload has the shape of its type (``schema_invalid``).
Unknown fields are dropped at every level, never refused. Rules that need the application (its
track on a resubmission, its state, the call) are the service's, not this module's.

Every string and list is bounded: identifiers (``message_id``, ``application_ref``, ``call_id``,
the actor's ``id``) hold 1-``ID_CHARS`` characters, no control character and no white space at
either end (CONTRACT.md §2); names (``town_name``, the applicant's, a project's, a panel member's,
the actor's ``organisation``, ``decision_ref``) at most ``NAME_CHARS``; free text (``reason``,
``notes``, ``findings``) at most ``TEXT_CHARS``; ``panel``, ``waivers`` and
``application_projects`` at most ``PANEL_MEMBERS``, ``len(CLAUSE_IDS)`` and ``PROJECTS`` items.
``type`` needs no bound of its own: whatever is not in the table is ``unknown_type``, and what an
error quotes of it is bounded (``domain.errors``).

The schemas are declared beside this module, by part: the envelope (``envelope_schema``), the
indicators (``indicator_schemas``) and the payloads (``payload_schemas``); importing them from
here still works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError
from marshmallow.exceptions import SCHEMA

from adapters.inbound.envelope_schema import (  # noqa: F401 - re-exported: the schemas' old home
    ENVELOPE_ROLES,
    UNREADABLE_REF,
    ActorSchema,
    EnvelopeSchema,
)
from adapters.inbound.indicator_schemas import (  # noqa: F401 - re-exported: the schemas' old home
    TRACK_INDICATORS_SCHEMAS,
    FundingRatioSchema,
    IndicatorsSchema,
    ProjectSchema,
    TrackIndicators,
)
from adapters.inbound.payload_schemas import (  # noqa: F401 - re-exported: the schemas' old home
    APPLICANT_KINDS,
    CLAUSE_IDS,
    EVENT_TYPES,
    PAYLOAD_SCHEMAS,
    ApplicantAttestationSchema,
    ApplicantSchema,
    ApprovedSchema,
    CityAttestationSchema,
    CityVerifiedSchema,
    EvaluatedSchema,
    MaterialsReceivedSchema,
    ReasonSchema,
    RecommendedSchema,
    ResubmittedSchema,
    SubmittedSchema,
    WaiverSchema,
)
from adapters.inbound.schema_compiler import compile_schema
from adapters.inbound.schema_fields import (  # noqa: F401 - the bounds are part of this module's contract
    ID_CHARS,
    NAME_CHARS,
    PANEL_MEMBERS,
    PROJECTS,
    TEXT_CHARS,
)
from domain.errors import Malformed, SchemaInvalid, UnknownType

_ENVELOPE = EnvelopeSchema()

_COMPILED_ENVELOPE = compile_schema(_ENVELOPE)
_COMPILED_PAYLOADS = {name: compile_schema(schema) for name, schema in PAYLOAD_SCHEMAS.items()}
"""The same schemas compiled for valid messages (``adapters.inbound.schema_compiler``); anything they
do not accept goes through marshmallow, which names the errors."""


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_envelope(obj: Any) -> dict:
    """Checks a decoded JSON message and returns it loaded, unknown fields dropped.

    Refusals, in the contract's order: not an object → ``Malformed``; the envelope's shape →
    ``SchemaInvalid``; a type not in ``EVENT_TYPES`` → ``UnknownType``; the payload's shape →
    ``SchemaInvalid``. A ``SchemaInvalid`` names the first failing field in its message and maps
    every failing dotted path (``actor.city``, ``payload.waivers.0.criterion``) to its message in
    ``details``.

    The result has ``message_id``, ``type``, ``occurred_at`` (an aware datetime),
    ``application_ref``, ``call_id``, ``actor`` (``role``, ``id``, ``organisation``, ``city`` or
    None) and ``payload``; everything but ``occurred_at`` is plain JSON data.
    """
    if not isinstance(obj, dict):
        raise Malformed("the message is not a JSON object")
    envelope = _COMPILED_ENVELOPE(obj)
    if envelope is not None:
        compiled = _COMPILED_PAYLOADS.get(envelope["type"])
        payload = compiled(envelope["payload"]) if compiled else None
        if payload is not None:
            envelope["payload"] = payload
            return envelope
    try:
        envelope = _ENVELOPE.load(obj)
    except ValidationError as exc:
        raise _schema_invalid("the envelope is invalid", exc.messages) from exc
    event_type = envelope["type"]
    if event_type not in PAYLOAD_SCHEMAS:
        raise UnknownType(f"unknown event type {event_type!r}", details={"type": event_type})
    try:
        envelope["payload"] = PAYLOAD_SCHEMAS[event_type].load(envelope["payload"])
    except ValidationError as exc:
        raise _schema_invalid("the payload is invalid", {"payload": exc.messages}) from exc
    return envelope


def _schema_invalid(what: str, messages: Any) -> SchemaInvalid:
    details = _flatten(messages)
    path, message = next(iter(details.items()))
    return SchemaInvalid(f"{what}: {path}: {message}", details=details)


def _flatten(messages: Any, path: str = "") -> dict[str, str]:
    """Marshmallow's nested errors as ``{"dotted.path": "message; message"}``, in their order.

    A schema-level error (a non-object where an object belongs) is reported at its parent's path.
    """
    if isinstance(messages, Mapping):
        flat: dict[str, str] = {}
        for key, value in messages.items():
            child = path if key == SCHEMA else f"{path}.{key}" if path else str(key)
            for sub_path, text_ in _flatten(value, child).items():
                flat[sub_path] = f"{flat[sub_path]}; {text_}" if sub_path in flat else text_
        return flat
    if isinstance(messages, (list, tuple)):
        flat = {}
        texts = []
        for item in messages:
            if isinstance(item, (Mapping, list, tuple)):
                flat.update(_flatten(item, path))
            else:
                texts.append(str(item))
        if texts:
            flat = {path or "(message)": "; ".join(texts), **flat}
        return flat
    return {path or "(message)": str(messages)}
