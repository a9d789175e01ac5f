"""A seeded mutator of inbound messages, as a hostile or careless upstream system sends them.

``Fuzzer(seed).cases(n, channel)`` starts from valid envelopes of every type (``tests.factories``)
and breaks each one a different way: a field dropped, given another JSON type, a string too long,
padded with white space or holding a control character or a NUL, an unknown type or call, an actor
that does not fit, or the bytes themselves broken (not UTF-8, not JSON, not an object, nested too
deep, over the size limit). Some cases stay valid, so that the stream also moves applications
through their life cycle and later mutations meet real state. Every case names the principal it
is sent as and, where the contract fixes it whatever the store holds, the codes it may be refused
with (``expect``); None means any contract code, or applied.

Every body is unique, so that a dead letter names its case by its body alone.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.factories import CALL, ROLE_OF, at, envelope

CITIES = ("guangzhou", "shenzhen", "zhuhai", "foshan")
TYPES = tuple(ROLE_OF)
CODES = frozenset({
    "malformed", "schema_invalid", "unknown_type", "unknown_call", "unknown_application",
    "invalid_transition", "precondition_failed", "idempotency_conflict", "deadline_passed",
    "unauthenticated", "forbidden",
})
"""The contract's refusals of an input (``unavailable`` and ``internal_error`` are not answers
to any input)."""

DEEP = "\ue000deep"
IDENTIFIERS = (("message_id",), ("application_ref",), ("call_id",), ("actor", "id"))
WEIRD_VALUES: tuple[Any, ...] = (
    [], {}, [[]], {"a": {}}, 0, -1, 1.5, 10**30, True, False, None, "", " ", [1, "x"],
    "x" * 129, "y" * 5000, "\u0007bell", "tab\there", "\u007f", "新" * 300,
)


@dataclass(frozen=True)
class Case:
    n: int
    body: bytes
    user: str | None
    """The sender: an AMQP user or an HTTP token name (a principal's name), None for none, or
    ``"stranger"`` for credentials that map to no principal."""
    mutation: str
    expect: frozenset[str] | None = None
    headers: dict = field(default_factory=dict)


def _principal_of(value: dict) -> str:
    """The demo principal that may act as the envelope's actor."""
    actor = value.get("actor") if isinstance(value, dict) else None
    role = actor.get("role") if isinstance(actor, dict) else None
    city = actor.get("city") if isinstance(actor, dict) else None
    if role == "province":
        return "province"
    if role in ("applicant", "city") and isinstance(city, str):
        return f"{city}-{role}"
    return "province"


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.seen: set[bytes] = set()
        self.refs: list[tuple[str, str]] = []  # (ref, city) submitted validly so far

    # -- valid material ----------------------------------------------------------------------

    def _valid(self, n: int, prefix: str) -> dict:
        """A valid envelope: a new submission, or the next plausible step of an earlier one."""
        r = self.random
        if not self.refs or r.random() < 0.35:
            city = r.choice(CITIES)
            ref = f"{prefix}-{n:05d}"
            self.refs.append((ref, city))
            return envelope("application.submitted", ref, city=city, track=r.choice(
                ("industrial", "application")), occurred_at=at(r.randint(1, 28)),
                message_id=f"{prefix}-m{n}")
        ref, city = r.choice(self.refs)
        kind = r.choice(TYPES[1:])
        return envelope(kind, ref, city=city, occurred_at=at(r.randint(1, 28)),
                        message_id=f"{prefix}-m{n}")

    # -- mutations ---------------------------------------------------------------------------

    def _paths(self, value: Any, path: tuple = ()) -> Iterator[tuple]:
        yield path
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from self._paths(inner, (*path, key))
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                yield from self._paths(inner, (*path, i))

    @staticmethod
    def _set(value: Any, path: tuple, new: Any) -> None:
        for step in path[:-1]:
            value = value[step]
        value[path[-1]] = new

    @staticmethod
    def _delete(value: Any, path: tuple) -> None:
        for step in path[:-1]:
            value = value[step]
        del value[path[-1]]

    def _mutate(self, value: dict) -> tuple[Any, str, frozenset[str] | None, bool]:
        """(the mutated value, what was done, the codes it may be refused with, whether the
        value is still JSON to be encoded) for one random mutation."""
        r = self.random
        roll = r.random()
        value = copy.deepcopy(value)
        paths = [p for p in self._paths(value) if p]
        if roll < 0.25:
            path = r.choice(paths)
            self._set(value, path, r.choice(WEIRD_VALUES))
            return value, f"retyped {'.'.join(map(str, path))}", None, True
        if roll < 0.35:
            path = r.choice(paths)
            self._delete(value, path)
            return value, f"dropped {'.'.join(map(str, path))}", None, True
        if roll < 0.45:
            path = r.choice(paths)
            text = r.choice(("Town\u0000X", "\u0000", "a\u0000"))
            self._set(value, path, text)
            return value, f"NUL in {'.'.join(map(str, path))}", frozenset({"malformed"}), True
        if roll < 0.50:
            where = value["payload"] if r.random() < 0.5 else value
            where["bad\u0000key"] = 1
            return value, "NUL in a key", frozenset({"malformed"}), True
        if roll < 0.60:
            path = r.choice(IDENTIFIERS)
            old = value[path[0]] if len(path) == 1 else value[path[0]][path[1]]
            text = r.choice((f" {old}", f"{old} ", f"{old}\n", f"a\u0001{old}", f"{old}\u007f",
                             "z" * 129, ""))
            self._set(value, path, text)
            return value, f"identifier {'.'.join(path)}", frozenset({"schema_invalid"}), True
        if roll < 0.66:
            value["type"] = r.choice(("application.teleported", "x" * 200_000, "APPLICATION.SUBMITTED",
                                      "application.submitted ", "材料.收到"))
            return value, "unknown type", frozenset({"unknown_type", "schema_invalid"}), True
        if roll < 0.70:
            value["call_id"] = r.choice(("GD-NOPE-2099", "c" * 128))
            return value, "unknown call", frozenset({"unknown_call"}), True
        if roll < 0.76:
            value["actor"]["role"] = r.choice(("applicant", "city", "province", "auditor",
                                               "operator", "king"))
            return value, "other actor role", None, True
        if roll < 0.80:
            value["occurred_at"] = r.choice(("2017-03-10T09:30:00", "yesterday", "2017-02-30T00:00:00+08:00",
                                             "9999-12-31T23:59:59+14:00", "2017-04-02T10:00:00+08:00"))
            return value, "odd occurred_at", None, True
        if roll < 0.84:
            value["payload"]["deep"] = DEEP  # replaced in the encoded bytes: see ``case``
            return value, "deep nesting", None, True
        if roll < 0.87:
            value["payload"]["pad"] = "p" * (256 * 1024)
            return value, "over the size limit", frozenset({"malformed"}), True
        return value, "bytes", frozenset({"malformed"}), False

    def _broken_bytes(self, valid: bytes, n: int) -> bytes:
        r = self.random
        choice = r.randrange(9)
        if choice == 0:
            return valid[: r.randrange(1, max(2, len(valid) - 1))]
        if choice == 1:
            i = r.randrange(len(valid))
            return valid[:i] + b"\xff\xfe" + valid[i:]
        if choice == 2:
            return b"[" + valid + b"]"
        if choice == 3:
            return f'"fz-{n}"'.encode()
        if choice == 4:
            return f"{n}".encode()
        if choice == 5:
            return b"\xef\xbb\xbf" + valid  # a byte-order mark: not JSON text
        if choice == 6:
            return valid.replace(b"{", b"{\"nan\": NaN, ", 1)
        if choice == 7:
            return b"[" * 200_000 + b"]" * 200_000 + f" {n}".encode()
        return valid.replace(b'"', b"'", 3)

    # -- cases -------------------------------------------------------------------------------

    def case(self, n: int, prefix: str) -> Case:
        r = self.random
        valid = self._valid(n, prefix)
        user: str | None = _principal_of(valid)
        if r.random() < 0.2:
            body = json.dumps(valid, ensure_ascii=False).encode()
            return Case(n, body, user, "valid")
        mutated, mutation, expect, is_json = self._mutate(valid)
        if is_json:
            body = json.dumps(mutated, ensure_ascii=r.random() < 0.5).encode()
            depth = r.choice((50, 5000, 100_000))
            body = body.replace(json.dumps(DEEP).encode(), b"[" * depth + b"]" * depth)
        else:
            body = self._broken_bytes(json.dumps(valid).encode(), n)
        if r.random() < 0.08:
            user, mutation, expect = r.choice((None, "stranger")), f"{mutation}, no principal", \
                frozenset({"unauthenticated"})
        return Case(n, body, user, mutation, expect)

    def cases(self, count: int, prefix: str) -> list[Case]:
        out: list[Case] = []
        n = 0
        while len(out) < count:
            n += 1
            case = self.case(n, prefix)
            if case.body in self.seen:
                continue
            self.seen.add(case.body)
            out.append(case)
        return out


def amqp_headers(r: random.Random) -> dict:
    """Publisher headers a hostile sender might set: odd types, forged service headers, one
    close to the frame limit now and then."""
    roll = r.random()
    if roll < 0.03:
        return {"pad": "A" * 130_000}
    if roll < 0.10:
        return {"x-towns-error": "forged", "x-towns-user-id": "province", "trace": "t"}
    if roll < 0.20:
        return {"nested": {"a": [1, 2, {"b": "c"}]}, "n": -2**40, "f": True, "b": b"\x00\x01"}
    if roll < 0.25:
        return {f"h{i}": "v" * 200 for i in range(300)}
    return {}


__all__ = ["CALL", "CODES", "Case", "Fuzzer", "amqp_headers"]
