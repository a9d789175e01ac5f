"""Tree heads (``adapters.audit.evidence.heads``): what is signed, how a head is read back from a
witness line (every line is hostile), keys, and the cadence settings."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.config import ConfigError
from adapters.audit.evidence.checkpoints import Cadence, Checkpoints
from adapters.audit.evidence.heads import (KeyProblem, Signer, TreeHead, keygen, load_public,
                                     public_pem, unsigned_head, verify_head)
from adapters.audit.evidence.witnesses import FileWitness
from domain.merkle import EMPTY_ROOT


def test_a_signed_head_verifies_only_with_its_key_and_unchanged():
    signer, other = Signer(Ed25519PrivateKey.generate()), Signer(Ed25519PrivateKey.generate())
    head = signer.head(42, EMPTY_ROOT)
    keys = {signer.key_id: signer.public}
    assert verify_head(TreeHead.parse(head.line()), keys) is None
    assert "not a key the verifier trusts" in verify_head(head, {other.key_id: other.public})
    for field, value in (("size", 43), ("root", "0" * 64), ("time", "2017-03-30T00:00:00+08:00")):
        changed = TreeHead.parse({**head.as_dict(), field: value})
        assert "does not verify" in verify_head(changed, keys)
    assert verify_head(unsigned_head(42, EMPTY_ROOT), keys) == "the head is not signed"


@pytest.mark.parametrize("line", [
    "", "[]", "null", '{"size": -1}', '{"size": true, "root": "' + "0" * 64 + '"}',
    '{"size": 1, "root": "XYZ", "time": "2017-01-01T00:00:00+00:00"}',
    '{"size": 1, "root": "' + "A" * 64 + '", "time": "2017-01-01T00:00:00+00:00"}',
    '{"size": 1, "root": "' + "0" * 64 + '", "time": "2017-01-01T00:00:00"}',
    '{"size": 1, "root": "' + "0" * 64 + '", "time": "2017-01-01T00:00:00+00:00", "key_id": 7}',
    "x" * 5000,
])
def test_a_line_that_is_not_a_head_is_refused_with_a_reason(line):
    with pytest.raises(ValueError):
        TreeHead.parse(line)


def test_the_witness_file_keeps_lines_it_cannot_read_as_problems(tmp_path):
    witness = FileWitness(tmp_path)
    signer = Signer(Ed25519PrivateKey.generate())
    witness.append(signer.head(1, EMPTY_ROOT))
    with open(witness.path, "a") as out:
        out.write("not json\n" + "y" * 100_000 + "\n")
    witness.append(signer.head(2, EMPTY_ROOT))
    reading = witness.read()
    assert [(n, h.size) for n, h in reading.heads] == [(1, 1), (4, 2)]
    assert len(reading.problems) == 2 and "line 2" in reading.problems[0]


def test_keygen_writes_mode_0600_never_overwrites_and_public_key_round_trips(tmp_path):
    path = tmp_path / "key.pem"
    signer = keygen(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    with pytest.raises(KeyProblem, match="never overwritten"):
        keygen(path)
    assert Signer.load(path).key_id == signer.key_id
    public = load_public(public_pem(signer.public))
    assert verify_head(signer.head(1, EMPTY_ROOT), {signer.key_id: public}) is None


def test_keygen_makes_the_missing_folders_of_its_path_private_and_leaves_existing_ones(tmp_path):
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "etc" / "towns" / "signing.pem"
    signer = keygen(path)
    assert Signer.load(path).key_id == signer.key_id
    assert os.stat(path).st_mode & 0o777 == 0o600
    for folder in (tmp_path / "etc", tmp_path / "etc" / "towns"):
        assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.stat(tmp_path).st_mode & 0o777 == 0o755
    keygen(tmp_path / "etc" / "other.pem")  # in a folder that exists now
    (tmp_path / "file").write_text("")
    with pytest.raises(KeyProblem, match="cannot be written: Not a directory"):
        keygen(tmp_path / "file" / "key.pem")


def test_unusable_keys_and_cadences_are_configuration_errors(tmp_path):
    (tmp_path / "bad.pem").write_text("not a key")
    for path in (tmp_path / "missing.pem", tmp_path / "bad.pem"):
        with pytest.raises(ConfigError):
            Signer.load(path)
    with pytest.raises(ConfigError):
        load_public(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    for env in ({"TOWNS_HEAD_EVERY": "abc"}, {"TOWNS_HEAD_EVERY": "0"},
                {"TOWNS_HEAD_SECONDS": "-1"}):
        os.environ.update(env)
        try:
            with pytest.raises(ConfigError):
                Cadence.from_env()
        finally:
            for name in env:
                os.environ.pop(name)
    assert Cadence.from_env() == Cadence(1000, 60.0)


def test_a_head_is_due_every_so_many_records_or_seconds():
    checkpoints = Checkpoints(None, None, None, Cadence(every=10, seconds=60))
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    last = unsigned_head(100, EMPTY_ROOT, now - timedelta(seconds=5))
    assert checkpoints.due(None, 1, now) and not checkpoints.due(None, 0, now)
    assert not checkpoints.due(last, 105, now) and checkpoints.due(last, 110, now)
    assert not checkpoints.due(last, 100, now + timedelta(hours=1))  # nothing new
    assert checkpoints.due(last, 101, now + timedelta(seconds=56))
    assert json.loads(last.line())["size"] == 100
