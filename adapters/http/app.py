"""``create_app(towns, config)``: the Flask app of the HTTP edge.

One flask-smorest ``Api`` documents every area in OpenAPI 3, served at
``GET /api/v1/openapi.json`` (no UI, so no CDN assets). Each area is a module with a
``flask_smorest.Blueprint`` named ``blp``; to add one, write the module and list its blueprint in
``BLUEPRINTS``. Views reach the service with ``context.current_towns()`` (the read models with
``context.current_runner()``), guard themselves with
``auth.require_roles``, and refuse by raising a ``DomainError``: ``errors`` renders it.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from adapters.config import Config
import adapters.http.audit as audit
import adapters.http.deadline_report as deadline_report
import adapters.http.docs as docs
import adapters.http.events as events
import adapters.http.health as health
import adapters.http.metrics as metrics
import adapters.http.ops as ops
import adapters.http.page as page
import adapters.http.reads as reads
import adapters.http.session as session
from adapters.http.auth import SECURITY_SCHEME
from adapters.http.context import API_EXTENSION, install
from adapters.http.context import api_of  # noqa: F401 - where callers of app find it
from adapters.http.errors import ErrorSchema, http_error_response, register_error_handlers
from domain.service import Towns
from projections.runner import ProjectionRunner

API_TITLE = "towns"
API_VERSION = "1"
OPENAPI_VERSION = "3.0.3"

BLUEPRINTS = (health.blp, events.blp, reads.blp, deadline_report.blp, audit.blp)
"""Every area of the app, in the order the OpenAPI document lists them."""
BLUEPRINTS += (ops.blp,)  # the operators' area: /api/v1/ops/*
BLUEPRINTS += (session.blp,)  # GET /api/v1/session: the caller and its panels
BLUEPRINTS += (metrics.blp,)  # GET /metrics, no token


class TownsApi(Api):
    """flask-smorest's ``Api`` with the contract's error shape, in the document and on the wire."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return http_error_response(error)


def create_app(towns: Towns, config: Config, runner: ProjectionRunner | None = None) -> Flask:
    """The app serving ``towns`` to the principals of ``config``; shares ``towns`` across threads.

    Reads come from ``runner``'s read models (a runtime passes its own); without one, the app
    builds a runner on ``towns``' database at its first read.
    """
    app = Flask("towns")
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION=OPENAPI_VERSION,
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=events.MAX_REQUEST_BYTES,
    )
    app.json.sort_keys = False
    app.url_map.converters["ref"] = reads.RefConverter
    install(app, towns, config, runner)
    api = TownsApi(app)
    api.spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "description": "a principal's token"}
    )
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(page.bp)  # GET /, the web page: a plain Flask blueprint
    app.register_blueprint(docs.bp)  # GET /api/v1/docs, the OpenAPI document to read
    register_error_handlers(app)
    app.extensions[API_EXTENSION] = api
    return app

