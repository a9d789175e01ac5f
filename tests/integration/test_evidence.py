"""Audit evidence that holds without trusting the database, on SQLite and PostgreSQL: the log's
Merkle tree in the audit view, signed heads written to a witness file, and verification that
believes the witness. Each attack an administrator of the database could make is caught, each
with its own finding; a rebuild of the audit view cannot launder one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.audit.verify import verify
from adapters.audit.evidence.checkpoints import Cadence, Checkpoints, setup_heads
from adapters.audit.evidence.heads import Signer, public_pem
from adapters.audit.evidence.proofs import add_evidence, application_proof, check_export
from adapters.audit.evidence.verify import rebuild_check
from adapters.audit.evidence.witnesses import FileWitness, Witnesses
from adapters.audit.export import export, write_json
from domain.applications import application_id
from domain.hashing import chain
from domain.merkle import verify_inclusion
from projections.audit import AuditTrail, log_link, state_digest
from projections.merkle import record_leaf
from projections.registry import projections
from projections.runner import ProjectionRunner, RebuildRefused
from projections.store import ViewStore
from tests.amqp_fixtures import rabbitmq  # noqa: F401 - fixture
from tests.desk import Desk
from tests.factories import CALL

ROOT = Path(__file__).resolve().parents[2]


class Log:
    """The event store's table, as an administrator with SQL sees it."""

    def __init__(self, towns) -> None:
        self.towns = towns
        recorder = towns.recorder
        self.postgres = hasattr(recorder, "datastore") and hasattr(recorder.datastore, "schema")
        if self.postgres:
            self.table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
            self.id = "notification_id"
        else:
            self.table, self.id = "stored_events", "rowid"

    def execute(self, sql: str, params: tuple = ()) -> list:
        if self.postgres:
            sql = sql.replace("?", "%s")
            with self.towns.recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(sql, params)
                rows = curs.fetchall() if curs.description else []
                conn.commit()
                return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]
        datastore = self.towns.recorder.datastore
        with datastore.transaction(commit=True) as curs:
            curs.execute(sql, params)
            return [tuple(r) for r in curs.fetchall()]

    def ids(self) -> list[int]:
        return [r[0] for r in self.execute(f"SELECT {self.id} FROM {self.table} ORDER BY 1")]

    def set_state(self, nid: int, state: bytes) -> None:
        self.execute(f"UPDATE {self.table} SET state = ? WHERE {self.id} = ?", (state, nid))

    def delete(self, nids: list[int]) -> None:
        for nid in nids:
            self.execute(f"DELETE FROM {self.table} WHERE {self.id} = ?", (nid,))

    def move(self, nid: int, to: int) -> None:
        self.execute(f"UPDATE {self.table} SET {self.id} = ? WHERE {self.id} = ?", (to, nid))

    def swap(self, a: int, b: int) -> None:
        self.move(a, -1)
        self.move(b, a)
        self.move(-1, b)

    def insert_after(self, k: int, copy_of: int) -> None:
        """Shifts every record after ``k`` one place on and puts a copy of ``copy_of`` (as a
        new version of its aggregate) at ``k + 1``."""
        for nid in sorted((i for i in self.ids() if i > k), reverse=True):
            self.move(nid, nid + 1)
        origin, version, topic, state = self.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {self.table} WHERE "
            f"{self.id} = ?", (copy_of if copy_of <= k else copy_of + 1,))[0]
        columns = "originator_id, originator_version, topic, state, " + self.id
        self.execute(f"INSERT INTO {self.table} ({columns}) VALUES (?, ?, ?, ?, ?)",
                     (origin, version + 1000, topic, state, k + 1))


@pytest.fixture
def world(towns, config, store_url, tmp_path):
    """A history under signed heads in a witness file (a head every 7 records)."""
    store = ViewStore(store_url)
    runner = ProjectionRunner(towns, store, projections())
    runner.setup()
    setup_heads(store)
    signer = Signer(Ed25519PrivateKey.generate())
    witnesses = Witnesses(str(tmp_path / "witness"), None)
    checkpoints = Checkpoints(store, signer, witnesses, Cadence(every=7, seconds=3600))
    desk = Desk(towns, config)
    for i, city in enumerate(("shunde", "foshan", "guangzhou", "shunde")):
        ref = f"EV-2017-{i:03d}"
        desk.to_recommended(ref, city)
        runner.catch_up(AuditTrail.name, batch=5)
        checkpoints.sign_if_due()
    checkpoints.sign_if_due(force=True)
    keys = {signer.key_id: signer.public}
    yield towns, runner, checkpoints, witnesses, keys, Log(towns), tmp_path
    store.close()


