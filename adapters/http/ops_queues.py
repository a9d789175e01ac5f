"""``GET /api/v1/ops/queues``: the queue view (``adapters.ops.queues``), part of the operators'
area (``adapters.http.ops``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from adapters.amqp import topology as t
from adapters.http.auth import require_roles
from adapters.http.context import current_towns
from adapters.http.ops_blueprint import blp, ops_runner
from adapters.ops import queues
from adapters.store.inbound_records import InboundRecords
from domain.principals import OPERATOR


class QueueSchema(Schema):
    name = fields.String(required=True)
    ready = fields.Integer(allow_none=True, metadata={"description": "messages ready"})
    unacknowledged = fields.Integer(allow_none=True, metadata={"description": "null from AMQP"})
    consumers = fields.Integer(allow_none=True)
    publish_rate = fields.Float(allow_none=True, metadata={"description": "messages/s; null from AMQP"})
    deliver_rate = fields.Float(allow_none=True, metadata={"description": "messages/s; null from AMQP"})
    ack_rate = fields.Float(allow_none=True, metadata={"description": "messages/s; null from AMQP"})
    exists = fields.Boolean(allow_none=True, metadata={"description": "null when unknown"})


class ProjectionLagSchema(Schema):
    name = fields.String(required=True)
    position = fields.Integer(required=True)
    lag = fields.Integer(required=True, metadata={"description": "events not projected yet"})
    head = fields.Integer(metadata={"description": "the log's last position"})
    set_aside = fields.Integer(metadata={"description": "events set aside and not taken since"})


class QueueViewSchema(Schema):
    source = fields.String(required=True, validate=validate.OneOf([queues.MANAGEMENT_API, queues.AMQP]))
    queues = fields.List(fields.Nested(QueueSchema), required=True)
    projections = fields.List(fields.Nested(ProjectionLagSchema), required=True)
    parked = fields.Integer(required=True, metadata={"description": "messages parked now"})
    dead_letters_open = fields.Integer(metadata={"description": "dead letters not re-driven"})
    vhost = fields.String(allow_none=True)
    note = fields.String(allow_none=True, metadata={"description": "what the view could not tell, and why"})


@blp.route("/api/v1/ops/queues")
@require_roles(OPERATOR)
@blp.response(200, QueueViewSchema, description="the queue view")
def get_queues():
    """The queue view

    Ready, unacknowledged, consumers and rates of every queue of the service, from RabbitMQ's
    management API or, when it does not answer, from AMQP (ready and consumers only; the note
    says why); each projection's lag; parked messages; open dead letters.
    """
    return queues.queue_view(t.amqp_url(), queues.api_url(), ops_runner(),
                             InboundRecords(current_towns()))
