"""The operators' area against the real RabbitMQ (a virtual host per test) and PostgreSQL: the
queue view from the management API and, when that does not answer, from AMQP; a dead letter
re-driven end to end through ``POST /api/v1/ops/dead-letters/requeue``; ``towns queues``; the
roles; ``GET /metrics`` and the consumer's own metrics port.

The management plugin is enabled here (idempotently) as ``.ci/run`` does; locally a broker or
plugin that cannot be reached skips these tests, with CI=true it fails them.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from adapters.amqp import topology as t
from adapters.bootstrap import build_runtime
from adapters.http import create_app
from adapters.ops.queues import DEFAULT_API_URL, service_queues
from tests.amqp_fixtures import rabbitmq  # noqa: F401 - fixture: the broker answers
from tests.conftest import service_missing
from tests.factories import CALL, encode, envelope
from tests.integration.rabbit import (
    ROOT,
    Consumers,
    Rabbit,
    Store,
    consumers,  # noqa: F401 - fixture
    eventually,
    message,
    own_vhost,
    store,  # noqa: F401 - fixture
)

OPS = ("GET", "/api/v1/ops/queues"), ("GET", "/api/v1/ops/dead-letters"), \
    ("POST", "/api/v1/ops/dead-letters/requeue"), ("GET", "/api/v1/ops/set-aside")
OPERATOR = {"Authorization": "Bearer demo-operator"}
STATS_WAIT = 30  # seconds: the management API refreshes its figures every 5 s by default


def bearer(name: str) -> dict:
    return {"Authorization": f"Bearer demo-{name}"}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def management_api(rabbitmq) -> str:  # noqa: F811 - the fixture imported above
    """RabbitMQ's management API on loopback, the plugin enabled if it was not."""
    if shutil.which("rabbitmq-plugins") is None:
        service_missing("the RabbitMQ management API", FileNotFoundError("no rabbitmq-plugins"))
    enabled = subprocess.run(["rabbitmq-plugins", "-q", "enable", "rabbitmq_management"],
                             capture_output=True, text=True, timeout=120)
    if enabled.returncode != 0:
        service_missing("the RabbitMQ management API", RuntimeError(enabled.stderr.strip()))
    end = time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request("http://127.0.0.1:15672/api/overview",
                                             headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
            with urllib.request.urlopen(request, timeout=3) as response:
                if response.status == 200:
                    return DEFAULT_API_URL
        except OSError as error:
            if time.monotonic() > end:
                service_missing("the RabbitMQ management API on port 15672", error)
        time.sleep(0.5)


@pytest.fixture
def broker(rabbitmq) -> Iterator[Rabbit]:  # noqa: F811
    """A virtual host of this test's own with the topology declared, and a gateway user tagged
    impersonator (publishes as any principal), both deleted afterwards."""
    with own_vhost("towns-ops") as found:
        yield found


@pytest.fixture
def app(sqlite_towns, config):
    return create_app(sqlite_towns, config)


@pytest.fixture
def client(app):
    return app.test_client()


def submissions(count: int) -> list:
    return [message(envelope("application.submitted", f"SD-OPS-{i:03d}"), "shunde-applicant")
            for i in range(count)]


def row(view: dict, name: str) -> dict:
    return next(q for q in view["queues"] if q["name"] == name)


# -- the queue view ---------------------------------------------------------------------------


def test_the_queue_view_shows_messages_waiting_from_the_management_api(
        broker, management_api, client, monkeypatch):
    # Given five messages on towns.inbound and no consumer
    broker.publish_all(submissions(5))
    monkeypatch.setenv("TOWNS_AMQP_URL", broker.url)
    monkeypatch.setenv("TOWNS_RABBITMQ_API", management_api)

    # when an operator asks for the queue view until the API's figures are refreshed
    def ready_five():
        view = client.get("/api/v1/ops/queues", headers=OPERATOR).get_json()
        return view if row(view, t.QUEUE)["ready"] == 5 else None

    view = eventually(ready_five, STATS_WAIT, 0.5, "the management API shows 5 ready")

    # then every queue of the service is listed, with figures from the management API
    assert view["source"] == "management_api" and view["note"] is None
    assert [q["name"] for q in view["queues"]] == service_queues()
    assert {"towns.projections.DQ", "towns.deadlines.XQ"} <= set(service_queues())
    inbound = row(view, t.QUEUE)
    assert (inbound["unacknowledged"], inbound["consumers"], inbound["exists"]) == (0, 0, True)
    for rate in ("publish_rate", "deliver_rate", "ack_rate"):
        assert isinstance(inbound[rate], float) and inbound[rate] >= 0
    assert (row(view, t.DEAD_QUEUE)["ready"], row(view, t.DEAD_QUEUE)["exists"]) == (0, True)
    # dramatiq declares its queues when first used: none has been here
    assert row(view, "towns.projections")["exists"] is False
    assert [p["name"] for p in view["projections"]] == ["summaries", "deadline_report", "audit",
                                                        "pipeline"]
    assert all(p["lag"] == 0 for p in view["projections"])
    assert (view["parked"], view["dead_letters_open"], view["vhost"]) == (0, 0, broker.vhost)


def test_without_the_management_api_the_view_falls_back_to_amqp(broker, client, monkeypatch):
    # Given three messages waiting and a management API that does not answer
    broker.publish_all(submissions(3))
    monkeypatch.setenv("TOWNS_AMQP_URL", broker.url)
    monkeypatch.setenv("TOWNS_RABBITMQ_API", f"http://guest:guest@127.0.0.1:{closed_port()}")

    view = client.get("/api/v1/ops/queues", headers=OPERATOR).get_json()

    # then the figures AMQP can tell are there, the others null, and the note says why
    assert view["source"] == "amqp"
    assert "management API" in view["note"] and "did not answer" in view["note"]
    assert "guest:guest" not in view["note"]
    inbound = row(view, t.QUEUE)
    assert (inbound["ready"], inbound["consumers"], inbound["exists"]) == (3, 0, True)
    assert [inbound[k] for k in ("unacknowledged", "publish_rate", "deliver_rate", "ack_rate")] \
        == [None, None, None, None]
    assert row(view, t.DEAD_QUEUE)["ready"] == 0
    assert row(view, "towns.deadlines.DQ")["exists"] is False


def test_a_management_api_url_that_does_not_parse_falls_back_to_amqp(broker, client, monkeypatch):
    monkeypatch.setenv("TOWNS_AMQP_URL", broker.url)
    monkeypatch.setenv("TOWNS_RABBITMQ_API", "http://[bad")
    view = client.get("/api/v1/ops/queues", headers=OPERATOR).get_json()
    assert view["source"] == "amqp" and "TOWNS_RABBITMQ_API is not a URL" in view["note"]
    assert row(view, t.QUEUE)["exists"] is True


@pytest.mark.parametrize("path, method", [("/api/v1/ops/queues", "GET"),
                                          ("/api/v1/ops/dead-letters/requeue", "POST")])
def test_an_amqp_url_that_cannot_be_used_is_unavailable(client, monkeypatch, path, method):
    monkeypatch.setenv("TOWNS_AMQP_URL", "amqp://guest:secret@127.0.0.1:99999/%2F")
    answer = client.open(path, method=method, headers=OPERATOR, json={"all": True})
    assert (answer.status_code, answer.headers["x-towns-error"]) == (503, "unavailable")
    message = answer.get_json()["error"]["message"]
    assert "TOWNS_AMQP_URL cannot be used" in message and "secret" not in message


def test_without_rabbitmq_the_view_has_no_queues_and_says_why(client, monkeypatch):
    monkeypatch.delenv("TOWNS_AMQP_URL", raising=False)
    view = client.get("/api/v1/ops/queues", headers=OPERATOR).get_json()
    assert view["queues"] == [] and "TOWNS_AMQP_URL" in view["note"]
    assert view["source"] in ("management_api", "amqp") and view["parked"] == 0


# -- dead letters, re-driven end to end ---------------------------------------------------------


def test_a_dead_letter_is_re_driven_by_an_operator(broker, store: Store, consumers: Consumers,
                                                   config, monkeypatch):
    # Given a message the consumer refused (an unknown type), with its metrics on a port
    port = closed_port()
    refused = message({**envelope("application.submitted", "SD-OPS-DL1", message_id="ops-dl-1"),
                       "type": "application.teleported"}, "shunde-applicant")
    consumer = consumers.start(broker.url, store.url, TOWNS_METRICS_PORT=port)
    broker.publish(refused)
    eventually(lambda: "ops-dl-1" in store.dead_letters(), 30, what="the dead letter recorded")
    eventually(lambda: broker.depth(t.DEAD_QUEUE) == 1, 10, what="on towns.inbound.dead")
    consumer_metrics = scrape(f"http://127.0.0.1:{port}/metrics")
    assert consumer.stop() == 0
    letter_id = str(store.dead_letters()["ops-dl-1"].id)
    monkeypatch.setenv("TOWNS_AMQP_URL", broker.url)
    client = create_app(store.towns, config).test_client()

    # the operator finds it in the list, in the contract's shape
    listed = client.get(f"/api/v1/ops/dead-letters?queue={t.DEAD_QUEUE}", headers=OPERATOR)
    assert listed.status_code == 200
    [item] = listed.get_json()["items"]
    assert (item["id"], item["message_id"], item["code"], item["attempts"]) == \
        (letter_id, "ops-dl-1", "unknown_type", 1)
    assert json.loads(item["body"]) == json.loads(refused.body) and item["first_seen"]
    assert listed.get_json()["next_cursor"] is None

    # when the operator re-drives it
    answer = client.post("/api/v1/ops/dead-letters/requeue", json={"ids": [letter_id]},
                         headers=OPERATOR)

    # then one letter was requeued: off the dead queue, back on towns.inbound, unchanged
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["requeued"] == 1
    assert broker.depth(t.DEAD_QUEUE) == 0
    [back] = broker.take_all(t.QUEUE)
    assert (back.body, back.message_id) == (refused.body, "ops-dl-1")
    # and its record stays, closed, naming the operator
    letter = store.records.letter(store.dead_letters()["ops-dl-1"].id)
    assert not letter.open and [r["by"] for r in letter.requeues] == ["operator"]
    assert client.get("/api/v1/ops/dead-letters", headers=OPERATOR).get_json()["items"] == []
    [closed] = client.get("/api/v1/ops/dead-letters?all=true", headers=OPERATOR).get_json()["items"]
    assert closed["requeues"][0]["by"] == "operator" and closed["open"] is False
    # and the consumer counted its batch and the refusal on its own metrics port
    assert consumer_metrics[("towns_consumer_batch_size_count", ())] >= 1
    assert consumer_metrics[("towns_ingest_messages_total",
                             (("code", "unknown_type"), ("outcome", "refused"), ("type", "other")))] == 1


def test_a_requeue_names_what_is_wrong_with_its_body(client):
    unknown = "5f0e5e6e-1f1a-4c55-9d5a-6a4c0f8b8c11"
    cases = [
        ({}, "_"), ({"ids": [], }, "ids"), ({"all": False}, "all"),
        ({"ids": [unknown], "all": True}, "_"), ({"ids": ["not-a-uuid"]}, "ids.0"),
        ({"ids": [unknown]}, "ids.0"), ({"all": True, "why": "x"}, "why"),
    ]
    for body, field in cases:
        answer = client.post("/api/v1/ops/dead-letters/requeue", json=body, headers=OPERATOR)
        assert answer.status_code == 422, body
        error = answer.get_json()["error"]
        assert error["code"] == "schema_invalid" and field in error["details"], (body, error)


@pytest.mark.parametrize(
    "raw",
    [b"{bad", b"[1]", b"", b'{"all": NaN}', b"\xff{}", b" " * (300 * 1024)],
    ids=["not-json", "array", "empty", "nan", "not-utf8", "300-kib"],
)
def test_a_requeue_body_that_is_not_a_json_object_is_malformed(client, raw):
    answer = client.post("/api/v1/ops/dead-letters/requeue", data=raw, headers=OPERATOR,
                         content_type="application/json")
    assert (answer.status_code, answer.headers["x-towns-error"]) == (400, "malformed")


def test_a_requeue_body_is_read_whatever_its_content_type(client, monkeypatch):
    monkeypatch.delenv("TOWNS_AMQP_URL", raising=False)
    answer = client.post("/api/v1/ops/dead-letters/requeue", data=b'{"all": true}',
                         headers=OPERATOR, content_type="text/plain")
    assert (answer.status_code, answer.headers["x-towns-error"]) == (503, "unavailable")


def test_dead_letters_are_paged_with_a_cursor(broker, store: Store, consumers: Consumers, config):
    # Given three refused messages (no user_id: unauthenticated)
    consumer = consumers.start(broker.url, store.url)
    broker.publish_all([message(envelope("application.submitted", f"SD-OPS-P{i}",
                                         message_id=f"ops-page-{i}"), None) for i in range(3)])
    eventually(lambda: len(store.dead_letters()) == 3, 30, what="three dead letters")
    consumer.stop()
    client = create_app(store.towns, config).test_client()

    first = client.get("/api/v1/ops/dead-letters?limit=2", headers=OPERATOR).get_json()
    second = client.get(f"/api/v1/ops/dead-letters?limit=2&cursor={first['next_cursor']}",
                        headers=OPERATOR).get_json()

    assert [i["message_id"] for i in first["items"]] == ["ops-page-0", "ops-page-1"]
    assert [i["message_id"] for i in second["items"]] == ["ops-page-2"]
    assert second["next_cursor"] is None
    assert all(i["code"] == "unauthenticated" for i in first["items"] + second["items"])
    bad = client.get("/api/v1/ops/dead-letters?cursor=nope", headers=OPERATOR)
    assert bad.status_code == 422 and "cursor" in bad.get_json()["error"]["details"]


# -- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", OPS)
def test_only_operators_use_the_ops_area(client, method, path):
    assert client.open(path, method=method, json={"all": True}).status_code == 401
    for name in ("province", "auditor", "guangzhou-city", "guangzhou-applicant"):
        answer = client.open(path, method=method, json={"all": True}, headers=bearer(name))
        assert answer.status_code == 403, (name, path)
        assert answer.get_json()["error"]["code"] == "forbidden"


# -- metrics ----------------------------------------------------------------------------------


def scrape(url: str) -> dict[tuple, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return samples(response.read().decode("utf-8"))


def samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


METRIC_NAMES = (
    "towns_ingest_messages_total", "towns_consumer_batch_size", "towns_consumer_commit_seconds",
    "towns_deadline_checks_total", "towns_projection_lag", "towns_projection_position",
    "towns_dead_letters_open", "towns_parked_messages", "towns_store_up",
)


def test_metrics_need_no_token_and_count_what_the_service_did(client, config):
    applied = ("towns_ingest_messages_total",
               (("code", "none"), ("outcome", "applied"), ("type", "application.submitted")))
    before = samples(client.get("/metrics").get_data(as_text=True)).get(applied, 0)
    # Given a submission over HTTP
    posted = client.post("/api/v1/events", data=encode(envelope("application.submitted", "SD-OPS-M1")),
                         headers={**bearer("shunde-applicant"), "Content-Type": "application/json"})
    assert posted.status_code == 200, posted.get_data(as_text=True)

    answer = client.get("/metrics")

    # then /metrics answers without a token, in the text format, with every metric named
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    text = answer.get_data(as_text=True)
    for name in METRIC_NAMES:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    got = samples(text)
    assert got[applied] == before + 1
    assert got[("towns_store_up", ())] == 1
    assert got[("towns_dead_letters_open", ())] == 0 and got[("towns_parked_messages", ())] == 0
    assert ("towns_projection_lag", (("projection", "summaries"),)) in got


def test_the_deadline_actor_counts_its_checks(config, tmp_path):
    key = ("towns_deadline_checks_total", {"call_id": CALL, "outcome": "due"})
    before = REGISTRY.get_sample_value(key[0], key[1]) or 0
    runtime = build_runtime(config, f"sqlite:///{tmp_path}/towns.db")
    try:
        from workers.actors import check_deadline

        check_deadline.send(CALL, config.calls[CALL].cutoff.isoformat())
        runtime.drain()
    finally:
        runtime.close()
    assert REGISTRY.get_sample_value(key[0], key[1]) == before + 1


# -- towns queues -----------------------------------------------------------------------------


def towns_queues(*args: str, env: dict[str, str]) -> subprocess.Popen:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    full.update(env, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "adapters.cli", "queues", *args], cwd=ROOT,
                            env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_towns_queues_prints_the_view_and_watch_redraws_until_ctrl_c(broker, tmp_path):
    broker.publish_all(submissions(2))
    env = {"TOWNS_AMQP_URL": broker.url, "TOWNS_DATABASE_URL": f"sqlite:///{tmp_path}/towns.db",
           "TOWNS_RABBITMQ_API": f"http://127.0.0.1:{closed_port()}"}

    once = towns_queues(env=env)
    out, err = once.communicate(timeout=60)

    assert once.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["QUEUE", "READY", "UNACKED", "CONSUMERS", "PUBLISH/S",
                                "DELIVER/S", "ACK/S"]
    assert next(l for l in lines if l.startswith(f"{t.QUEUE} ")).split() == \
        [t.QUEUE, "2", "-", "0", "-", "-", "-"]
    assert any(l.split()[:1] == ["summaries"] for l in lines)
    assert "parked: 0" in lines and "dead letters open: 0" in lines
    assert f"source: amqp (vhost {broker.vhost})" in lines
    assert any(l.startswith("note: the management API") for l in lines)

    watching = towns_queues("--watch", "--interval", "0.2", env=env)
    time.sleep(4)
    watching.send_signal(signal.SIGINT)
    out, err = watching.communicate(timeout=30)
    assert watching.returncode == 0, err
    assert out.count("\033[H\033[2J") >= 2 and out.count("source: amqp") >= 2
