"""Restore marks: a database restored from a backup, said where the tree heads are kept.

A backup holds the log up to its point; the witnesses go on holding every head signed after it.
After a restore the log is behind those heads, and once upstream resends what came after the
backup, its records after that point are new ones: the heads signed before the restore for
larger sizes can never be reproduced again. ``towns restore`` therefore appends a **restore
mark** to every witness, signed like a head with the key of ``TOWNS_SIGNING_KEY``::

    {"key_id": ..., "restore": {"position": P, "size": N, "time": T}, "signature": ...}

``size`` is the number of records the restored log holds (the Merkle tree's size), ``position``
its last notification id. What is signed is ``SIGNED_PREFIX`` and the canonical JSON of
``{key_id, position, size, time}``.

Verification reads each witness in the order it was written: a head written *before* a mark
and covering *more* records than the mark says belongs to the log as it was before that restore.
It is not checked against the log and not counted as a break; it is listed as superseded
(``superseded_heads``). Every other head is checked as before, so the heads up to the backup
point still have to reproduce, and every head signed after the restore too. A mark whose
signature does not verify is a finding and excuses nothing. Marks are in the witnesses, never
in the database: whoever can write the database cannot excuse a truncated or rewritten log.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature

from adapters.audit.evidence.heads import MAX_HEAD_TEXT, Signer, TreeHead, _instant
from domain.hashing import canonical

SIGNED_PREFIX = b"towns-restore-v1\n"


@dataclass(frozen=True)
class RestoreMark:
    size: int  # records in the restored log
    position: int  # its last notification id
    time: str  # ISO 8601 with an offset
    key_id: str | None = None
    signature: str | None = None  # base64

    @property
    def signed(self) -> bool:
        return self.signature is not None

    def signed_bytes(self) -> bytes:
        return SIGNED_PREFIX + canonical({"key_id": self.key_id, "position": self.position,
                                          "size": self.size, "time": self.time})

    def as_dict(self) -> dict[str, Any]:
        return {"size": self.size, "position": self.position, "time": self.time,
                "key_id": self.key_id, "signed": self.signed}

    def line(self) -> str:
        """The mark as one JSON line (a witness file's line, a stream message's body)."""
        return canonical({"key_id": self.key_id, "signature": self.signature,
                          "restore": {"position": self.position, "size": self.size,
                                      "time": self.time}}).decode("utf-8")

    @classmethod
    def parse(cls, value: dict) -> RestoreMark:
        restore = value.get("restore")
        if not isinstance(restore, dict):
            raise ValueError("a restore mark holds a restore object")
        size, position, time = restore.get("size"), restore.get("position"), restore.get("time")
        for name, count in (("size", size), ("position", position)):
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError(f"the restore mark's {name} is not a count")
        if not isinstance(time, str) or not _instant(time):
            raise ValueError("the restore mark's time is not an instant with an offset")
        key_id, signature = value.get("key_id"), value.get("signature")
        for name, field in (("key_id", key_id), ("signature", signature)):
            if field is not None and (not isinstance(field, str) or len(field) > 200):
                raise ValueError(f"{name} is not text")
        return cls(size, position, time, key_id, signature)


def parse_entry(raw: str | bytes) -> TreeHead | RestoreMark:
    """A witness entry: a tree head or a restore mark; ValueError when it is neither."""
    if len(raw) > MAX_HEAD_TEXT:
        raise ValueError("too long to be a tree head")
    value = json.loads(raw)
    if isinstance(value, dict) and "restore" in value:
        return RestoreMark.parse(value)
    return TreeHead.parse(value)


def make_mark(size: int, position: int, signer: Signer | None) -> RestoreMark:
    """A restore mark of now, signed when there is a key."""
    stamp = datetime.now(timezone.utc).isoformat()
    unsigned = RestoreMark(size, position, stamp, signer.key_id if signer else None)
    if signer is None:
        return unsigned
    signature = signer.private.sign(unsigned.signed_bytes())
    return RestoreMark(size, position, stamp, signer.key_id,
                       base64.b64encode(signature).decode("ascii"))


def verify_mark(mark: RestoreMark, keys: dict) -> str | None:
    """None when ``mark`` carries a valid signature by one of ``keys``, else why not."""
    if mark.signature is None or mark.key_id is None:
        return "the restore mark is not signed"
    public = keys.get(mark.key_id)
    if public is None:
        return f"the restore mark is signed by key {mark.key_id}, which the verifier does not trust"
    try:
        public.verify(base64.b64decode(mark.signature, validate=True), mark.signed_bytes())
    except (InvalidSignature, ValueError):
        return f"the signature of the restore mark of {mark.time} does not verify"
    return None


def current_heads(reading, keys: dict, evidence) -> list[tuple[int, TreeHead]]:
    """The heads of one witness's ``reading`` that the log must still reproduce: all but those
    written before a (valid) restore mark that covers fewer records. The others are noted in
    ``evidence.superseded`` (once per size and root), the marks in ``evidence.restores``."""
    marks = []
    for at, mark in reading.marks:
        if mark.signed:
            wrong = verify_mark(mark, keys)
            if wrong:
                evidence.fail("bad_signature", f"the {reading.name} witness, entry {at}: {wrong}",
                              witness=reading.name)
                continue
        else:
            evidence.signed = False
        marks.append((at, mark))
        if not any(r["time"] == mark.time for r in evidence.restores):
            evidence.restores.append(mark.as_dict())
    kept = []
    for at, head in reading.heads:
        by = [m for seen, m in marks if seen > at and m.size < head.size]
        if not by:
            kept.append((at, head))
            continue
        if not any(s["size"] == head.size and s["root"] == head.root
                   for s in evidence.superseded):
            evidence.superseded.append({"size": head.size, "root": head.root, "time": head.time,
                                        "restored_to": by[0].size, "restored_at": by[0].time})
    return kept


def restore_lines(evidence: dict) -> list[str]:
    """What ``towns audit verify`` says of restores and the heads they superseded."""
    lines = []
    for mark in evidence.get("restores") or []:
        lines.append(f"restored: the log was restored from a backup of {mark['size']} records "
                     f"(up to position {mark['position']}) at {mark['time']}"
                     + ("" if mark["signed"] else " (UNSIGNED mark)"))
    superseded = evidence.get("superseded_heads") or []
    if superseded:
        sizes = sorted(s["size"] for s in superseded)
        times = sorted(s["time"] for s in superseded)
        lines.append(
            f"heads beyond the restored log: {len(superseded)}, witnessed before the restore "
            f"(sizes {sizes[0]} to {sizes[-1]}, signed {times[0]} to {times[-1]}): they cover "
            "records of the log as it was before the restore, which the backup did not hold; "
            "not checked, not a break")
    return lines
