"""``GET /metrics``: Prometheus metrics in the text format; needs no token.

This process's counters and histograms (the ingest path of ``POST /api/v1/events``, and what
else runs in it), then figures read from the store at scrape time: each projection's lag and
position, open dead letters, parked messages. Names and labels: ``adapters.ops.metrics``.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from adapters.http.context import current_towns
from adapters.http.ops_blueprint import ops_runner
from adapters.store.inbound_records import InboundRecords
from adapters.ops import metrics

blp = Blueprint("metrics", __name__, description="Prometheus metrics")


@blp.route("/metrics")
@blp.doc(responses={"200": {
    "description": "the Prometheus text format (version 0.0.4)",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}})
def get_metrics():
    """Prometheus metrics

    Counters and histograms of this process, and gauges read from the store at scrape time.
    """
    body = metrics.exposition(ops_runner(), InboundRecords(current_towns()))
    return Response(body, status=200, content_type=metrics.CONTENT_TYPE)
