"""`towns serve` as an operator runs it: waitress on a free port, a submission over HTTP, SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from tests.factories import encode, envelope

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, body: bytes | None = None, token: str | None = None) -> tuple[int, Message, dict]:
    """Status, headers and JSON body of one request; error statuses are answers, not raises."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, json.load(error)


@contextlib.contextmanager
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """``towns serve`` on a fresh SQLite database and the shipped configuration, healthy: the
    process and its base URL; stopped (SIGTERM, then SIGKILL) if still running at the end."""
    port = free_port()
    env = {**os.environ, "TOWNS_DATABASE_URL": f"sqlite:///{tmp_path}/towns.db"}
    env.pop("TOWNS_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base)
        yield process, base
    finally:
        stop(process)


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds, to a process still running."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path) as running:
        yield running


def wait_until_healthy(process: subprocess.Popen, base: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"towns serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            if request(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    pytest.fail(f"towns serve did not answer /healthz within {seconds}s")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_ingests_over_http_and_stops_cleanly(server, stop):
    process, base = server
    status, _, body = request(f"{base}/healthz")
    assert (status, body) == (200, {"ok": True})

    submission = encode(envelope("application.submitted", message_id="serve-1"))
    status, _, body = request(f"{base}/api/v1/events", submission, token="demo-shunde-applicant")
    assert status == 200
    assert body == {"application_ref": "SD-2017-001", "call_id": "GD-ITOWN-2017-B2",
                    "status": "submitted", "version": 1, "duplicate": False}

    status, headers, body = request(f"{base}/api/v1/events", submission)
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    assert headers["x-towns-error"] == "unauthenticated"
    assert headers["WWW-Authenticate"].startswith("Bearer")

    process.send_signal(stop)
    assert process.wait(timeout=10) == 0
    stderr = process.stderr.read()
    assert f"listening on {base}" in stderr
    assert "Traceback" not in stderr
