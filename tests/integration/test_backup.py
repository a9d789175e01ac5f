"""``towns backup`` and ``towns restore`` on SQLite and the real PostgreSQL: what they write and
put back, what they refuse, and ``towns audit verify`` on a restored log that is behind the
heads its witnesses hold."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.audit.evidence.checkpoints import Cadence, Checkpoints, setup_heads
from adapters.audit.evidence.heads import Signer
from adapters.audit.evidence.witnesses import Witnesses
from adapters.bootstrap import build_towns
from adapters.cli import main
from projections.audit import AuditTrail
from projections.registry import projections
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from tests.desk import Desk


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator:
    """Makes empty PostgreSQL databases (URLs, optionally ``?schema=``), dropped afterwards."""
    base = postgres_url.split("?", 1)[0].rsplit("/", 1)[0]
    made: list[str] = []

    def make(schema: str | None = None) -> str:
        name = f"towns_bk_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return f"{base}/{name}" + (f"?schema={schema}" if schema else "")

    yield make
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def env(monkeypatch, tmp_path: Path) -> dict[str, str]:
    """The environment of the commands: a signing key file and a witness folder, no RabbitMQ."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "signing.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    for name in ("TOWNS_AMQP_URL", "TOWNS_CONFIG", "TOWNS_PG_BIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOWNS_SIGNING_KEY", str(path))
    monkeypatch.setenv("TOWNS_WITNESS_DIR", str(tmp_path / "witness"))
    return {"key": str(path), "witness": str(tmp_path / "witness")}


