"""The service as deployed, for the system benchmarks (`ingest_system.py`, `visible.py`,
`soak.py`): `towns consume`, `towns worker` and `towns serve` run as the README starts them
(`.venv/bin/towns …` subprocesses, one environment for the three), on a RabbitMQ vhost and a
PostgreSQL schema of their own, both removed afterwards.

- The database is `TOWNS_BENCH_SYSTEM_POSTGRES_URL` (default the database `towns_bench` on the
  loopback server, created when missing); every run gets a fresh schema in it.
- The configuration is the shipped one (`adapters/towns.toml`: its principals, tokens and AMQP
  users) with the 2017 call's cutoff moved to 2099: a call still open, so the worker's deadline
  scheduler has nothing due and a submission is never refused as late, however long a run.
- Tree heads are signed (a key made with `towns audit keygen`) and witnessed in a file and in the
  stream `towns.checkpoints`, as in production.
- The processes are stopped (SIGTERM, then SIGKILL after 30 s) when the benchmark leaves the
  `System` block, by an exception, Ctrl-C or SIGTERM; each is also told to stop by the kernel
  if the benchmark itself dies (``PR_SET_PDEATHSIG``), so no consumer is left behind.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path

import pika

from adapters.amqp import topology
from adapters.http.cursor import encode_cursor
from bench.rabbit import vhost
from bench.store import Store, bench_schema
from bench.stream import Publisher, queue_info
from bench.visibility import rss_kib
from tests.factories import CALL

ROOT = Path(__file__).resolve().parents[1]
TOWNS = ROOT / ".venv" / "bin" / "towns"
RABBITMQ_API = os.environ.get("TOWNS_BENCH_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672")
READER_TOKEN = "demo-auditor"  # reads every application
OPEN_CUTOFF = "2099-12-31T23:59:59+08:00"

# -- the processes ----------------------------------------------------------------------------

def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Stop(BaseException):
    """SIGTERM, raised where the benchmark is, so that its clean-up runs."""


def _on_sigterm(signum, frame):
    raise _Stop()


class System:
    """A vhost, a schema, a folder; `start(...)` starts the named processes and waits until
    each is ready; leaving the block stops them and removes everything."""

    def __init__(self, prefix: str = "sys") -> None:
        self.prefix = prefix
        self.procs: dict[str, subprocess.Popen] = {}
        self._stack = ExitStack()

    def __enter__(self) -> System:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            self.folder = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="towns-bench-")))
            self.vhost = self._stack.enter_context(vhost(f"towns-{self.prefix}"))
            self.db = self._stack.enter_context(bench_schema(self.prefix))
            self.config = self.folder / "towns.toml"
            shipped = (ROOT / "adapters" / "towns.toml").read_text()
            self.config.write_text(re.sub(r'(?m)^cutoff = "[^"]*"', f'cutoff = "{OPEN_CUTOFF}"', shipped))
            (self.folder / "witness").mkdir()
            self.port = free_port()
            self.env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")},
                "TOWNS_DATABASE_URL": self.db,
                "TOWNS_AMQP_URL": self.vhost.service_url,
                "TOWNS_CONFIG": str(self.config),
                "TOWNS_RABBITMQ_API": RABBITMQ_API,
                "TOWNS_SIGNING_KEY": str(self.folder / "signing.pem"),
                "TOWNS_WITNESS_DIR": str(self.folder / "witness"),
            }
            os.environ["TOWNS_CONFIG"] = str(self.config)  # this process's principals, the same
            subprocess.run([str(TOWNS), "audit", "keygen", str(self.folder / "signing.pem")],
                           env=self.env, check=True, capture_output=True, timeout=60)
            self.store = Store(self.db)
            self._stack.callback(self.store.close)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop_all()
        finally:
            self._stack.close()
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self._previous)

    # processes

    def start(self, *names: str) -> None:
        for name in names:
            args = {"consume": ["consume"], "worker": ["worker"],
                    "serve": ["serve", "--port", str(self.port)]}[name]
            log = open(self.folder / f"{name}.log", "ab")
            self.procs[name] = subprocess.Popen(
                [str(TOWNS), *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            log.close()
        for name in names:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_alive(name)
            if self._ready(name):
                return
            time.sleep(0.2)
        raise TimeoutError(f"towns {name} not ready after {timeout:.0f} s: {self.log_tail(name)}")

    def _ready(self, name: str) -> bool:
        if name == "serve":
            try:
                status, _ = self.api("/healthz", token=None)
                return status == 200
            except OSError:
                return False
        queue = {"consume": topology.QUEUE, "worker": "towns.projections"}[name]
        info = queue_info(self.vhost.service_url, queue)
        return bool(info and info.get("consumers", 0) >= 1)

    def check_alive(self, name: str | None = None) -> None:
        for n, proc in self.procs.items():
            if (name is None or n == name) and proc.poll() is not None:
                raise RuntimeError(f"towns {n} exited with {proc.returncode}: {self.log_tail(n)}")

    def log_tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join((self.folder / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def stop_all(self) -> None:
        for name in ("consume", "serve", "worker"):
            self.stop(name)
        for name in list(self.procs):
            self.stop(name)

    def rss(self) -> dict[str, int]:
        return {name: rss_kib(proc.pid) for name, proc in self.procs.items()}

    # the broker

    def declare(self) -> None:
        """The exchanges and queues as `towns consume` declares them (TOWNS_QUEUE_TYPE)."""
        connection = pika.BlockingConnection(pika.URLParameters(self.vhost.service_url))
        topology.declare(connection.channel())
        connection.close()

    def queue(self, name: str) -> dict:
        return queue_info(self.vhost.service_url, name) or {}

    def publisher(self) -> Publisher:
        return Publisher(self.vhost.gateway_url)

    # the read API

    _local = threading.local()

    def api(self, path: str, token: str | None = READER_TOKEN) -> tuple[int, object]:
        """GET on the server, over a kept-alive connection per thread; (status, JSON)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "port", None) != self.port:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._local.port = self.port
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            conn.request("GET", path, headers=headers)
            answer = conn.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._local.conn = None
            raise
        return answer.status, (json.loads(body) if body else None)

    def application(self, ref: str) -> dict | None:
        status, body = self.api(f"/api/v1/applications/{CALL}/{urllib.parse.quote(ref, safe='')}")
        return body if status == 200 else None

    def summaries_after(self, after_ref: str | None, limit: int) -> list[dict]:
        """The summaries list (the page's pipeline and applications panels read it), from the
        first ref after ``after_ref``: one page of ``limit``."""
        query = {"call_id": CALL, "limit": str(limit)}
        if after_ref is not None:
            query["cursor"] = encode_cursor((CALL, after_ref))
        status, body = self.api(f"/api/v1/applications?{urllib.parse.urlencode(query)}")
        if status != 200:
            raise RuntimeError(f"summaries answered {status}: {body}")
        return body["items"]

    def projections_behind(self) -> int:
        """How far the slowest read model is behind the log's head (from the store)."""
        if not self.store.table_exists("projection_positions"):
            return -1
        head = self.store.head()
        lowest = self.store.one("SELECT min(position), count(*) FROM projection_positions")
        if not lowest or lowest[1] < 4:
            return head
        return head - lowest[0]


