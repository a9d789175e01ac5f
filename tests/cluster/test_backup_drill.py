"""The backup drill: ``towns backup`` of a database the consumer is writing, ``towns restore``
into a fresh one, and upstream's resend of the whole stream after it.

On a fresh PostgreSQL database and a fresh RabbitMQ vhost, ``towns consume`` takes a stream of
life cycles (submitted → withdrawn, returned → resubmitted → recommended, verified → rejected,
and whole ones up to approved) while ``towns worker`` catches up the read models and signs tree
heads every 500 records into a witness file and the stream ``towns.checkpoints``. Mid-stream,
while the consumer goes on, ``towns backup`` writes the database to a file. Once everything is
consumed the file is restored into another fresh database, where:

* ``towns audit verify`` exits 0: the heads witnessed up to the backup still verify, and those
  signed after it for a longer log are reported as beyond the restored log, not as a break;
* ``towns projections rebuild`` (the audit view's rebuild checked against the witnesses) gives
  the read models the backup holds, caught up, and the states the original log had at the
  backup's point;
* the consumer and the worker start on it and the whole stream is published again: the messages
  after the backup's point are applied once each, those before it are counted as duplicates,
  and the applications end as in the original run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.request import urlopen

import psycopg
import pytest

from adapters.amqp.topology import DEAD_QUEUE
from adapters.bootstrap import build_towns
from adapters.config import load_config
from domain.applications import application_id
from domain.inbox import InboxMessage
from tests.factories import CALL, envelope
from tests.integration.rabbit import (  # noqa: F401 - fixtures
    ROOT, Message, Rabbit, consumers, eventually, message, rabbit)
from tests.integration.worker_processes import WorkerProcess

CITIES = ["guangzhou", "shenzhen", "zhuhai", "foshan", "shunde", "huizhou", "dongguan", "zhongshan"]
APPLICANT, CITY, PROVINCE = "applicant", "city", "province"
PATHS = {  # the life cycle of application i, by i % 5
    0: [("application.submitted", APPLICANT), ("application.withdrawn", APPLICANT)],
    1: [("application.submitted", APPLICANT), ("application.returned", CITY),
        ("application.resubmitted", APPLICANT), ("application.city_verified", CITY),
        ("application.recommended", CITY)],
    2: [("application.submitted", APPLICANT), ("application.city_verified", CITY),
        ("application.rejected", CITY)],
}
WHOLE = [("application.submitted", APPLICANT), ("application.city_verified", CITY),
         ("application.recommended", CITY), ("materials.received", PROVINCE),
         ("application.evaluated", PROVINCE), ("application.approved", PROVINCE)]
FINAL = {0: "withdrawn", 1: "recommended", 2: "rejected"}
APPS = 800
HELD_BACK = 100  # messages published only after the backup has finished


def stream(apps: int = APPS, chunk: int = 100) -> list[Message]:
    """Life cycles of ``apps`` applications, ``chunk`` of them at a time step by step."""
    out: list[Message] = []
    for start in range(0, apps, chunk):
        group = range(start, min(start + chunk, apps))
        for step in range(len(WHOLE)):
            for i in group:
                path = PATHS.get(i % 5, WHOLE)
                if step < len(path):
                    out.append(_message(i, *path[step]))
    return out


def _message(i: int, type_: str, role: str) -> Message:
    city, ref = CITIES[i % len(CITIES)], f"BK-{i:04d}"
    track = "industrial" if i % 2 else "application"
    mid = f"{ref}/{type_}"
    user = "province" if role == PROVINCE else f"{city}-{role}"
    return message(envelope(type_, ref, city, track, message_id=mid), user)


# -- fresh databases, the environment of the service ------------------------------------------


@pytest.fixture
def databases(postgres_url: str):
    """Makes fresh PostgreSQL databases (their URLs), dropped afterwards."""
    admin = postgres_url.split("?", 1)[0].rsplit("/", 1)[0] + "/postgres"
    made: list[str] = []

    def make(role: str) -> str:
        name = f"towns_drill_{role}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return f"{admin.rsplit('/', 1)[0]}/{name}"

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def service_env(tmp_path: Path, rabbit: Rabbit) -> dict[str, str]:
    """What every process of the drill shares: a call whose cutoff is far ahead (so that no
    deadline check lapses anything mid-drill), a signing key, a witness folder, RabbitMQ."""
    shipped = (ROOT / "adapters" / "towns.toml").read_text(encoding="utf-8")
    config = tmp_path / "towns.toml"
    config.write_text(re.sub(r'cutoff = "2017-03-30T23:59:59\+08:00"',
                             'cutoff = "2099-03-30T23:59:59+08:00"', shipped), encoding="utf-8")
    key = tmp_path / "signing.pem"
    subprocess.run([sys.executable, "-m", "adapters.cli", "audit", "keygen", str(key)],
                   cwd=ROOT, check=True, capture_output=True)
    return {"TOWNS_CONFIG": str(config), "TOWNS_SIGNING_KEY": str(key),
            "TOWNS_WITNESS_DIR": str(tmp_path / "witness"), "TOWNS_AMQP_URL": rabbit.url,
            "TOWNS_HEAD_EVERY": "500", "TOWNS_HEAD_SECONDS": "2"}


def towns(env: dict[str, str], database: str, *args: str) -> subprocess.CompletedProcess:
    """``towns ARGS`` as a process on ``database``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    environment.update(env, TOWNS_DATABASE_URL=database)
    done = subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=600)
    print(f"$ towns {' '.join(args)}  → exit {done.returncode}\n{done.stdout}{done.stderr}")
    return done


