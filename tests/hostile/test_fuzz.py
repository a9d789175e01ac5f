"""Thousands of mutated envelopes (``tests.hostile.fuzz``, seeded) against the service as it is
deployed: ``towns serve``, ``towns consume`` and ``towns worker`` as processes on the real
PostgreSQL and RabbitMQ.

Over HTTP every answer is a contract code with its status: never a 500, never
``internal_error``. Over RabbitMQ every message is either applied (its inbox marker is stored)
or lies in ``towns.inbound.dead`` exactly once with a contract code; the consumer keeps
consuming to the end of the stream; and the read models reach the head of the log with nothing
set aside.

``TOWNS_FUZZ_SEED`` and ``TOWNS_FUZZ_COUNT`` (per channel) change the run; a failure prints the
seed and the first offending cases.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pika
import pytest

from adapters.amqp import topology as t
from adapters.http.errors import HTTP_STATUS
from adapters.inbound.ingest import prepare
from domain.commands import Command
from domain.errors import DomainError
from domain.inbox import inbox_id
from projections.queries import SUMMARIES
from tests.e2e.test_serve import free_port
from tests.hostile.fuzz import CODES, Case, Fuzzer, amqp_headers
from tests.integration.rabbit import (
    HOST,
    PORT,
    Consumers,
    Rabbit,
    Store,
    eventually,
    own_vhost,
    rabbit,  # noqa: F401 - fixture
)
from tests.integration.worker_processes import Views, Workers
from tests.support import fresh_schema

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("TOWNS_FUZZ_SEED", "20170330"))
COUNT = int(os.environ.get("TOWNS_FUZZ_COUNT", "3000"))
STRANGER = "stranger"


@dataclass
class System:
    rabbit: Rabbit
    url: str
    base: str
    store: Store
    consumers: Consumers
    workers: Workers
    server: subprocess.Popen


@pytest.fixture(scope="module")
def system(config, postgres_url, tmp_path_factory) -> Iterator[System]:
    folder = tmp_path_factory.mktemp("fuzz")
    with own_vhost("towns-fuzz") as broker, fresh_schema(postgres_url) as url:
        from adapters.bootstrap import build_towns

        store = Store(build_towns(config, url), url)
        consumers, workers = Consumers(folder), Workers(folder)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
        env.update(TOWNS_DATABASE_URL=url, TOWNS_AMQP_URL=broker.url)
        log = open(folder / "serve.log", "wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"127.0.0.1:{port}"
            _wait_healthy(server, base, folder / "serve.log")
            consumers.start(broker.url, url, TOWNS_REORDER_WINDOW=1)
            workers.start(broker.url, url, tick=1.0)
            yield System(broker, url, base, store, consumers, workers, server)
        finally:
            server.terminate()
            server.wait(30)
            log.close()
            print((folder / "serve.log").read_text(errors="replace")[-5000:])
            workers.close()
            for worker in workers.started:
                print(worker.log()[-5000:])
            consumers.close()
            store.close()


def _wait_healthy(server: subprocess.Popen, base: str, log: Path) -> None:
    for _ in range(300):
        if server.poll() is not None:
            pytest.fail(f"towns serve exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            connection = http.client.HTTPConnection(base, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        import time

        time.sleep(0.1)
    pytest.fail("towns serve did not answer /healthz")


def _report(what: str, failures: list[str]) -> str:
    shown = "\n".join(failures[:20])
    return f"{len(failures)} {what} (TOWNS_FUZZ_SEED={SEED}):\n{shown}"


# -- HTTP -------------------------------------------------------------------------------------


def test_every_http_answer_to_a_mutated_envelope_is_a_contract_code(system: System, config):
    cases = Fuzzer(SEED).cases(COUNT, "fz-http")
    tokens = {name: p.token for name, p in config.principals.items() if p.token}
    connection = http.client.HTTPConnection(system.base, timeout=60)
    failures: list[str] = []
    seen: Counter = Counter()
    for case in cases:
        headers = {"Content-Type": "application/json"}
        if case.user == STRANGER:
            headers["Authorization"] = "Bearer not-a-known-token"
        elif case.user is not None:
            headers["Authorization"] = f"Bearer {tokens[case.user]}"
        try:
            connection.request("POST", "/api/v1/events", body=case.body, headers=headers)
            response = connection.getresponse()
            status, raw = response.status, response.read()
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
        except (http.client.HTTPException, OSError) as error:
            connection.close()
            failures.append(f"#{case.n} {case.mutation}: no answer ({error!r})")
            continue
        problem = _http_problem(case, status, raw)
        seen[status] += 1
        if problem:
            failures.append(f"#{case.n} {case.mutation}: {problem}")
    assert not failures, _report("bad HTTP answers", failures)
    assert seen[200] > COUNT // 20, f"too few mutated envelopes applied to mean anything: {seen}"


def _http_problem(case: Case, status: int, raw: bytes) -> str | None:
    try:
        answer = json.loads(raw)
    except ValueError:
        return f"{status} with a body that is not JSON: {raw[:200]!r}"
    if status == 200:
        if case.expect is not None:
            return f"200, expected one of {sorted(case.expect)}"
        return None
    code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
    if code not in CODES:
        return f"{status} with code {code!r}"
    if HTTP_STATUS[code] != status:
        return f"{status} with code {code} (the contract says {HTTP_STATUS[code]})"
    if case.expect is not None and code not in case.expect:
        return f"{code}, expected one of {sorted(case.expect)}"
    if len(raw) > 16 * 1024:
        return f"an error answer of {len(raw)} bytes"
    return None


# -- RabbitMQ ---------------------------------------------------------------------------------


def _publish(rabbit: Rabbit, config, cases: list[Case], r: random.Random) -> None:
    users = {name: p.amqp_user for name, p in config.principals.items() if p.amqp_user}
    credentials = pika.PlainCredentials(rabbit.gateway, rabbit.gateway_password)
    parameters = pika.ConnectionParameters(HOST, PORT, rabbit.vhost, credentials,
                                           frame_max=131072)
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for case in cases:
            user = STRANGER if case.user == STRANGER else users.get(case.user or "")
            properties = pika.BasicProperties(
                message_id=_message_id(case, r), user_id=user, delivery_mode=2,
                content_type=r.choice(("application/json", None, "text/plain")),
                headers=amqp_headers(r) or None)
            channel.basic_publish(t.EXCHANGE, _routing_key(case, r), case.body, properties,
                                  mandatory=True)


def _message_id(case: Case, r: random.Random) -> str | None:
    """The envelope's id as the AMQP property, as upstream systems should send it; now and
    then none, or another one."""
    try:
        value = json.loads(case.body)
        own = value.get("message_id") if isinstance(value, dict) else None
    except (ValueError, RecursionError):
        own = None
    roll = r.random()
    if roll < 0.05:
        return None
    if roll < 0.10 or not isinstance(own, str) or len(own.encode()) > 255:
        return f"fz-amqp-property-{case.n}"
    return own


def _routing_key(case: Case, r: random.Random) -> str:
    try:
        value = json.loads(case.body)
        kind = value.get("type") if isinstance(value, dict) else None
    except (ValueError, RecursionError):
        kind = None
    if isinstance(kind, str) and len(kind.encode()) <= 255 and r.random() < 0.9:
        return kind
    return "fuzz.other"


@pytest.fixture(scope="module")
def amqp_run(system: System, config):
    """Publishes the AMQP cases and waits until the consumer has taken every one and nothing is
    parked; answers the cases and the dead letters taken off ``towns.inbound.dead``."""
    r = random.Random(SEED + 1)
    cases = Fuzzer(SEED + 2).cases(COUNT, "fz-amqp")
    _publish(system.rabbit, config, cases, r)
    eventually(lambda: system.rabbit.outstanding(t.QUEUE) == 0, 600, 1.0,
               "the consumer took every fuzzed message")
    eventually(lambda: not system.store.open_parked(), 120, 1.0, "nothing left parked")
    assert system.consumers.started[0].running(), "the consumer stopped"
    letters = system.rabbit.take_all(t.DEAD_QUEUE)
    return cases, letters


def test_every_bad_amqp_message_is_dead_lettered_once_with_its_code(amqp_run, system: System,
                                                                    config):
    cases, letters = amqp_run
    by_body: dict[bytes, list] = {}
    for letter in letters:
        by_body.setdefault(letter.body, []).append(letter)
    known = {case.body for case in cases}
    failures = [f"a letter of no case: {letter.body[:80]!r}" for letter in letters
                if letter.body not in known]
    for case in cases:
        found = by_body.get(case.body, [])
        if len(found) > 1:
            failures.append(f"#{case.n} {case.mutation}: {len(found)} dead letters")
        if found:
            code = found[0].headers.get(t.ERROR)
            if code not in CODES:
                failures.append(f"#{case.n} {case.mutation}: dead-lettered as {code!r}")
            elif case.expect is not None and code not in case.expect:
                failures.append(f"#{case.n} {case.mutation}: {code}, expected {sorted(case.expect)}")
            continue
        failures.extend(_not_applied(case, system, config))
    assert not failures, _report("bad AMQP outcomes", failures)


def _not_applied(case: Case, system: System, config) -> list[str]:
    """Why a message that was not dead-lettered was not applied either, if it was not."""
    principal = None if case.user in (None, STRANGER) else config.principals[case.user]
    try:
        command = prepare(case.body, principal)
    except DomainError as error:
        return [f"#{case.n} {case.mutation}: refused ({error.code}) but not dead-lettered"]
    assert isinstance(command, Command)
    if case.expect is not None:
        return [f"#{case.n} {case.mutation}: applied, expected {sorted(case.expect)}"]
    if inbox_id(command.message_id) in system.store.towns.repository:
        return []
    return [f"#{case.n} {case.mutation}: neither applied nor dead-lettered"]


def test_the_consumer_keeps_consuming_after_the_stream(amqp_run, system: System):
    from tests.factories import encode, envelope
    from tests.integration.rabbit import message

    after = envelope("application.submitted", "FZ-AFTER-001", city="foshan",
                     message_id="fz-after-1")
    system.rabbit.publish(message(encode(after), "foshan-applicant"))
    eventually(lambda: system.store.types("FZ-AFTER-001")[:1] == ["application.submitted"], 60,
               what="a valid message after the fuzzed stream is applied")


def test_the_read_models_reach_the_head_with_nothing_set_aside(amqp_run, system: System, config):
    views = Views(config, system.url)
    try:
        eventually(views.caught_up, 300, 1.0, "every projection at the head of the log")
        submitted = system.store.count("towns:Application.Submitted")
        with views.store.transaction(read_only=True) as tx:
            summaries = tx.all(f"SELECT count(*) FROM {SUMMARIES}")[0][0]
        assert summaries == submitted
        assert views.runner.set_aside() == []  # ingest refused every NUL: nothing poisoned
    finally:
        views.close()
