"""The README's integration guide, run exactly as written: every shell block marked
``<!-- tested: integrate -->`` is run with bash from the project's root, and the ``text`` block
that follows it, where there is one, holds lines its output must contain.

The HTTP blocks run against a ``towns serve`` on an empty SQLite database; the RabbitMQ blocks on
a vhost of their own, with users of unique names, given to the README's commands through the
variables they read (``TOWNS_VHOST``, ``TOWNS_BROKER``, ``GATEWAY``, ``PUBLISHER`` and their
passwords), while ``towns consume`` runs on that vhost as the service. Everything the test
creates on the broker is deleted afterwards."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pika
import pytest
from pika.exceptions import AMQPError

from adapters.amqp import topology as t
from domain.lifecycle import EVENT_TYPES
from tests.amqp_fixtures import (RABBITMQ_HOST, RABBITMQ_PORT, amqp_url, rabbitmq,  # noqa: F401
                                 rabbitmqctl)
from tests.e2e.test_serve import serving, stop

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARK = "<!-- tested: integrate -->"
BLOCK = re.compile(
    re.escape(MARK) + r"\n```bash\n(?P<code>.*?)```\n(?:\n```text\n(?P<expected>.*?)```\n)?", re.DOTALL
)
CALL = "GD-ITOWN-2017-B2"


@dataclass(frozen=True)
class Block:
    code: str
    expected: tuple[str, ...]

    @property
    def over_http(self) -> bool:
        return "TOWNS_URL" in self.code


def marked_blocks() -> list[Block]:
    blocks = [Block(m["code"], tuple((m["expected"] or "").splitlines()))
              for m in BLOCK.finditer(README)]
    assert len(blocks) == README.count(MARK), "a marked block is not a ```bash block"
    return blocks


def run(block: Block, env: dict[str, str]) -> str:
    """Runs one block as written; it must exit 0 and print every line of its expected output."""
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{block.code}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    printed = done.stdout.splitlines()
    for line in block.expected:
        assert line in printed, f"{block.code}\nexpected line {line!r} in:\n{done.stdout}"
    return done.stdout


def test_the_guide_has_its_http_and_rabbitmq_blocks():
    blocks = marked_blocks()
    assert sum(b.over_http for b in blocks) == 2
    rabbit = [b.code for b in blocks if not b.over_http]
    assert any("rabbitmqctl set_permissions" in code for code in rabbit)
    assert any("towns publish examples/batch.jsonl" in code for code in rabbit)
    assert any("examples/publish_one.py" in code for code in rabbit)


def test_readme_links_stay_inside_the_project():
    targets = re.findall(r"\]\(([^)]+)\)", README)
    assert not [target for target in targets if target.startswith("..")]


def test_the_examples_hold_one_envelope_of_every_type_and_the_batch_holds_them_in_order():
    files = sorted((ROOT / "examples" / "envelopes").glob("*.json"))
    envelopes = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    assert {e["type"] for e in envelopes} == set(EVENT_TYPES)
    for file, envelope in zip(files, envelopes):
        assert file.name.endswith(f"-{envelope['type']}.json")
    lines = (ROOT / "examples" / "batch.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["envelope"] for line in lines] == envelopes
    assert len({e["message_id"] for e in envelopes}) == len(envelopes)


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path):
    with serving(tmp_path) as (_, base):
        yield base


def test_the_http_examples_run_as_written(served):
    http = [b for b in marked_blocks() if b.over_http]
    env = {"TOWNS_URL": served}

    first = json.loads(run(http[0], env))
    assert first == {"application_ref": "SD-2017-901", "call_id": CALL, "status": "submitted",
                     "version": 1, "duplicate": False}

    printed = run(http[1], env).splitlines()
    files = sorted((ROOT / "examples" / "envelopes").glob("*.json"))
    assert printed.count("HTTP 200") == len(files) == len(printed) // 2
    answers = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in printed[::2]}
    assert answers["08-application.approved.json"]["status"] == "approved"
    assert [a["duplicate"] for a in answers.values()] == [True] + [False] * (len(files) - 1)


# -- over RabbitMQ -----------------------------------------------------------------------------


def exchange_exists(url: str) -> bool:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except (AMQPError, OSError):
        return False
    try:
        connection.channel().exchange_declare(t.EXCHANGE, passive=True)
        return True
    except AMQPError:
        return False
    finally:
        if connection.is_open:
            connection.close()


def queue_depth(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(t.QUEUE, passive=True).method.message_count
    finally:
        connection.close()


def replayed(env: dict[str, str], ref: str) -> str:
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "replay", CALL, ref], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    return done.stdout if done.returncode == 0 else ""


def final_status(env: dict[str, str], ref: str) -> str | None:
    found = re.search(r'"status": "(\w+)"', replayed(env, ref))
    return found[1] if found else None


@pytest.fixture
def broker(rabbitmq, tmp_path):  # noqa: F811 - the fixture of tests.amqp_fixtures
    """A vhost of its own with ``towns consume`` on it (as guest, the service's user); the
    names the README's commands are given; everything deleted afterwards."""
    suffix = uuid.uuid4().hex[:10]
    names = {
        "TOWNS_VHOST": f"towns-readme-{suffix}",
        "TOWNS_BROKER": f"{RABBITMQ_HOST}:{RABBITMQ_PORT}",
        "GATEWAY": f"towns-readme-gateway-{suffix}",
        "GATEWAY_PASSWORD": secrets.token_hex(16),
        "PUBLISHER": f"towns-readme-publisher-{suffix}",
        "PUBLISHER_PASSWORD": secrets.token_hex(16),
    }
    vhost = names["TOWNS_VHOST"]
    service_url = amqp_url("guest", "guest", vhost)
    store = {**os.environ, "TOWNS_DATABASE_URL": f"sqlite:///{tmp_path}/consumer.db"}
    store.pop("TOWNS_CONFIG", None)
    consumer = None
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        consumer = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "consume"], cwd=ROOT,
            env={**store, "TOWNS_AMQP_URL": service_url, "TOWNS_RABBITMQ_API": "http://127.0.0.1:9"},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 30
        while not exchange_exists(service_url):
            assert consumer.poll() is None, f"towns consume exited: {consumer.stderr.read()}"
            assert time.monotonic() < deadline, "towns consume declared no topology in 30 s"
            time.sleep(0.2)
        yield names, service_url, store
    finally:
        if consumer is not None:
            stop(consumer, grace=15)
        rabbitmqctl("delete_vhost", vhost, check=False)
        for user in (names["GATEWAY"], names["PUBLISHER"]):
            rabbitmqctl("delete_user", user, check=False)


def test_the_rabbitmq_examples_run_as_written(broker):
    names, service_url, store = broker
    rabbit = [b for b in marked_blocks() if not b.over_http]
    for block in rabbit:
        run(block, names)

    # the users hold what the README says: the write permission on towns.inbound, no more
    listed = rabbitmqctl("list_permissions", "-p", names["TOWNS_VHOST"], "-q").stdout
    for user in (names["GATEWAY"], names["PUBLISHER"]):
        assert f"{user}\t^$\t^towns\\.inbound$\t^$" in listed.splitlines()
    users = rabbitmqctl("list_users", "-q").stdout.splitlines()
    assert f"{names['GATEWAY']}\t[impersonator]" in users
    assert f"{names['PUBLISHER']}\t[]" in users

    # and the service took the gateway's batch: every application reached its end
    deadline = time.monotonic() + 60
    wanted = {"SD-2017-901": "approved", "SD-2017-902": "withdrawn", "SD-2017-903": "rejected"}
    while True:
        got = {ref: final_status(store, ref) for ref in wanted} if queue_depth(service_url) == 0 else {}
        if got == wanted:
            break
        assert time.monotonic() < deadline, f"the consumer's store holds {got}, not {wanted}"
        time.sleep(0.5)
