"""The HTTP app's shared pieces: JSON errors for Flask's own failures, /healthz when the store
fails, and ``require_roles`` on a blueprint added as a new area would be."""

from __future__ import annotations

import pytest
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from adapters.http import create_app
from adapters.http.app import api_of
from adapters.http.auth import current_principal, require_roles
from domain.errors import UnknownApplication


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["x-towns-error"] == code
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


class LimitSchema(Schema):
    limit = fields.Integer(required=True)


def area() -> Blueprint:
    """A new area, as the read API adds one (beside the real audit area, under a path of its own)."""
    blp = Blueprint("area", __name__, description="a test area")

    @blp.route("/api/v1/area/verify")
    @blp.response(200)
    @require_roles("province", "auditor")
    def verify():
        """Verify"""
        return {"who": current_principal().name}

    @blp.route("/api/v1/area/missing")
    @require_roles()
    def missing():
        raise UnknownApplication("no such application", {"application_ref": "X"})

    @blp.route("/api/v1/area/page")
    @blp.arguments(LimitSchema, location="query")
    @blp.response(200)
    def page(args):
        return args

    @blp.route("/boom")
    def boom():
        raise RuntimeError("secret database password in a traceback")

    return blp


@pytest.fixture
def app(sqlite_towns, config):
    app = create_app(sqlite_towns, config)
    api_of(app).register_blueprint(area())
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(name: str) -> dict:
    return {"Authorization": f"Bearer demo-{name}"}


def test_require_roles_answers_401_403_and_lets_the_roles_in(client):
    response = client.get("/api/v1/area/verify")
    error_of(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error_of(client.get("/api/v1/area/verify", headers=bearer("nobody")), 401, "unauthenticated")
    forbidden = error_of(client.get("/api/v1/area/verify", headers=bearer("operator")), 403, "forbidden")
    assert forbidden["details"] == {"role": "operator", "allowed_roles": ["province", "auditor"]}
    for who in ("province", "auditor"):
        response = client.get("/api/v1/area/verify", headers=bearer(who))
        assert (response.status_code, response.get_json()) == (200, {"who": who})


def test_require_roles_refuses_unknown_roles():
    with pytest.raises(ValueError, match="unknown roles"):
        require_roles("king")


def test_require_roles_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/area/verify"]["get"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(operation["responses"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_a_domain_error_raised_in_any_view_is_contract_json(client):
    error = error_of(client.get("/api/v1/area/missing", headers=bearer("operator")), 404,
                     "unknown_application")
    assert error["details"] == {"application_ref": "X"}


def test_bad_query_arguments_are_schema_invalid_with_field_paths(client):
    error = error_of(client.get("/api/v1/area/page?limit=many"), 422, "schema_invalid")
    assert set(error["details"]) == {"limit"}
    assert client.get("/api/v1/area/page?limit=3").get_json() == {"limit": 3}


def test_flasks_own_errors_are_contract_json(client):
    error_of(client.get("/no/such/page"), 404, "not_found")
    response = client.get("/api/v1/events")
    error_of(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_an_unexpected_error_is_a_500_without_its_traceback(client):
    response = client.get("/boom")
    error = error_of(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "secret" not in text and "Traceback" not in text and "RuntimeError" not in text
    assert error["details"] == {}


def test_healthz_answers_503_with_a_reason_when_the_store_cannot_be_read(client, sqlite_towns, monkeypatch):
    def broken():
        raise OSError("disk on fire")

    monkeypatch.setattr(sqlite_towns.recorder, "max_notification_id", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ok"] is False and "cannot be read" in body["reason"]
    assert "disk on fire" not in response.get_data(as_text=True)
    assert response.headers["x-towns-error"] == body["error"]["code"] == "unavailable"


def test_the_api_documentation_is_browsable_without_a_token(sqlite_towns, config):
    from adapters.http import create_app

    client = create_app(sqlite_towns, config).test_client()
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in text
    assert "cdn" not in text.lower()