def start_worker(env: dict[str, str], database: str, log: Path) -> WorkerProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    environment.update(env, TOWNS_DATABASE_URL=database, PYTHONUNBUFFERED="1")
    return WorkerProcess(environment, log, tick=1.0)


# -- reading a database -----------------------------------------------------------------------


def scalar(database: str, query: str, *params):
    with psycopg.connect(database) as conn:
        return conn.execute(query, params or None).fetchone()[0]


def applied(database: str) -> int:
    """Messages applied (0 before the consumer has made its tables)."""
    try:
        return scalar(database, "SELECT count(*) FROM towns_events WHERE topic = %s",
                      InboxMessage.Applied.TOPIC)
    except psycopg.errors.UndefinedTable:
        return 0


def caught_up(database: str) -> bool:
    head = scalar(database, "SELECT coalesce(max(notification_id), 0) FROM towns_events")
    low = scalar(database, "SELECT min(position) FROM projection_positions "
                           "WHERE right(name, 6) <> '__next'")
    return low == head


def statuses(database: str) -> dict[str, tuple[str, int]]:
    """application_ref → (status, version) from the summaries read model."""
    with psycopg.connect(database) as conn:
        return {r: (s, v) for r, s, v in conn.execute(
            "SELECT application_ref, status, version FROM application_summaries")}


def views(database: str) -> dict[str, list[tuple]]:
    """The rows of the read models that fold application events, in a fixed order."""
    queries = {
        "summaries": "SELECT app_id, application_ref, status, version, criteria_outcome, score, "
                     "deadline_outcome, position, state FROM application_summaries ORDER BY 1",
        "deadline_report": "SELECT app_id, status, deadline_outcome, materials_received_at, "
                           "detail, position FROM deadline_report ORDER BY 1",
        "pipeline": "SELECT call_id, city, status, count FROM pipeline_counts "
                    "WHERE count <> 0 ORDER BY 1, 2, 3",
    }
    with psycopg.connect(database) as conn:
        return {name: conn.execute(q).fetchall() for name, q in queries.items()}


def states_at(database: str, config_path: str, position: int) -> dict[str, tuple[str, int]]:
    """application_ref → (status, version) as the log of ``database`` had them at ``position``:
    each application replayed from its events up to there."""
    with psycopg.connect(database) as conn:
        last = dict(conn.execute("SELECT originator_id, max(originator_version) FROM towns_events "
                                 "WHERE notification_id <= %s GROUP BY originator_id",
                                 (position,)).fetchall())
    app = build_towns(load_config(config_path), database)
    try:
        out = {}
        for i in range(APPS):
            ref = f"BK-{i:04d}"
            version = last.get(application_id(CALL, ref))
            if version is not None:
                found = app.repository.get(application_id(CALL, ref), version=version)
                out[ref] = (found.status, version)
        return out
    finally:
        app.close()


