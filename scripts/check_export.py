#!/usr/bin/env python3
"""Checks an audit export (``towns audit export --format json``) offline, with nothing but
Python's standard library and the ``cryptography`` package: no database, no service, no project
code. An auditor can read it whole.

    python3 check_export.py EXPORT.json PUBLIC_KEY.pem

PUBLIC_KEY.pem is what ``towns audit public-key`` printed, obtained from the service's owner
by a channel of the auditor's choosing. Exit 0 when every check holds, 1 with the first failure.

The checks:
1. the file is byte for byte as the service wrote it (JSON, two-space indent, keys in order);
2. its public key is the one given, and its signature (Ed25519 over ``towns-audit-export-v1``
   and a newline, then the export without ``signature`` as compact JSON, keys sorted) verifies;
3. the signed tree head verifies (``towns-tree-head-v1``, a newline, compact sorted JSON of
   ``key_id``, ``root``, ``size``, ``time``);
4. every event's record hashes to a leaf (SHA-256 of 0x00, then position, topic, application
   id and version, each followed by a newline, then the SHA-256 of the stored bytes in hex)
   that its inclusion proof
   leads to the head's root (RFC 9162 §2.1.3.2), and the event's hash and link are the
   record's own;
5. every application's events chain: versions 1, 2, ... and each hash is SHA-256 of the
   previous hash, a newline and the canonical JSON of the event's content.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

GENESIS = "0" * 64
CONTENT = ("type", "topic", "application_id", "version", "recorded_at", "occurred_at", "actor",
           "message_id", "data")


def sha256(data):
    return hashlib.sha256(data).digest()


def compact(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def root_from_proof(leaf, index, size, proof):
    """RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or None."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def check(raw, public_pem):
    export = json.loads(raw)
    if json.dumps(export, ensure_ascii=False, indent=2).encode() + b"\n" != raw:
        return "the file is not byte for byte as exported"
    if export.get("public_key", "").strip() != public_pem.decode().strip():
        return "the export names another public key than the one given"
    key = load_pem_public_key(public_pem)
    body = {k: v for k, v in export.items() if k != "signature"}
    try:
        key.verify(base64.b64decode(export["signature"]),
                   b"towns-audit-export-v1\n" + compact(body))
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return "the export's signature does not verify"
    head = export["tree_head"]
    fields = {k: head[k] for k in ("key_id", "root", "size", "time")}
    try:
        key.verify(base64.b64decode(head["signature"]),
                   b"towns-tree-head-v1\n" + compact(fields))
    except (InvalidSignature, ValueError, TypeError):
        return "the tree head's signature does not verify"
    root, size = bytes.fromhex(head["root"]), head["size"]
    chains = {}
    for event in export["events"]:
        where = f"event at position {event.get('position')}"
        record = event["record"]
        state = base64.b64decode(record["state"], validate=True)
        text = "{}\n{}\n{}\n{}\n{}".format(event["position"], event["topic"],
                                           event["application_id"], event["version"],
                                           hashlib.sha256(state).hexdigest())
        leaf = sha256(b"\x00" + text.encode())
        proof = [bytes.fromhex(p) for p in record["proof"]]
        if root_from_proof(leaf, record["leaf_index"], size, proof) != root:
            return f"{where}: its record is not in the signed tree"
        stored = json.loads(state)
        if (stored.get("hash"), stored.get("prev_hash")) != (event["hash"], event["prev_hash"]):
            return f"{where}: its hashes are not those of its record"
        version, previous = chains.get(event["application_id"], (0, GENESIS))
        if event["version"] != version + 1 or event["prev_hash"] != previous:
            return f"{where}: it does not follow version {version} of its application"
        content = {k: event[k] for k in CONTENT}
        if "originator_topic" in event:
            content["originator_topic"] = event["originator_topic"]
        if hashlib.sha256(previous.encode() + b"\n" + compact(content)).hexdigest() != event["hash"]:
            return f"{where}: its content does not match its hash"
        chains[event["application_id"]] = (event["version"], event["hash"])
    return None


def main(argv):
    if len(argv) != 3:
        print("usage: check_export.py EXPORT.json PUBLIC_KEY.pem", file=sys.stderr)
        return 2
    try:
        with open(argv[1], "rb") as f:
            raw = f.read()
        with open(argv[2], "rb") as f:
            public_pem = f.read()
        problem = check(raw, public_pem)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        problem = f"the export cannot be read: {type(error).__name__}: {error}"
    if problem:
        print(f"export: NOT VERIFIED: {problem}", file=sys.stderr)
        return 1
    print("export: verified")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