def check(towns, runner, witnesses, keys) -> dict:
    return verify(towns, runner, (witnesses, keys))


def kinds(result: dict) -> list[str]:
    return [f["kind"] for f in result["evidence"]["findings"]]


def app_records(log: Log, ref: str, city: str = "shunde") -> list[tuple]:
    app = str(application_id(CALL, ref))
    if not log.postgres:
        app = app.replace("-", "")
    return log.execute(f"SELECT {log.id}, originator_version, state FROM {log.table} WHERE "
                       "originator_id = ? ORDER BY originator_version", (app,))


def test_an_untouched_log_agrees_with_its_witnessed_heads(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    result = check(towns, runner, witnesses, keys)
    evidence = result["evidence"]
    assert result["ok"] is True and evidence["ok"] is True
    assert evidence["signed"] and evidence["heads_checked"] >= 3
    assert evidence["latest_head"]["size"] == len(log.ids())
    assert evidence["unwitnessed_records"] == 0 and evidence["findings"] == []


def _rewrite_with_recomputed_chains(towns, runner, log: Log, ref: str) -> int:
    """The administrator's attack: a new town name in the submission's payload, every hash of
    the application's chain recomputed after it, and every log-chain and checkpoint value the
    audit view holds recomputed from the changed bytes. Answers the changed record's position."""
    records = app_records(log, ref)
    previous, hashes = None, {}
    for nid, version, state in records:
        event = towns.mapper.to_domain_event(_stored(towns, log, nid))
        if version == 1:
            event.data["town_name"] = "Forged Town"
        if previous is not None:
            object.__setattr__(event, "prev_hash", previous)
        object.__setattr__(event, "hash", chain(event.prev_hash, event.content()))
        previous = event.hash
        log.set_state(nid, towns.mapper.to_stored_event(event).state)
        hashes[nid] = (event.hash, event.prev_hash)
    # the log chain and its checkpoints, as stored in the audit view, recomputed
    names = AuditTrail().live_names()
    with runner.store.transaction() as tx:
        rows = tx.all(f"SELECT position, seq, topic FROM {names['audit_chain']} ORDER BY seq")
        link = None
        from domain.hashing import GENESIS

        link = GENESIS
        states = {n.id: n.state for n in towns.recorder.select_notifications(0, 100_000)}
        for position, (new_hash, new_prev) in hashes.items():
            tx.execute(f"UPDATE {names['audit_events']} SET hash = ?, prev_hash = ? WHERE "
                       "position = ?", (new_hash, new_prev, position))
        for position, seq, topic in rows:
            sha = state_digest(states[position])
            link = log_link(link, position, topic, sha)
            tx.execute(f"UPDATE {names['audit_chain']} SET state_sha256 = ?, chain_hash = ? "
                       "WHERE position = ?", (sha, link, position))
            tx.execute(f"UPDATE {names['audit_checkpoints']} SET chain_hash = ? WHERE "
                       "position = ?", (link, position))
    return records[0][0]


def _stored(towns, log: Log, nid: int):
    found = [n for n in towns.recorder.select_notifications(nid, 1) if n.id == nid]
    return found[0]


def test_the_administrators_rewrite_is_named_and_its_rebuild_refused(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    position = _rewrite_with_recomputed_chains(towns, runner, log, "EV-2017-000")
    runner.switch_checks[AuditTrail.name] = rebuild_check(witnesses, keys)
    with pytest.raises(RebuildRefused, match="do not give the root"):
        runner.rebuild(AuditTrail.name)
    result = check(towns, runner, witnesses, keys)
    # the hash chains, all recomputed, hold: only the witnessed tree tells
    assert result["first_break"] is None and result["breaks"] == []
    assert result["ok"] is False and set(kinds(result)) == {"rewritten"}
    difference = result["evidence"]["first_difference"]
    assert difference["position"] == position == difference["witnessed_position"]
    assert difference["head_size"] >= difference["record"]


def test_a_rebuild_without_the_guard_does_not_launder_the_rewrite(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    _rewrite_with_recomputed_chains(towns, runner, log, "EV-2017-001")
    runner.rebuild(AuditTrail.name)  # no check: the view's tree is recomputed too
    result = check(towns, runner, witnesses, keys)
    assert result["ok"] is False and "rewritten" in kinds(result)
    assert result["evidence"]["first_difference"]["record"] is None  # a range, not a record
    rewritten = [f for f in result["evidence"]["findings"] if f["kind"] == "rewritten"]
    assert "does not reproduce it either" in rewritten[0]["message"]
    # and the view's rebuilt tree no longer extends the heads it once made
    assert "inconsistent_heads" in kinds(result)


def test_the_last_records_deleted_are_missing(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    ids = log.ids()
    log.delete(ids[-10:])
    result = check(towns, runner, witnesses, keys)
    assert result["ok"] is False and kinds(result)[0] == "truncated"
    assert result["evidence"]["first_difference"]["record"] == len(ids) - 9
    assert f"record {len(ids) - 9} " in result["evidence"]["findings"][0]["message"]


def test_two_records_swapped_are_named(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    ids = log.ids()
    log.swap(ids[4], ids[9])
    result = check(towns, runner, witnesses, keys)
    assert result["ok"] is False and "rewritten" in kinds(result)
    difference = result["evidence"]["first_difference"]
    assert (difference["record"], difference["witnessed_position"]) == (5, ids[4])


def test_a_record_inserted_in_the_middle_is_named(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    ids = log.ids()
    log.insert_after(ids[11], ids[3])
    result = check(towns, runner, witnesses, keys)
    assert result["ok"] is False and "rewritten" in kinds(result)
    assert result["evidence"]["first_difference"]["record"] == 13
    assert result["evidence"]["first_difference"]["position"] == ids[11] + 1


def test_a_head_forged_with_another_key_is_refused(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    forger = Signer(Ed25519PrivateKey.generate())
    from domain.merkle import EMPTY_ROOT

    FileWitness(witnesses.file.folder).append(forger.head(len(log.ids()), EMPTY_ROOT))
    result = check(towns, runner, witnesses, keys)
    assert result["ok"] is False and kinds(result) == ["bad_signature"]
    assert "not a key the verifier trusts" in result["evidence"]["findings"][0]["message"]


def test_an_edited_witness_line_is_refused(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    path = witnesses.file.path
    lines = path.read_text().splitlines()
    head = json.loads(lines[1])
    head["root"] = ("0" if head["root"][0] != "0" else "1") + head["root"][1:]
    lines[1] = json.dumps(head, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    result = check(towns, runner, witnesses, keys)
    assert result["ok"] is False and kinds(result) == ["bad_signature"]
    assert "entry 2" in result["evidence"]["findings"][0]["message"]
    assert "does not verify" in result["evidence"]["findings"][0]["message"]


def test_proofs_of_an_application_verify_against_the_latest_head(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    found = application_proof(runner.store, application_id(CALL, "EV-2017-002"))
    head = found["tree_head"]
    records = {n.id: n for n in towns.recorder.select_notifications(0, 10_000)}
    assert [i["version"] for i in found["items"]] == [1, 2, 3]
    for item in found["items"]:
        n = records[item["position"]]
        leaf = record_leaf(n.id, n.topic, n.originator_id, n.originator_version,
                           state_digest(n.state))
        assert verify_inclusion(leaf, item["leaf_index"], head["size"],
                                [bytes.fromhex(p) for p in item["proof"]], bytes.fromhex(head["root"]))


def test_an_export_verifies_offline_and_any_changed_byte_fails_both_checkers(world):
    towns, runner, checkpoints, witnesses, keys, log, tmp_path = world
    trail = add_evidence(export(towns, runner, CALL), towns, runner.store, checkpoints)
    path, key = tmp_path / "export.json", tmp_path / "public.pem"
    with open(path, "w", encoding="utf-8") as out:
        write_json(trail, out)
    key.write_text(public_pem(checkpoints.signer.public))
    raw = path.read_bytes()
    assert check_export(raw, checkpoints.signer.public) is None
    assert _script(path, key) == 0
    step = max(1, len(raw) // 40)
    for i in list(range(0, len(raw), step)) + [len(raw) - 1]:
        changed = bytearray(raw)
        changed[i] = (changed[i] + 1) % 256
        path.write_bytes(bytes(changed))
        assert check_export(bytes(changed), checkpoints.signer.public) is not None, i
        assert _script(path, key) == 1, i


def _script(path: Path, key: Path) -> int:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "check_export.py"), str(path),
                           str(key)], capture_output=True, timeout=60).returncode


# -- the RabbitMQ stream witness ----------------------------------------------------------------


@pytest.fixture
def stream_vhost(rabbitmq):
    from tests.integration.rabbit import own_vhost

    with own_vhost("towns-evidence") as broker:
        yield broker


def test_heads_go_to_the_stream_and_a_split_view_between_witnesses_is_found(
        world, stream_vhost, tmp_path):
    from adapters.audit.evidence.witnesses import StreamWitness

    towns, runner, checkpoints, witnesses, keys, log, _ = world
    stream = StreamWitness(stream_vhost.url)
    file_heads = [head for _, head in witnesses.file.read().heads]
    for head in file_heads:
        stream.append(head)
    both = Witnesses(str(witnesses.file.folder), stream_vhost.url)
    assert [h for _, h in stream.read().heads] == file_heads  # in order, whole
    result = check(towns, runner, both, keys)
    assert result["ok"] is True
    assert {w["name"]: w["heads"] for w in result["evidence"]["witnesses"]} == {
        "file": len(file_heads), "stream": len(file_heads)}
    # the signing key shows the stream another tree at the last size: both signatures verify
    signer = checkpoints.signer
    forked = signer.head(file_heads[-1].size, bytes(32))
    stream.append(forked)
    result = check(towns, runner, both, keys)
    assert result["ok"] is False and "witnesses_disagree" in kinds(result)


# -- over HTTP ----------------------------------------------------------------------------------


def test_heads_proofs_and_evidence_over_http_for_the_province_and_auditors(world, config):
    from adapters.http import create_app

    towns, runner, checkpoints, witnesses, keys, log, _ = world
    client = create_app(towns, config, runner).test_client()
    auth = {"Authorization": "Bearer demo-auditor"}
    first = client.get("/api/v1/audit/heads?limit=2", headers=auth)
    assert first.status_code == 200, first.json
    rest = client.get(f"/api/v1/audit/heads?limit=100&cursor={first.json['next_cursor']}",
                      headers=auth)
    sizes = [h["size"] for h in first.json["items"] + rest.json["items"]]
    assert sizes == sorted(sizes) and len(sizes) >= 3 and rest.json["next_cursor"] is None
    assert sizes == [h.size for _, h in witnesses.file.read().heads]
    proof = client.get(f"/api/v1/audit/proof?call_id={CALL}&application_ref=EV-2017-001",
                       headers=auth)
    assert proof.status_code == 200 and proof.json["tree_head"]["size"] == sizes[-1]
    assert all(item["proof"] is not None for item in proof.json["items"])
    missing = client.get(f"/api/v1/audit/proof?call_id={CALL}&application_ref=EV-NONE",
                         headers=auth)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "unknown_application"
    evidence = client.get("/api/v1/audit/evidence", headers=auth)
    assert evidence.status_code == 200 and evidence.json["signed"] is True
    assert evidence.json["latest_head"]["size"] == sizes[-1]
    for token, status in (("demo-operator", 403), ("demo-shunde-city", 403), (None, 401)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for path in ("/api/v1/audit/heads", "/api/v1/audit/evidence",
                     f"/api/v1/audit/proof?call_id={CALL}&application_ref=EV-2017-001"):
            assert client.get(path, headers=headers).status_code == status, (token, path)


def test_a_record_the_audit_view_cannot_read_stays_in_its_chain_and_tree(world, config):
    """Only its row is set aside: the tree the heads sign is the log's whole, so the witnesses
    still agree with the log, and the damage shows as the break it is."""
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    Desk(towns, config).submit("EV-2017-099")
    damaged = log.ids()[-2]  # the submission (the last record is its inbox marker)
    log.set_state(damaged, b'{"not": "an event"')
    runner.catch_up(AuditTrail.name)
    checkpoints.sign_if_due(force=True)
    [aside] = runner.set_aside([AuditTrail.name])
    assert aside.position == damaged
    with runner.store.transaction() as tx:
        assert tx.one("SELECT leaf FROM audit_chain WHERE position = ?", (damaged,))[0]
    result = check(towns, runner, witnesses, keys)
    assert result["evidence"]["ok"] is True and result["evidence"]["findings"] == []
    assert result["ok"] is False and result["first_break"]["position"] == damaged


def test_a_witness_out_of_reach_is_said_and_the_others_still_answer(world):
    towns, runner, checkpoints, witnesses, keys, log, _ = world
    both = Witnesses(str(witnesses.file.folder), "amqp://guest:guest@127.0.0.1:1/%2F")
    result = check(towns, runner, both, keys)
    assert result["ok"] is True and result["evidence"]["heads_checked"] >= 3
    assert any("cannot be read" in m for m in result["evidence"]["missing_witnesses"])
    assert {w["name"]: w["available"] for w in result["evidence"]["witnesses"]} == {
        "file": True, "stream": False}
