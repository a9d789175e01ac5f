"""SIGTERM and SIGINT stop ``towns consume`` and ``towns worker`` quietly: each exits 0 and says
so in one INFO line, with no traceback and no ERROR from pika or dramatiq as their connections
close. Both run as in production, on RabbitMQ (a virtual host of their own) and PostgreSQL,
having applied and projected a few messages first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import envelope
from tests.integration.rabbit import (
    Rabbit,
    Store,
    eventually,
    message,
    rabbit,  # noqa: F401 - fixture
    store,  # noqa: F401 - fixture
)

ROOT = Path(__file__).resolve().parents[2]


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._out = log.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT,
                                        env=env, stdin=subprocess.DEVNULL, stdout=self._out,
                                        stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[str]:
        return self.log().splitlines()

    def stop(self, signum: int) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=60)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._out.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_consume_and_worker_stop_on_a_signal_with_one_info_line_and_no_traceback(
    rabbit: Rabbit, store: Store, tmp_path, signum
):
    rabbit.purge()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    env.update(TOWNS_AMQP_URL=rabbit.url, TOWNS_DATABASE_URL=store.url, PYTHONUNBUFFERED="1")
    consumer = Process(["consume"], env, tmp_path / "consume.log")
    worker = Process(["worker", "--tick", "1"], env, tmp_path / "worker.log")
    try:
        # Given both running, messages applied and the overdue deadline check run
        rabbit.publish(*(message(envelope("application.submitted", f"QS-{i}"), "shunde-applicant")
                         for i in range(5)))
        eventually(lambda: all(store.types(f"QS-{i}") for i in range(5)), timeout=60,
                   what="the consumer applies the messages")
        eventually(lambda: "deadline check GD-ITOWN-2017-B2:" in worker.log(), timeout=60,
                   what="the worker runs the catch-up check")
        before = {p: len(p.lines()) for p in (consumer, worker)}
        # When each gets the signal
        codes = {p: p.stop(signum) for p in (consumer, worker)}
    finally:
        consumer.kill()
        worker.kill()
    # then each exits 0, having said so in one INFO line, with no traceback and no ERROR
    for process, last in (consumer, "consumer stopped"), (worker, "towns worker: stopped"):
        text = process.log()
        assert codes[process] == 0, text
        assert "Traceback" not in text and " ERROR " not in text, text
        after = process.lines()[before[process]:]
        assert len(after) == 1 and " INFO " in after[0] and after[0].endswith(last), after
