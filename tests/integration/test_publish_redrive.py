"""`towns publish` and `towns dead-letters list/requeue` against the real RabbitMQ (an isolated
vhost for this module) and, for dead letters, the real consumer on a fresh PostgreSQL schema."""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pika
import pytest

from adapters.amqp import topology as t
from adapters.amqp.publisher import Outgoing, Publisher
from adapters.amqp.publishing import publish
from adapters.inbound.batch import SHIPPED_BATCH
from adapters.bootstrap import build_towns
from adapters.config import load_config
from adapters.store.inbound_records import InboundRecords
from domain.inbound import dead_letter_id
from tests.amqp_fixtures import Vhost, amqp_vhost, eventually, fresh_topology, rabbitmq  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = r"^published (\d+): confirmed (\d+), returned (\d+), failed (\d+)"


def towns(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {})}
    full.pop("TOWNS_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)


def summary(out: str) -> tuple[int, int, int, int]:
    import re

    match = re.search(SUMMARY, out, re.M)
    assert match, out
    return tuple(int(g) for g in match.groups())


def demo_envelope(principal: str, kind: str) -> dict:
    """An envelope of the shipped batch sent by ``principal``, with a fresh message_id."""
    for line in SHIPPED_BATCH.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        envelope = item.get("envelope")
        if item.get("principal") == principal and envelope and envelope["type"] == kind:
            return {**envelope, "message_id": f"test-{uuid.uuid4().hex}"}
    raise AssertionError(f"no {kind} by {principal} in the shipped batch")


def write_batch(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


# -- publish ---------------------------------------------------------------------------------


def test_publish_sends_each_line_as_its_principal_on_a_fresh_broker(fresh_topology: Vhost, tmp_path):
    vhost = fresh_topology
    submitted = demo_envelope("guangzhou-applicant", "application.submitted")
    verified = demo_envelope("guangzhou-city", "application.city_verified")
    materials = demo_envelope("province", "materials.received")
    audited = demo_envelope("province", "application.approved")
    stranger = demo_envelope("province", "application.evaluated")
    batch = write_batch(tmp_path / "batch.jsonl", [
        {"principal": "guangzhou-applicant", "envelope": submitted},
        {"principal": "guangzhou-city", "envelope": verified},
        {"control": "deadline_check", "call_id": "GD-ITOWN-2017-B2", "as_of": "2017-03-31T23:59:59+08:00"},
        materials,  # a bare envelope: sent as the one principal that may act as its actor
        {"principal": "guangzhou-city", "raw": "{not json"},
        {"principal": "auditor", "envelope": audited},  # no amqp_user: the connecting user
        {"principal": "nobody-configured", "envelope": stranger},
    ])

    result = towns("publish", str(batch), "--url", vhost.gateway_url)

    assert result.returncode == 0, result.stderr
    assert summary(result.stdout) == (6, 6, 0, 0)
    assert "skipped 1 control line" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1
    got = vhost.take_all(t.QUEUE)
    seen = [(m.routing_key, p.message_id, p.user_id, p.delivery_mode, p.content_type)
            for m, p, _ in got]
    gateway = vhost.gateway_user
    assert seen == [
        ("application.submitted", submitted["message_id"], "guangzhou-applicant", 2, "application/json"),
        ("application.city_verified", verified["message_id"], "guangzhou-city", 2, "application/json"),
        ("materials.received", materials["message_id"], "province", 2, "application/json"),
        ("unknown", None, "guangzhou-city", 2, "application/json"),
        ("application.approved", audited["message_id"], gateway, 2, "application/json"),
        ("application.evaluated", stranger["message_id"], gateway, 2, "application/json"),
    ]
    assert json.loads(got[0][2]) == submitted
    assert got[3][2] == b"{not json"
    assert all(m.exchange == t.EXCHANGE for m, _, _ in got)


def test_publish_as_another_user_needs_the_impersonator_tag(fresh_topology: Vhost, tmp_path):
    batch = write_batch(tmp_path / "batch.jsonl", [
        {"principal": "guangzhou-applicant", "envelope": demo_envelope("guangzhou-applicant", "application.submitted")},
    ])

    result = towns("publish", str(batch), "--url", fresh_topology.service_url)  # guest: no tag

    assert result.returncode == 1
    published, confirmed, returned, failed = summary(result.stdout)
    assert (confirmed, returned) == (0, 0) and failed == published == 1
    assert "impersonator" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unroutable_messages_are_counted_as_returned(fresh_topology: Vhost, tmp_path):
    vhost = fresh_topology
    with vhost.channel() as channel:
        t.declare(channel)
        channel.queue_delete(t.QUEUE)  # the exchange stays, with nothing bound
    batch = write_batch(tmp_path / "batch.jsonl", [
        {"principal": "province", "envelope": demo_envelope("province", "materials.received")}
        for _ in range(3)
    ])

    result = towns("publish", str(batch), "--url", vhost.gateway_url)

    assert result.returncode == 1
    assert summary(result.stdout) == (3, 0, 3, 0)
    assert "unroutable" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_publish_without_a_url_fails_in_one_line(tmp_path):
    batch = write_batch(tmp_path / "batch.jsonl", [])
    result = towns("publish", str(batch), env={"TOWNS_AMQP_URL": ""})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["towns publish: no RabbitMQ: give --url or set TOWNS_AMQP_URL"]


def test_publish_at_a_rate(fresh_topology: Vhost):
    messages = [_outgoing(i) for i in range(50)]

    started = time.monotonic()
    report = publish(fresh_topology.gateway_url, messages, rate=50)
    elapsed = time.monotonic() - started

    assert report.ok, report
    assert (report.published, report.confirmed) == (50, 50)
    assert elapsed >= 0.8
    assert fresh_topology.depth(t.QUEUE) == 50


def test_publish_as_fast_as_possible_keeps_a_bound_on_messages_in_flight(fresh_topology: Vhost, monkeypatch):
    peak = 0
    original = Publisher._publish

    def counting(self, message, position=None):
        nonlocal peak
        peak = max(peak, len(self._outstanding) + 1)
        original(self, message, position)

    monkeypatch.setattr(Publisher, "_publish", counting)
    messages = [_outgoing(i) for i in range(3000)]

    report = publish(fresh_topology.gateway_url, messages, max_in_flight=100)

    assert report.ok, report
    assert (report.published, report.confirmed, report.failed) == (3000, 3000, 0)
    assert peak <= 100
    assert fresh_topology.depth(t.QUEUE) == 3000


def _outgoing(i: int) -> Outgoing:
    body = json.dumps({"message_id": f"m-{i}", "type": "materials.received"}).encode()
    return Outgoing(body, "materials.received", f"m-{i}", "province")


# -- dead letters ----------------------------------------------------------------------------


@dataclass
class Scene:
    vhost: Vhost
    env: dict[str, str]
    database_url: str
    logs: Path
    first: dict  # refused as unknown_call
    second: dict

    def letter(self, envelope: dict):
        towns_ = build_towns(load_config(), self.database_url)
        try:
            return InboundRecords(towns_).letter(dead_letter_id(envelope["message_id"]))
        finally:
            towns_.close()

    def actions(self) -> list[dict]:
        from adapters.audit.evidence.actions import recent

        towns_ = build_towns(load_config(), self.database_url)
        try:
            return recent(towns_)
        finally:
            towns_.close()

    @contextmanager
    def consumer(self) -> Iterator[subprocess.Popen]:
        log = self.logs / f"consume-{uuid.uuid4().hex[:6]}.log"
        full = {**os.environ, **self.env}
        full.pop("TOWNS_CONFIG", None)
        with log.open("w") as err:
            process = subprocess.Popen([sys.executable, "-m", "adapters.cli", "consume"], cwd=ROOT,
                                       env=full, stdout=subprocess.DEVNULL, stderr=err)
        try:
            eventually(lambda: f"consuming {t.QUEUE}" in log.read_text() or process.poll() is not None)
            assert process.poll() is None, log.read_text()
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(timeout=30) == 0, log.read_text()
            except subprocess.TimeoutExpired:
                process.kill()
                raise


@pytest.fixture
def scene(fresh_topology: Vhost, postgres_schema_url: str, tmp_path) -> Scene:
    """Two messages refused for good (no such call), dead-lettered by the real consumer, which
    is stopped again."""
    first = {**demo_envelope("guangzhou-applicant", "application.submitted"), "call_id": "NO-SUCH-CALL"}
    second = {**demo_envelope("guangzhou-applicant", "application.submitted"), "call_id": "NO-SUCH-CALL"}
    env = {"TOWNS_AMQP_URL": fresh_topology.service_url, "TOWNS_DATABASE_URL": postgres_schema_url}
    scene = Scene(fresh_topology, env, postgres_schema_url, tmp_path, first, second)
    batch = write_batch(tmp_path / "refused.jsonl", [
        {"principal": "guangzhou-applicant", "envelope": first},
        {"principal": "guangzhou-applicant", "envelope": second},
    ])
    with scene.consumer():
        result = towns("publish", str(batch), "--url", fresh_topology.gateway_url)
        assert result.returncode == 0, result.stderr
        eventually(lambda: fresh_topology.depth(t.DEAD_QUEUE) == 2)
    for envelope in (first, second):
        letter = scene.letter(envelope)
        assert (letter.code, letter.attempts, letter.open) == ("unknown_call", 1, True)
        assert letter.user_id == "guangzhou-applicant"
    return scene


def test_dead_letters_list_shows_the_open_ones(scene: Scene):
    table = towns("dead-letters", "list", env=scene.env)
    assert table.returncode == 0, table.stderr
    for envelope in (scene.first, scene.second):
        letter_id = str(dead_letter_id(envelope["message_id"]))
        row = next(line for line in table.stdout.splitlines() if line.startswith(letter_id))
        assert envelope["message_id"] in row and "unknown_call" in row and "NO-SUCH-CALL" in row

    lines = towns("dead-letters", "list", "--json", env=scene.env)
    assert lines.returncode == 0, lines.stderr
    items = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [i["message_id"] for i in items] == [scene.first["message_id"], scene.second["message_id"]]
    item = items[0]
    assert item["id"] == str(dead_letter_id(scene.first["message_id"]))
    assert (item["code"], item["attempts"], item["open"], item["requeues"]) == ("unknown_call", 1, True, [])
    assert json.loads(item["body"]) == scene.first and item["body_encoding"] == "utf-8"
    assert datetime.fromisoformat(item["first_seen"]).tzinfo is not None
    assert item["detail"]


def test_requeue_by_id_moves_the_message_back_and_records_who(scene: Scene):
    vhost = scene.vhost
    letter_id = str(dead_letter_id(scene.first["message_id"]))
    with vhost.channel() as channel:  # a second copy of the same dead letter: both go
        channel.basic_publish(t.DEAD_EXCHANGE, "application.submitted", json.dumps(scene.first).encode(),
                              pika.BasicProperties(message_id=scene.first["message_id"], delivery_mode=2))
    eventually(lambda: vhost.depth(t.DEAD_QUEUE) == 3)
    before = datetime.now(timezone.utc)

    result = towns("dead-letters", "requeue", "--id", letter_id, "--by", "alice",
                   "--reason", "the call id is fixed upstream", env=scene.env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "requeued 1"
    left = vhost.peek_all(t.DEAD_QUEUE)
    assert [p.message_id for _, p, _ in left] == [scene.second["message_id"]]  # the other stays
    assert left[0][1].headers[t.ERROR] == "unknown_call"
    [(method, properties, body)] = vhost.peek_all(t.QUEUE)
    assert json.loads(body) == scene.first
    assert method.routing_key == "application.submitted"
    assert properties.message_id == scene.first["message_id"]
    assert properties.user_id == "guest" and properties.delivery_mode == 2
    assert properties.headers[t.USER_ID] == "guangzhou-applicant"
    assert properties.headers[t.ROUTING_KEY] == "application.submitted"
    assert datetime.fromisoformat(properties.headers[t.FIRST_SEEN]).tzinfo is not None
    requeued_at = datetime.fromisoformat(properties.headers[t.REQUEUED_AT])
    assert before - timedelta(seconds=5) <= requeued_at <= datetime.now(timezone.utc)

    letter = scene.letter(scene.first)
    assert not letter.open and letter.attempts == 1
    [requeue] = letter.requeues
    assert requeue["by"] == "alice"
    assert before - timedelta(seconds=5) <= datetime.fromisoformat(requeue["at"]) <= datetime.now(timezone.utc)
    assert scene.letter(scene.second).open
    # the re-drive is an event of the log, with who and why
    [action] = [a for a in scene.actions() if a["action"] == "dead_letters.requeue"]
    assert (action["actor"], action["reason"]) == ("alice", "the call id is fixed upstream")
    assert action["details"]["letters"] == [letter_id]

    open_only = towns("dead-letters", "list", "--json", env=scene.env)
    assert [json.loads(x)["message_id"] for x in open_only.stdout.splitlines()] == [scene.second["message_id"]]
    every = towns("dead-letters", "list", "--all", env=scene.env)
    row = next(line for line in every.stdout.splitlines() if line.startswith(letter_id))
    assert "alice at " in row

    with scene.consumer():  # the consumer takes it as the original sender's, and refuses it again
        eventually(lambda: scene.letter(scene.first).attempts == 2)
        eventually(lambda: vhost.depth(t.DEAD_QUEUE) == 2)
    letter = scene.letter(scene.first)
    assert (letter.open, letter.code, letter.user_id) == (True, "unknown_call", "guangzhou-applicant")
    assert vhost.depth(t.QUEUE) == 0


def test_requeue_leaves_another_body_under_the_same_id_in_the_dead_queue(scene: Scene):
    vhost = scene.vhost
    other = {**scene.first, "payload": {**scene.first["payload"], "town_name": "Another Town"}}
    with vhost.channel() as channel:
        channel.basic_publish(t.DEAD_EXCHANGE, "application.submitted", json.dumps(other).encode(),
                              pika.BasicProperties(message_id=scene.first["message_id"], delivery_mode=2))
    eventually(lambda: vhost.depth(t.DEAD_QUEUE) == 3)
    result = towns("dead-letters", "requeue", "--id", str(dead_letter_id(scene.first["message_id"])),
                   env=scene.env)
    assert result.returncode == 0, result.stderr
    left = {(p.message_id, json.loads(body)["payload"]["town_name"])
            for _, p, body in vhost.peek_all(t.DEAD_QUEUE)}
    assert left == {(scene.second["message_id"], scene.second["payload"]["town_name"]),
                    (scene.first["message_id"], "Another Town")}


def test_a_redriven_letter_without_a_sender_keeps_its_first_sight_and_properties(scene: Scene):
    vhost = scene.vhost
    anonymous = demo_envelope("guangzhou-applicant", "application.submitted")
    with scene.consumer():
        with vhost.channel() as channel:  # no user_id: unauthenticated
            channel.basic_publish(t.EXCHANGE, "application.submitted", json.dumps(anonymous).encode(),
                                  pika.BasicProperties(message_id=anonymous["message_id"], delivery_mode=2,
                                                       correlation_id="corr-1", headers={"trace": "t-1"}))
        eventually(lambda: scene.letter(anonymous) is not None)
    letter = scene.letter(anonymous)
    assert (letter.code, letter.user_id) == ("unauthenticated", None)
    result = towns("dead-letters", "requeue", "--id", str(letter.id), env=scene.env)
    assert result.returncode == 0, result.stderr
    with scene.consumer():
        eventually(lambda: scene.letter(anonymous).attempts == 2)
    again = [p for _, p, _ in vhost.peek_all(t.DEAD_QUEUE) if p.message_id == anonymous["message_id"]]
    assert [p.headers[t.ERROR] for p in again] == ["unauthenticated"]
    assert datetime.fromisoformat(again[0].headers[t.FIRST_SEEN]) == letter.first_seen
    assert t.USER_ID not in again[0].headers
    assert (again[0].correlation_id, again[0].headers["trace"]) == ("corr-1", "t-1")


def test_requeue_while_the_consumer_runs_counts_another_attempt(scene: Scene):
    vhost = scene.vhost
    with scene.consumer():
        result = towns("dead-letters", "requeue", "--id", str(dead_letter_id(scene.first["message_id"])),
                       "--by", "bob", env=scene.env)
        assert result.returncode == 0, result.stderr
        eventually(lambda: scene.letter(scene.first).attempts == 2)
        eventually(lambda: vhost.depth(t.DEAD_QUEUE) == 2)
    letter = scene.letter(scene.first)
    assert letter.open and letter.code == "unknown_call"
    assert [r["by"] for r in letter.requeues] == ["bob"]
    dead = vhost.peek_all(t.DEAD_QUEUE)
    assert sorted(p.message_id for _, p, _ in dead) == sorted([scene.first["message_id"], scene.second["message_id"]])


def test_requeue_all_after_the_dead_queue_was_purged_redrives_from_the_database(scene: Scene):
    vhost = scene.vhost
    with vhost.channel() as channel:
        channel.queue_purge(t.DEAD_QUEUE)

    result = towns("dead-letters", "requeue", "--all", env=scene.env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "requeued 2"
    back = vhost.peek_all(t.QUEUE)
    assert [json.loads(body) for _, _, body in back] == [scene.first, scene.second]
    assert vhost.depth(t.DEAD_QUEUE) == 0
    for envelope in (scene.first, scene.second):
        letter = scene.letter(envelope)
        assert not letter.open and [r["by"] for r in letter.requeues] == [getpass.getuser()]
    listed = towns("dead-letters", "list", env=scene.env)
    assert listed.stdout.strip() == "no open dead letters"

    again = towns("dead-letters", "requeue", "--all", env=scene.env)  # nothing open any more
    assert again.returncode == 0 and again.stdout.strip() == "requeued 0"

    letter_id = str(dead_letter_id(scene.first["message_id"]))
    named = towns("dead-letters", "requeue", "--id", letter_id, "--id", letter_id, "--by", "carol",
                  env=scene.env)  # named, a letter is re-driven whatever its state, once
    assert named.returncode == 0 and named.stdout.strip() == "requeued 1", named.stderr
    assert [r["by"] for r in scene.letter(scene.first).requeues] == [getpass.getuser(), "carol"]
    assert vhost.depth(t.QUEUE) == 3


def test_requeue_of_an_unknown_id_fails_in_one_line_and_changes_nothing(scene: Scene):
    unknown = uuid.uuid4()
    known = dead_letter_id(scene.first["message_id"])

    result = towns("dead-letters", "requeue", "--id", str(known), str(unknown), env=scene.env)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"towns dead-letters: no dead letter has the id {unknown}"]
    assert scene.letter(scene.first).open
    assert scene.vhost.depth(t.DEAD_QUEUE) == 2 and scene.vhost.depth(t.QUEUE) == 0

    bad = towns("dead-letters", "requeue", "--id", "not-a-uuid", env=scene.env)
    assert bad.returncode == 2
    no_choice = towns("dead-letters", "requeue", env=scene.env)
    assert no_choice.returncode == 2
    no_broker = towns("dead-letters", "requeue", "--all", env={**scene.env, "TOWNS_AMQP_URL": ""})
    assert no_broker.returncode == 1 and "TOWNS_AMQP_URL" in no_broker.stderr


# -- re-drive by a filter ----------------------------------------------------------------------

DAY = ("--since", "2017-03-21T00:00:00+08:00", "--until", "2017-03-22T00:00:00+08:00")


def record_refused(scene: Scene, keys: list[str], *, code: str = "unknown_call",
                   routing_key: str = "application.submitted",
                   seen: str = "2017-03-21T10:00:00+08:00") -> None:
    """Dead letters as the consumer records them: submissions to a call that does not exist
    (refused again as unknown_call when re-driven), each with a reference of its own."""
    towns_ = build_towns(load_config(), scene.database_url)
    try:
        records = InboundRecords(towns_)
        for key in keys:
            body = {**scene.first, "message_id": key, "application_ref": f"GZ-{key}"}
            records.dead_letter(key, key, code, "no such call", json.dumps(body).encode(),
                                "guangzhou-applicant", routing_key, datetime.fromisoformat(seen))
    finally:
        towns_.close()


def test_requeue_by_a_filter_takes_only_the_open_letters_it_matches(scene: Scene):
    vhost = scene.vhost
    matching = [f"flt-{i:02}" for i in range(12)]
    record_refused(scene, matching)
    record_refused(scene, ["flt-code"], code="unknown_type")
    record_refused(scene, ["flt-type"], routing_key="application.withdrawn")
    record_refused(scene, ["flt-early"], seen="2017-03-20T23:00:00+08:00")
    filters = ("--code", "unknown_call", "--type", "application.submitted", *DAY)

    listed = towns("dead-letters", "list", "--json", *filters, env=scene.env)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(x)["message_id"] for x in listed.stdout.splitlines()] == matching

    result = towns("dead-letters", "requeue", *filters, "--by", "dora", "--reason", "call fixed",
                   env=scene.env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "requeued 12\n"
    back = [p.message_id for _, p, _ in vhost.peek_all(t.QUEUE)]
    assert back == matching
    for key in matching:
        letter = scene.letter({"message_id": key})
        assert not letter.open and [r["by"] for r in letter.requeues] == ["dora"]
    for key in ("flt-code", "flt-type", "flt-early"):  # one criterion each does not hold
        assert scene.letter({"message_id": key}).open, key
    for envelope in (scene.first, scene.second):  # first seen today: outside the range
        assert scene.letter(envelope).open
    [action] = [a for a in scene.actions() if a["action"] == "dead_letters.requeue"]
    assert action["details"]["filter"] == {
        "code": "unknown_call", "type": "application.submitted",
        "since": "2017-03-21T00:00:00+08:00", "until": "2017-03-22T00:00:00+08:00"}
    assert (action["actor"], action["reason"], action["details"]["count"]) == ("dora", "call fixed", 12)

    # by application ref alone, with --all as well: the one letter of that reference
    ref = towns("dead-letters", "requeue", "--all", "--ref", "GZ-flt-type", env=scene.env)
    assert ref.returncode == 0 and ref.stdout == "requeued 1\n", ref.stderr
    assert not scene.letter({"message_id": "flt-type"}).open
    # nothing left matching: nothing re-driven
    again = towns("dead-letters", "requeue", *filters, env=scene.env)
    assert again.returncode == 0 and again.stdout == "requeued 0\n", again.stderr
    # bad values are bad usage, and change nothing
    for wrong in (("--since", "2017-03-21"), ("--until", "2017-03-21T00:00:00+08:00", "--since",
                                               "2017-03-22T00:00:00+08:00"), ("--code", "")):
        bad = towns("dead-letters", "requeue", *wrong, env=scene.env)
        assert bad.returncode == 2 and "usage:" in bad.stderr and bad.stdout == "", wrong
    assert scene.letter({"message_id": "flt-code"}).open


def test_requeue_by_a_filter_goes_in_bounded_batches_with_progress_on_stderr(
        scene: Scene, monkeypatch, capsys):
    from adapters.cli import dead_letters, parser, progress

    matching = [f"many-{i:02}" for i in range(23)]
    record_refused(scene, matching)
    record_refused(scene, ["many-late"], seen="2017-03-23T10:00:00+08:00")
    monkeypatch.setattr(dead_letters, "BATCH", 5)  # five letters per re-drive
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0)  # a line at each tenth, however quick
    monkeypatch.delenv("TOWNS_CONFIG", raising=False)
    for name, value in scene.env.items():
        monkeypatch.setenv(name, value)

    def run(*argv: str) -> tuple[str, str]:
        args = parser().parse_args(["dead-letters", "requeue", *argv])
        args.run(args)
        found = capsys.readouterr()
        return found.out, found.err

    # At most 20 of them: four re-drives of five
    out, err = run("--code", "unknown_call", *DAY, "--limit", "20", "--by", "erin")
    assert out == "requeued 20\n"
    lines = err.splitlines()
    assert lines and all(line.startswith("towns dead-letters requeue: ") for line in lines), err
    assert lines[-1].startswith("towns dead-letters requeue: 20 of 20 letters re-driven (100%)")
    actions = [a for a in scene.actions() if a["action"] == "dead_letters.requeue"]
    assert sorted(a["details"]["count"] for a in actions) == [5, 5, 5, 5]
    re_driven = [letter for a in actions for letter in a["details"]["letters"]]
    assert sorted(re_driven) == sorted(str(dead_letter_id(k)) for k in matching[:20])
    # the rest, a handful: no progress, the same stdout
    out, err = run("--code", "unknown_call", *DAY)
    assert (out, err) == ("requeued 3\n", "")
    assert scene.letter({"message_id": "many-late"}).open
    assert scene.vhost.depth(t.QUEUE) == 23
