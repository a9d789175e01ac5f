"""The policy that has the broker dead-letter what expires or is refused in ``towns.inbound``:
its pattern takes that queue only, and where the management API does not answer, a warning
says what to run instead (the consumer goes on)."""

from __future__ import annotations

import logging
import re
import socket

from adapters.amqp import dead_lettering


def test_the_pattern_takes_the_inbound_queue_and_not_the_dead_one():
    pattern = re.compile(dead_lettering.PATTERN)
    assert pattern.search("towns.inbound")
    assert not pattern.search("towns.inbound.dead") and not pattern.search("towns-inbound")
    assert dead_lettering.DEFINITION == {"dead-letter-exchange": "towns.inbound.dlx"}


def test_without_the_management_api_a_warning_says_what_to_run(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.WARNING, "towns.consume")
    done = dead_lettering.ensure_policy("amqp://svc:secret@127.0.0.1:5672/towns-prod",
                                        f"http://guest:pw@127.0.0.1:{port}")
    assert done is False
    [line] = caplog.messages
    assert "rabbitmqctl set_policy -p towns-prod" in line
    assert "towns-inbound-dead-letters" in line and "towns.inbound.dlx" in line
    assert "secret" not in line and "pw" not in line
