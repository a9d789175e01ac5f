"""``adapters.amqp.shutdown.quiet``: while a process stops, pika's and dramatiq's loggers say
nothing and a thread ending on a connection error prints no traceback, while any other failure
of a thread still does; afterwards all is as before."""

from __future__ import annotations

import logging
import threading

from pika.exceptions import StreamLostError

from adapters.amqp import shutdown


def run_thread(error: BaseException) -> None:
    def fail() -> None:
        raise error

    thread = threading.Thread(target=fail, name="doomed")
    thread.start()
    thread.join()


def test_pika_and_dramatiq_are_silent_while_stopping_and_as_before_after(caplog):
    caplog.set_level(logging.INFO)
    hook = threading.excepthook
    with shutdown.quiet():
        logging.getLogger("pika.adapters.blocking_connection").error("socket closed")
        logging.getLogger("dramatiq.worker.Worker").info("Shutting down...")
        logging.getLogger("towns.worker").info("towns worker: stopped")
    assert caplog.messages == ["towns worker: stopped"]
    assert threading.excepthook is hook
    logging.getLogger("pika").error("after the stop")
    assert caplog.messages[-1] == "after the stop"


def test_a_thread_ending_on_a_connection_error_is_not_reported_any_other_failure_is(monkeypatch):
    reported: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(repr(args.exc_value)))
    with shutdown.quiet():
        run_thread(StreamLostError("Transport indicated EOF"))
        assert reported == []
        run_thread(ZeroDivisionError("a fault"))
        assert reported == ["ZeroDivisionError('a fault')"]
