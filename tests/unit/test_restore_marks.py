"""Restore marks in the witnesses (``adapters.audit.evidence.restores``): written and read back,
signed, and which witnessed heads they set aside; and the arguments of ``towns backup`` and
``towns restore``."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.audit.evidence.heads import Signer
from adapters.audit.evidence.restores import (RestoreMark, current_heads, make_mark,
                                              parse_entry, restore_lines)
from adapters.audit.evidence.verify import Evidence
from adapters.audit.evidence.witnesses import FileWitness, Reading
from adapters.cli import main, parser
from adapters.cli.backup import point_lines, shown_url
from adapters.ops.backup_records import Point


def root(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest()


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def test_a_mark_is_written_and_read_back_beside_the_heads(signer, tmp_path):
    witness = FileWitness(tmp_path)
    witness.append(signer.head(10, root(10)))
    witness.append(make_mark(8, 12, signer))
    witness.append(signer.head(11, root(11)))
    reading = witness.read()
    assert [h.size for _, h in reading.heads] == [10, 11] and reading.problems == []
    assert [(at, m.size, m.position) for at, m in reading.marks] == [(2, 8, 12)]
    assert isinstance(parse_entry(make_mark(1, 2, None).line()), RestoreMark)


def test_heads_before_a_mark_for_a_longer_log_are_superseded_the_rest_kept(signer):
    reading = Reading("file")
    for at, size in ((1, 5), (2, 10), (3, 15)):
        reading.heads.append((at, signer.head(size, root(size))))
    reading.marks.append((4, make_mark(10, 10, signer)))
    reading.heads.append((5, signer.head(12, root(12))))
    evidence = Evidence()
    kept = current_heads(reading, {signer.key_id: signer.public}, evidence)
    assert [h.size for _, h in kept] == [5, 10, 12]  # the backup's heads and the new ones
    assert [s["size"] for s in evidence.superseded] == [15]
    assert evidence.ok and len(evidence.restores) == 1
    lines = restore_lines({"restores": evidence.restores, "superseded_heads": evidence.superseded})
    assert lines[0].startswith("restored: the log was restored from a backup of 10 records")
    assert "heads beyond the restored log: 1" in lines[1] and "not a break" in lines[1]


def test_a_mark_signed_by_a_key_not_trusted_excuses_nothing(signer):
    other = Signer(Ed25519PrivateKey.generate())
    reading = Reading("file")
    reading.heads.append((1, signer.head(15, root(15))))
    reading.marks.append((2, make_mark(10, 10, other)))
    evidence = Evidence()
    kept = current_heads(reading, {signer.key_id: signer.public}, evidence)
    assert [h.size for _, h in kept] == [15] and evidence.superseded == []
    assert not evidence.ok and evidence.findings[0]["kind"] == "bad_signature"


def test_a_mark_whose_fields_were_edited_does_not_verify(signer):
    mark = make_mark(10, 10, signer)
    edited = mark.line().replace('"size":10', '"size":3')
    reading = Reading("file", marks=[(2, parse_entry(edited))])
    reading.heads.append((1, signer.head(15, root(15))))
    evidence = Evidence()
    current_heads(reading, {signer.key_id: signer.public}, evidence)
    assert evidence.findings and evidence.superseded == []


@pytest.mark.parametrize("line", ['{"restore": {"size": -1, "position": 1, "time": "x"}}',
                                  '{"restore": 5}', '{"restore": {"size": 1, "position": 1, '
                                  '"time": "2017-01-01T00:00:00"}}'])
def test_what_is_not_a_mark_is_refused(line):
    with pytest.raises(ValueError):
        parse_entry(line)


@pytest.mark.parametrize("argv", [["backup"], ["restore"], ["restore", "f", "--bogus"],
                                  ["backup", "a", "b"]])
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_restore_takes_replace_no_witness_and_a_reason():
    args = parser().parse_args(["restore", "f.dump", "--replace", "--no-witness", "--reason", "x"])
    assert (args.replace, args.no_witness, args.reason, str(args.file)) == (True, True, "x", "f.dump")


def test_what_a_backup_prints_is_bounded_and_hides_the_password():
    point = Point(1234567, 1300000, 400000, {f"view{i}": i for i in range(20)})
    lines = point_lines(point)
    assert lines[0] == ("the log up to position 1300000: 1,234,567 records, 400,000 messages "
                        "applied")
    assert len(lines) == 2 and lines[1].endswith("... (12 more)")
    assert shown_url("postgresql://towns:s3cret@db:5432/towns") == "postgresql://towns:***@db:5432/towns"
    assert shown_url("sqlite:///./towns.db") == "sqlite:///./towns.db"
