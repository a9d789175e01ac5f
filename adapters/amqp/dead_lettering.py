"""What the broker itself dead-letters (CONTRACT.md §2): a message that expires, or that the
broker refuses (a length limit's overflow, a delivery limit), while it waits in
``towns.inbound`` goes to ``towns.inbound.dlx`` and so to ``towns.inbound.dead``, with the
reason in RabbitMQ's own ``x-death`` header, never dropped.

Set by a policy rather than by the queue's arguments, so that a queue declared before needs no
new declaration (RabbitMQ refuses to declare a queue again with other arguments). Such a message
keeps its routing key (the envelope's type), which the dead queue's binding (``#``) takes. The
pattern names ``towns.inbound`` alone: the dead queue, whose messages must never expire or go
anywhere else, is not caught. The consumer sets it as it starts, through the management API
(``TOWNS_RABBITMQ_API``); where that does not answer or refuses, a warning says what to run.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from urllib.parse import quote

import pika

from adapters.amqp import endpoints, topology as t
from adapters.ops import management_api
from adapters.ops.management_api import ManagementApiError

log = logging.getLogger("towns.consume")

POLICY = "towns-inbound-dead-letters"
PATTERN = "^" + re.escape(t.QUEUE) + "$"
DEFINITION = {"dead-letter-exchange": t.DEAD_EXCHANGE}
API_TIMEOUT = 3.0


def policy_body() -> dict:
    return {"pattern": PATTERN, "definition": DEFINITION, "apply-to": "queues", "priority": 0}


def ensure_policy(amqp_url: str, api_url: str | None = None) -> bool:
    """Sets the policy on the vhost of ``amqp_url`` unless it is there already; whether it is
    there now. Never fails: a warning says what to run instead."""
    vhost = pika.URLParameters(endpoints.first(amqp_url)).virtual_host
    api = api_url or management_api.api_url()
    path = f"/api/policies/{quote(vhost, safe='')}/{quote(POLICY, safe='')}"
    try:
        if _current(api, path) != policy_body():
            management_api.request(api, path, API_TIMEOUT, "PUT", policy_body())
            log.info("policy %s set on vhost %r: what expires or is refused in %s goes to %s",
                     POLICY, vhost, t.QUEUE, t.DEAD_EXCHANGE)
        return True
    except ManagementApiError as error:
        log.warning("could not set the policy that dead-letters what expires or is refused in %s "
                    "(%s); messages that expire there are dropped until it is set: run %s",
                    t.QUEUE, error, rabbitmqctl_line(vhost))
        return False


def rabbitmqctl_line(vhost: str) -> str:
    """The command that sets the same policy."""
    return " ".join([
        "rabbitmqctl", "set_policy", "-p", shlex.quote(vhost), "--apply-to", "queues",
        "--priority", "0", POLICY, shlex.quote(PATTERN), shlex.quote(json.dumps(DEFINITION)),
    ])


def _current(api: str, path: str) -> dict | None:
    try:
        found = management_api.request(api, path, API_TIMEOUT)
    except ManagementApiError as error:
        if error.status == 404:
            return None
        raise
    if not isinstance(found, dict):
        return None
    return {key: found.get(key) for key in ("pattern", "definition", "apply-to", "priority")}
