"""The README's commands, run as a newcomer runs them: every shell block marked
``<!-- tested: in order -->`` is run with bash, as written and in the order written, in one shell
session (so a server one block starts in the background and a later block stops, or a variable
one block exports, carries over as in a terminal), and the ``text`` block that follows a block,
where there is one, holds lines its output must contain. At the end nothing the blocks started
may still run.

The session runs in a folder of its own that holds the project's ``.venv`` and ``examples``, on
the demo's database as ``make demo`` leaves it; the blocks are given the names they read: a free
port (``TOWNS_PORT``), a vhost of its own, users of unique names and their passwords
(``TOWNS_VHOST``, ``GATEWAY``, ``PUBLISHER``, ...; the shipped configuration with the
publisher's name as shunde-applicant's ``amqp_user`` in ``TOWNS_CONFIG``), and a fresh PostgreSQL
schema for the consumer (``CONSUMER_DATABASE_URL``). The README's own commands make the vhost
and the users, start ``towns consume`` and publish; the test deletes the vhost and the users
afterwards."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain.lifecycle import EVENT_TYPES
from tests.amqp_fixtures import RABBITMQ_HOST, RABBITMQ_PORT, rabbitmq, rabbitmqctl  # noqa: F401
from tests.e2e.test_serve import free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARK = "<!-- tested: in order -->"
BLOCK = re.compile(
    re.escape(MARK) + r"\n```bash\n(?P<code>.*?)```\n(?:\n```text\n(?P<expected>.*?)```\n)?", re.DOTALL
)
SHELL_BLOCK = re.compile(r"^```(?:sh|bash)\n(?P<code>.*?)^```$", re.DOTALL | re.MULTILINE)
BACKGROUND = re.compile(r"(?<!&)&\s*(#.*)?$", re.MULTILINE)
SEPARATOR = "~~~ readme block "
LEFT_RUNNING = 97
CALL = "GD-ITOWN-2017-B2"


@dataclass(frozen=True)
class Block:
    code: str
    expected: tuple[str, ...]


def marked_blocks() -> list[Block]:
    blocks = [Block(m["code"], tuple((m["expected"] or "").splitlines()))
              for m in BLOCK.finditer(README)]
    assert len(blocks) == README.count(MARK), "a marked block is not a ```bash block"
    return blocks


def first(blocks: list[Block], text: str) -> int:
    found = [i for i, block in enumerate(blocks) if text in block.code]
    assert found, f"no tested block runs {text!r}"
    return found[0]


# -- the order, read without running anything ---------------------------------------------------


def test_every_background_process_a_block_starts_is_stopped_before_the_next_one_starts():
    started: dict[str, int] = {}  # the variable holding a PID: the block that started it
    for number, block in enumerate(marked_blocks()):
        for stopped, start in re.findall(r'kill "\$(\w+)"|^(\w+)=\$!$', block.code, re.MULTILINE):
            if stopped:
                assert stopped in started, f"block {number} stops ${stopped}, which nothing started"
                del started[stopped]
            else:
                assert start not in started, f"block {number} starts ${start} while what block " \
                                             f"{started[start]} started there still runs"
                started[start] = number
    assert not started, f"never stopped: {started}"
    marked = {b.code for b in marked_blocks()}
    for match in SHELL_BLOCK.finditer(README):  # an untested block starts nothing in the background
        assert match["code"] in marked or not BACKGROUND.search(match["code"]), match["code"]


def test_the_guide_makes_the_users_and_starts_the_consumer_before_anyone_publishes():
    blocks = marked_blocks()
    publishing = [first(blocks, "examples/publish_one.py"),
                  first(blocks, "towns publish examples/batch.jsonl")]
    assert first(blocks, "rabbitmqctl add_user \"$GATEWAY\"") < min(publishing)
    assert first(blocks, "rabbitmqctl add_user \"$PUBLISHER\"") < min(publishing)
    assert first(blocks, ".venv/bin/towns consume") < min(publishing)
    assert first(blocks, "rabbitmqctl add_vhost") < first(blocks, ".venv/bin/towns consume")
    marked = {b.code for b in blocks}
    for match in SHELL_BLOCK.finditer(README):  # every command that publishes is run by the test
        if re.search(r"towns publish |publish_one\.py|basic_publish", match["code"]):
            assert match["code"] in marked, f"an untested block publishes:\n{match['code']}"


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


# -- the blocks, run ----------------------------------------------------------------------------


def session_script(blocks: list[Block]) -> str:
    """One bash script: the blocks in order, each after a line naming it (on stdout and stderr);
    at the end, a check that no background job the blocks started is still running."""
    parts = ["set -e -o pipefail"]
    for number, block in enumerate(blocks):
        parts.append(f"printf '\\n{SEPARATOR}%d (%ds)\\n' {number} $SECONDS | tee /dev/stderr")
        parts.append(block.code)
    parts.append(f"printf '\\n{SEPARATOR}end\\n'\n"
                 'for _ in $(seq 100); do [ -z "$(jobs -pr)" ] && break; sleep 0.2; done\n'
                 'if [ -n "$(jobs -pr)" ]; then\n'
                 f'  echo "left running: $(jobs -pr)" >&2; exit {LEFT_RUNNING}\n'
                 'fi\n')
    return "\n".join(parts)


def outputs(stdout: str, count: int) -> list[str]:
    """What each block printed on stdout (fewer than ``count`` when the session stopped early)."""
    pieces = re.split(rf"\n{re.escape(SEPARATOR)}(?:\d+ \(\d+s\)|end)\n", stdout)
    return pieces[1:count + 1]


@pytest.fixture
def newcomer(rabbitmq, postgres_schema_url, tmp_path):  # noqa: F811 - tests.amqp_fixtures
    """The folder and the environment the blocks run in; the vhost and users deleted after."""
    folder = tmp_path / "clone"
    folder.mkdir()
    for name in (".venv", "examples"):
        (folder / name).symlink_to(ROOT / name)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("TOWNS_") or key.startswith("TOWNS_TEST_")}
    done = subprocess.run([str(folder / ".venv" / "bin" / "towns"), "demo", "--fresh"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr  # `make demo`
    suffix = uuid.uuid4().hex[:10]
    names = {
        "TOWNS_PORT": str(free_port()),
        "TOWNS_VHOST": f"towns-readme-{suffix}",
        "TOWNS_BROKER": f"{RABBITMQ_HOST}:{RABBITMQ_PORT}",
        "SERVICE_USER": "guest", "SERVICE_PASSWORD": "guest",
        "GATEWAY": f"towns-readme-gateway-{suffix}", "GATEWAY_PASSWORD": secrets.token_hex(16),
        "PUBLISHER": f"towns-readme-publisher-{suffix}",
        "PUBLISHER_PASSWORD": secrets.token_hex(16),
        "CONSUMER_DATABASE_URL": postgres_schema_url,
    }
    # The publisher's user is the `amqp_user` of shunde-applicant; users are the broker's, not the
    # vhost's, so here under a unique name, in a copy of the shipped configuration.
    shipped = (ROOT / "adapters" / "towns.toml").read_text(encoding="utf-8")
    assert shipped.count('amqp_user = "shunde-applicant"') == 1
    config = tmp_path / "towns.toml"
    config.write_text(shipped.replace('amqp_user = "shunde-applicant"',
                                      f'amqp_user = "{names["PUBLISHER"]}"'), encoding="utf-8")
    names["TOWNS_CONFIG"] = str(config)
    try:
        yield folder, {**env, **names}
    finally:
        rabbitmqctl("delete_vhost", names["TOWNS_VHOST"], check=False)
        for user in (names["GATEWAY"], names["PUBLISHER"]):
            rabbitmqctl("delete_user", user, check=False)


def run_in_order(folder: Path, env: dict[str, str], blocks: list[Block]) -> list[str]:
    """Runs the session; its output goes to files, which a process left running cannot hold
    open as it would a pipe. Whatever is still running afterwards is stopped."""
    out, err = folder.parent / "session.out", folder.parent / "session.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        session = subprocess.Popen(["bash", "-c", session_script(blocks)], cwd=folder, env=env,
                                   stdout=stdout, stderr=stderr, text=True, start_new_session=True)
    try:
        session.wait(timeout=150)
    except subprocess.TimeoutExpired:
        session.kill()
        session.wait()
    finally:
        try:
            os.killpg(session.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    stdout, stderr = out.read_text(), err.read_text()
    printed = outputs(stdout, len(blocks))
    if session.returncode != 0:
        logs = "".join(f"\n--- {log.name}:\n{log.read_text()[-2000:]}"
                       for log in folder.glob("*.log"))
        failed = "(the end)" if session.returncode == LEFT_RUNNING else blocks[len(printed) - 1].code
        pytest.fail(f"exit {session.returncode} in block {len(printed) - 1}:\n{failed}\n"
                    f"--- stdout:\n{stdout[-3000:]}\n--- stderr:\n{stderr[-4000:]}{logs}")
    for block, output in zip(blocks, printed):
        for line in block.expected:
            assert line in output.splitlines(), f"{block.code}\nexpected line {line!r} in:\n{output}"
    return printed


def test_the_readme_blocks_run_in_order_as_written(newcomer):
    folder, env = newcomer
    blocks = marked_blocks()
    printed = run_in_order(folder, env, blocks)

    # over HTTP: the guide's submission on its own empty database, then every envelope
    submitted = printed[next(i for i, block in enumerate(blocks) if "$TOWNS_URL" in block.code
                             and "@examples/envelopes/01-application.submitted.json" in block.code)]
    assert json.loads(submitted) == {"application_ref": "SD-2017-901", "call_id": CALL,
                                     "status": "submitted", "version": 1, "duplicate": False}
    lines = printed[first(blocks, "for file in examples/envelopes/*.json")].splitlines()
    files = sorted((ROOT / "examples" / "envelopes").glob("*.json"))
    assert lines.count("HTTP 200") == len(files) == len(lines) // 2
    answers = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in lines[::2]}
    assert answers["08-application.approved.json"]["status"] == "approved"
    assert [a["duplicate"] for a in answers.values()] == [True] + [False] * (len(files) - 1)

    # over RabbitMQ: the users hold what the README says, no more
    listed = rabbitmqctl("list_permissions", "-p", env["TOWNS_VHOST"], "-q").stdout.splitlines()
    assert f"{env['GATEWAY']}\t^$\t^towns\\.inbound$\t^$" in listed
    replies = "^replies\\.shunde-applicant$"
    assert f"{env['PUBLISHER']}\t{replies}\t^towns\\.inbound$\t{replies}" in listed
    users = rabbitmqctl("list_users", "-q").stdout.splitlines()
    assert f"{env['GATEWAY']}\t[impersonator]" in users
    assert f"{env['PUBLISHER']}\t[]" in users