LAST_METRICS = [""]


def ingested(port: int) -> Counter:
    """The consumer's ``towns_ingest_messages_total`` by outcome, scraped from its metrics."""
    text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    LAST_METRICS[0] = text
    counts: Counter = Counter()
    for line in text.splitlines():
        found = re.match(r'towns_ingest_messages_total\{(.*)\} ([0-9.e+]+)$', line)
        if found:
            outcome = re.search(r'outcome="([^"]+)"', found[1])[1]
            counts[outcome] += int(float(found[2]))
    return counts


def refusals(text: str) -> Counter:
    """The refusals counted in a metrics page, by code."""
    counts: Counter = Counter()
    for m in re.finditer(r'towns_ingest_messages_total\{code="([^"]+)",outcome="refused"[^}]*\} '
                         r'([0-9.e+]+)', text):
        counts[m[1]] += int(float(m[2]))
    return counts


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the drill --------------------------------------------------------------------------------


def test_backup_mid_stream_restore_and_resend(rabbit: Rabbit, consumers, databases, service_env,
                                              tmp_path: Path):
    messages = stream()
    total = len(messages)
    expected_final = {f"BK-{i:04d}": FINAL.get(i % 5, "approved") for i in range(APPS)}
    assert total > 3000
    original, restored = databases("original"), databases("restored")
    settings = {**service_env, "TOWNS_BATCH_SIZE": 20}

    # Given the consumer and a worker on a fresh database, and the stream coming in
    first_port = free_port()
    consumer = consumers.start(rabbit.url, original, **settings, TOWNS_METRICS_PORT=first_port)
    worker = start_worker(service_env, original, tmp_path / "worker-original.log")
    try:
        rabbit.publish_all(messages[: total * 2 // 3])
        eventually(lambda: applied(original) >= total // 4, 120, 0.05, "a quarter applied")
        # When a backup is taken while the consumer goes on consuming
        backup = tmp_path / "towns.dump"
        before = applied(original)
        started = time.monotonic()
        taking = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "backup", str(backup)], cwd=ROOT,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")},
                 **service_env, "TOWNS_DATABASE_URL": original},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # the rest of the stream meanwhile, but its last messages only once the backup is done:
        # however slow the backup on a busy machine, its point falls before the stream's end
        rabbit.publish_all(messages[total * 2 // 3: -HELD_BACK])
        out, err = taking.communicate(timeout=300)
        took = time.monotonic() - started
        after = applied(original)
        rabbit.publish_all(messages[-HELD_BACK:])
        print(f"$ towns backup → exit {taking.returncode} in {took:.2f}s\n{out}{err}")
        assert taking.returncode == 0
        point = re.search(r"the log up to position (\d+): ([\d,]+) records, ([\d,]+) messages "
                          r"applied", out)
        position, records, backed_up = (int(point[i].replace(",", "")) for i in (1, 2, 3))
        assert before <= backed_up <= after <= total - HELD_BACK, "the backup was not mid-stream"
        # and the rest is consumed, the read models caught up and the last head signed
        eventually(lambda: applied(original) == total and rabbit.outstanding() == 0, 300, 0.5,
                   "every message applied on the original")
        eventually(lambda: caught_up(original), 120, 0.5, "the original's read models caught up")
        first_run = ingested(first_port)
        witness = Path(service_env["TOWNS_WITNESS_DIR"]) / "tree-heads.jsonl"
        head_count = scalar(original, "SELECT count(*) FROM towns_events")
        eventually(lambda: f'"size":{head_count},' in witness.read_text(), 60, 0.5,
                   "a head of the whole original log witnessed")
    finally:
        consumer.stop()
        assert worker.stop() == 0, worker.log()[-5000:]
    final_original = statuses(original)
    assert {r: s for r, (s, _) in final_original.items()} == expected_final
    heads_before = witness.read_text().count('"root"')
    beyond = [int(s) for s in re.findall(r'"size":(\d+),"time"', witness.read_text())
              if int(s) > records]
    assert beyond, "no head was witnessed beyond the backup's point"
    size = backup.stat().st_size
    print(f"backup: {size} bytes of {records} records ({backed_up} messages applied) in "
          f"{took:.2f}s; {heads_before} heads witnessed, {len(beyond)} beyond the backup")

    # Then the backup restores into a fresh database, and the audit holds
    done = towns(service_env, restored, "restore", str(backup), "--reason", "backup drill")
    assert done.returncode == 0
    assert f"the log up to position {position}: {records:,} records" in done.stdout
    assert towns(service_env, restored, "restore", str(backup)).returncode == 1  # not empty now
    verified = towns(service_env, restored, "audit", "verify")
    assert verified.returncode == 0
    assert "heads beyond the restored log: " in verified.stdout
    assert re.search(rf"the log's first \d+ records agree with the witnessed heads", verified.stdout)
    assert "audit: intact" in verified.stdout

    # and the read models it holds, caught up, equal those rebuilt from zero, and the states
    # the original log had at the backup's point
    assert towns(service_env, restored, "projections", "status").returncode == 0
    from adapters.bootstrap import build_runner

    config_path = service_env["TOWNS_CONFIG"]
    app = build_towns(load_config(config_path), restored)
    runner = build_runner(app, restored)
    try:
        runner.catch_up_all()  # the read models the backup holds, caught up with its log
    finally:
        runner.store.close()
        app.close()
    as_backed_up = views(restored)
    assert towns(service_env, restored, "projections", "rebuild", "--reason", "drill").returncode == 0
    assert views(restored) == as_backed_up
    at_backup = states_at(original, config_path, position)
    assert len(at_backup) == len(statuses(restored)) > 0
    assert statuses(restored) == at_backup

    # When the service starts on the restored database and upstream resends the whole stream
    port = free_port()
    consumer = consumers.start(rabbit.url, restored, **settings, TOWNS_METRICS_PORT=port)
    worker = start_worker(service_env, restored, tmp_path / "worker-restored.log")
    try:
        rabbit.publish_all(messages)
        eventually(lambda: applied(restored) == total and rabbit.outstanding() == 0, 300, 0.5,
                   "every message applied on the restored database")
        seen: list[Counter] = []
        eventually(lambda: seen.append(ingested(port)) or sum(seen[-1].values()) >= total, 60, 0.5,
                   f"every message counted by the consumer's metrics (last: {seen[-1:]})")
        counted = seen[-1]
        eventually(lambda: caught_up(restored), 120, 0.5, "the restored read models caught up")
    finally:
        consumer.stop()
        assert worker.stop() == 0, worker.log()[-5000:]
    # Then what the backup held was a duplicate, the rest was applied exactly once
    print(f"original run: {dict(first_run)}; resent {total}: {dict(counted)}")
    assert counted["duplicate"] == backed_up and counted["applied"] == total - backed_up
    # a resent message may first be tried on the consumer's cached state, where its
    # application has moved past it (invalid_transition), before it is found a duplicate or
    # applied: such tries are counted as refused, and none is dead-lettered
    assert set(refusals(LAST_METRICS[0])) <= {"invalid_transition"}
    assert rabbit.depth(DEAD_QUEUE) == 0, "a message was dead-lettered"
    with psycopg.connect(restored) as conn:
        markers = Counter(conn.execute(
            "SELECT originator_id FROM towns_events WHERE topic = %s",
            (InboxMessage.Applied.TOPIC,)).fetchall())
    assert len(markers) == total and set(markers.values()) == {1}
    # and every application ends as in the original run, with the same history
    assert statuses(restored) == final_original
    config = load_config(config_path)
    app_o, app_r = build_towns(config, original), build_towns(config, restored)
    try:
        for i in range(0, APPS, 7):
            ref = f"BK-{i:04d}"
            ids = [[(e.EVENT_TYPE, e.message_id) for e in a.stored_events(
                application_id(CALL, ref))] for a in (app_o, app_r)]
            assert ids[0] == ids[1] and len(ids[0]) == len(PATHS.get(i % 5, WHOLE)), ref
    finally:
        app_o.close()
        app_r.close()
    # and the audit of the restored log, with its new heads, still holds
    assert towns(service_env, restored, "audit", "verify").returncode == 0
