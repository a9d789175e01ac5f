"""A quiet, orderly stop of the processes that hold RabbitMQ connections (``towns consume``,
``towns worker``): SIGTERM or SIGINT is an expected end, said in one INFO line by the process.

While a process closes its connections, pika reports each socket and channel closing under
it, from its I/O loop and from dramatiq's consumer threads, as errors with tracebacks, and
dramatiq says each step of its own stop. None of that is news at a requested stop, so within
``quiet()`` the ``pika`` and ``dramatiq`` loggers say nothing, and a thread that ends on a
connection error is not printed either (``threading.excepthook``); any other failure of a
thread still is. Afterwards both are as they were.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pika.exceptions import AMQPError

LOGGERS = ("pika", "dramatiq")
SILENT = logging.CRITICAL + 1
EXPECTED = (AMQPError, OSError, EOFError)
"""What a connection closing under a thread raises in it."""

log = logging.getLogger("towns")
_lock = threading.Lock()
_depth = 0
_saved: tuple[dict[str, int], object] | None = None


def silence() -> None:
    """Silences pika, dramatiq and threads ending on connection errors from now on, until
    a matching ``restore`` (nested calls count)."""
    global _depth, _saved
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        levels = {name: logging.getLogger(name).level for name in LOGGERS}
        _saved = (levels, threading.excepthook)
        for name in LOGGERS:
            logging.getLogger(name).setLevel(SILENT)
        threading.excepthook = _thread_ended(threading.excepthook)


def restore() -> None:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            return
        _depth -= 1
        if _depth or _saved is None:
            return
        levels, hook = _saved
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        threading.excepthook = hook
        _saved = None


@contextmanager
def quiet() -> Iterator[None]:
    silence()
    try:
        yield
    finally:
        restore()


def _thread_ended(before):
    def hook(args) -> None:
        if isinstance(args.exc_value, EXPECTED):
            log.debug("thread %s ended on %s while stopping", getattr(args.thread, "name", "?"),
                      type(args.exc_value).__name__)
            return
        before(args)
    return hook