def towns_cli(monkeypatch, capsys, url: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("TOWNS_DATABASE_URL", url)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


class History:
    """Applications sent through the ingest path, the audit view caught up and heads signed into
    the witness file of ``env`` every 5 records."""

    def __init__(self, config, url: str, key_file: str, witness: str) -> None:
        self.towns = build_towns(config, url)
        self.store = ViewStore(url)
        self.runner = ProjectionRunner(self.towns, self.store, projections())
        self.runner.setup()
        setup_heads(self.store)
        self.checkpoints = Checkpoints(self.store, Signer.load(key_file),
                                       Witnesses(witness, None), Cadence(every=5, seconds=3600))
        self.desk = Desk(self.towns, config)

    def grow(self, prefix: str, count: int) -> None:
        for i in range(count):
            self.desk.to_recommended(f"{prefix}-{i:03d}", ("shunde", "foshan")[i % 2])
            self.runner.catch_up(AuditTrail.name, batch=4)
            self.checkpoints.sign_if_due()
        self.runner.catch_up_all()
        self.checkpoints.sign_if_due(force=True)

    def close(self) -> None:
        self.store.close()
        self.towns.close()


def backup_then_more(config, url: str, env: dict, monkeypatch, capsys, file: Path) -> str:
    """A history, its backup, then more of it under heads of its own; the backup's output."""
    history = History(config, url, env["key"], env["witness"])
    try:
        history.grow("BK-A", 3)
        code, out, err = towns_cli(monkeypatch, capsys, url, "backup", str(file))
        assert code == 0, err
        history.grow("BK-B", 3)
    finally:
        history.close()
    return out


def target_of(store_url: str, tmp_path: Path, fresh_database) -> str:
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/restored-{uuid.uuid4().hex[:6]}.db"
    return fresh_database(store_url.split("schema=", 1)[1])


def test_a_restored_log_behind_its_witness_verifies_and_says_why(
        config, store_url, env, fresh_database, monkeypatch, capsys, tmp_path):
    file = tmp_path / "towns.backup"
    out = backup_then_more(config, store_url, env, monkeypatch, capsys, file)
    assert "the log up to position" in out and "messages applied" in out and file.stat().st_size
    witnessed = Path(env["witness"], "tree-heads.jsonl").read_text().count('"root"')

    # restored without telling the witnesses: the heads past the backup are missing records
    bare = target_of(store_url, tmp_path, fresh_database)
    code, out, err = towns_cli(monkeypatch, capsys, bare, "restore", str(file), "--no-witness")
    assert code == 0, err
    code, out, err = towns_cli(monkeypatch, capsys, bare, "audit", "verify")
    assert code == 1 and "truncated:" in out and "is missing" in err

    # restored as the service's database: marked, verified intact, the heads past it named
    target = target_of(store_url, tmp_path, fresh_database)
    code, out, err = towns_cli(monkeypatch, capsys, target, "restore", str(file))
    assert code == 0, err
    assert "the restore to" in out and "database.restore" in out
    code, out, err = towns_cli(monkeypatch, capsys, target, "audit", "verify", "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] is True, result["evidence"]["findings"]
    evidence = result["evidence"]
    assert len(evidence["restores"]) == 1 and evidence["superseded_heads"]
    assert evidence["heads_checked"] + len(evidence["superseded_heads"]) == witnessed
    assert all(h["size"] > evidence["restores"][0]["size"] for h in evidence["superseded_heads"])

    # and the restored log goes on under new heads, which verify too
    again = History(config, target, env["key"], env["witness"])
    try:
        again.grow("BK-C", 2)
    finally:
        again.close()
    code, out, err = towns_cli(monkeypatch, capsys, target, "audit", "verify")
    assert code == 0, out + err
    assert "heads beyond the restored log: " in out and "audit: intact" in out


def test_postgres_restore_refuses_a_target_that_holds_the_tables_unless_replace(
        config, env, fresh_database, monkeypatch, capsys, tmp_path):
    source = fresh_database()
    history = History(config, source, env["key"], env["witness"])
    try:
        history.grow("PG-A", 2)
    finally:
        history.close()
    file = tmp_path / "whole.dump"
    code, out, err = towns_cli(monkeypatch, capsys, source, "backup", str(file))
    assert code == 0, err
    assert "pg_dump --format=custom" in out
    assert file.read_bytes()[:5] == b"PGDMP"
    # the same file again: never overwritten
    code, _, err = towns_cli(monkeypatch, capsys, source, "backup", str(file))
    assert code == 1 and "never overwrites" in err
    # a database that holds the service's tables: refused, then replaced when asked
    code, _, err = towns_cli(monkeypatch, capsys, source, "restore", str(file))
    assert code == 1 and "already holds" in err and "--replace" in err
    code, out, err = towns_cli(monkeypatch, capsys, source, "restore", str(file), "--replace",
                               "--no-witness")
    assert code == 0, err
    # a whole-database backup into a schema URL, a missing database: refused
    code, _, err = towns_cli(monkeypatch, capsys, fresh_database("elsewhere"), "restore", str(file))
    assert code == 1 and "not elsewhere" in err
    missing = source.rsplit("/", 1)[0] + "/towns_bk_never_made"
    code, _, err = towns_cli(monkeypatch, capsys, missing, "restore", str(file))
    assert code == 1 and "createdb towns_bk_never_made" in err


def test_postgres_backup_of_a_schema_restores_into_that_schema(
        config, env, postgres_schema_url, fresh_database, monkeypatch, capsys, tmp_path):
    history = History(config, postgres_schema_url, env["key"], env["witness"])
    try:
        history.grow("SC-A", 2)
    finally:
        history.close()
    file = tmp_path / "schema.dump"
    assert towns_cli(monkeypatch, capsys, postgres_schema_url, "backup", str(file))[0] == 0
    schema = postgres_schema_url.split("schema=", 1)[1]
    code, out, err = towns_cli(monkeypatch, capsys, fresh_database(), "restore", str(file))
    assert code == 1 and f"?schema={schema}" in err
    target = fresh_database(schema)
    code, out, err = towns_cli(monkeypatch, capsys, target, "restore", str(file))
    assert code == 0, err
    with psycopg.connect(target.split("?")[0]) as conn:
        refs = {r for (r,) in conn.execute(
            f"SELECT application_ref FROM {schema}.application_summaries")}
    assert refs == {"SC-A-000", "SC-A-001"}


def test_a_missing_pg_dump_is_said(env, fresh_database, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TOWNS_PG_BIN", str(tmp_path))
    code, _, err = towns_cli(monkeypatch, capsys, fresh_database(), "backup", str(tmp_path / "x"))
    assert code == 1 and f"TOWNS_PG_BIN={tmp_path} holds no pg_dump" in err


def test_sqlite_restore_never_overwrites_and_checks_the_file(
        config, env, monkeypatch, capsys, tmp_path):
    source = f"sqlite:///{tmp_path}/source.db"
    history = History(config, source, env["key"], env["witness"])
    try:
        history.grow("SQ-A", 2)
    finally:
        history.close()
    file = tmp_path / "copy.db"
    code, out, err = towns_cli(monkeypatch, capsys, source, "backup", str(file))
    assert code == 0 and "SQLite's online backup" in out, err
    target = f"sqlite:///{tmp_path}/target.db"
    assert towns_cli(monkeypatch, capsys, target, "restore", str(file), "--no-witness")[0] == 0
    code, _, err = towns_cli(monkeypatch, capsys, target, "restore", str(file))
    assert code == 1 and "never overwrites" in err
    code, _, err = towns_cli(monkeypatch, capsys, target, "restore", str(file), "--replace")
    assert code == 1 and "--replace is for PostgreSQL" in err
    text = tmp_path / "not-a-backup.txt"
    text.write_text("hello")
    code, _, err = towns_cli(monkeypatch, capsys, f"sqlite:///{tmp_path}/t2.db", "restore", str(text))
    assert code == 1 and "is not a backup of towns" in err
    code, _, err = towns_cli(monkeypatch, capsys, f"sqlite:///{tmp_path}/none.db", "backup",
                             str(tmp_path / "none.backup"))
    assert code == 1 and "no database file" in err


def test_a_backup_of_one_kind_is_not_restored_into_the_other(
        config, env, fresh_database, monkeypatch, capsys, tmp_path):
    source = f"sqlite:///{tmp_path}/source.db"
    history = History(config, source, env["key"], env["witness"])
    try:
        history.grow("KD-A", 1)
    finally:
        history.close()
    file = tmp_path / "copy.db"
    assert towns_cli(monkeypatch, capsys, source, "backup", str(file))[0] == 0
    code, _, err = towns_cli(monkeypatch, capsys, fresh_database(), "restore", str(file))
    assert code == 1 and "is a sqlite backup" in err
