"""Bearer-token authentication and role checks (CONTRACT.md §1 principals, §3 roles).

``Authorization: Bearer <token>`` names a principal of the configuration (``Config.by_token``).

- ``principal_from_request()``: the caller, or None without a valid token (the ingest path then
  answers ``unauthenticated`` itself, in its own order of refusals).
- ``authorise(*roles)``: the caller, or raises ``Unauthenticated`` (401) / ``Forbidden`` (403);
  the app's error handlers render both in the contract's JSON shape.
- ``require_roles(*roles)``: the same as a view decorator; the view reads the caller with
  ``current_principal()``. It also documents bearer security and the 401/403 answers in OpenAPI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from copy import deepcopy
from typing import TypeVar

from flask import g, request

from adapters.http.context import current_config
from domain.errors import Forbidden, Unauthenticated
from domain.principals import ROLES, Principal

SECURITY_SCHEME = "bearerAuth"
"""The name of the bearer security scheme in the OpenAPI document."""
BEARER_SECURITY = [{SECURITY_SCHEME: []}]
REALM = "towns"

View = TypeVar("View", bound=Callable)


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def principal_from_request() -> Principal | None:
    """The principal whose token the request carries; None when missing or unknown."""
    token = bearer_token()
    return current_config().by_token(token) if token else None


def challenge() -> str:
    """The ``WWW-Authenticate`` value for a 401: says whether a token was sent but refused."""
    if "Authorization" in request.headers:
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'


def authorise(*roles: str) -> Principal:
    """The authenticated caller if its role is one of ``roles`` (any role when none are given).

    Raises ``Unauthenticated`` without a valid token and ``Forbidden`` for another role.
    """
    principal = principal_from_request()
    if principal is None:
        raise Unauthenticated("a valid bearer token is required")
    if roles and principal.role not in roles:
        raise Forbidden(
            f"the role {principal.role} may not use this endpoint (only {', '.join(roles)})",
            {"role": principal.role, "allowed_roles": list(roles)},
        )
    g.principal = principal
    return principal


def current_principal() -> Principal | None:
    """The principal ``require_roles`` or ``authorise`` admitted for the current request."""
    return g.get("principal")


def require_roles(*roles: str) -> Callable[[View], View]:
    """View decorator: 401 without a valid token, 403 (``forbidden``) outside ``roles``.

    Put it closest to the view function (below ``@blp.route`` / ``@blp.response``)::

        @blp.route("/api/v1/audit/verify")
        @blp.response(200, VerifySchema)
        @require_roles("province", "auditor")
        def verify():
            who = current_principal()
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; roles are {ROLES}")

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            authorise(*roles)
            return view(*args, **kwargs)

        _document(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorator


def _document(wrapper: Callable) -> None:
    """Adds bearer security and the 401/403 answers to flask-smorest's documentation of a view
    (the structure ``Blueprint.doc`` and ``Blueprint.alt_response`` store)."""
    apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    apidoc.setdefault("manual_doc", {})["security"] = BEARER_SECURITY
    responses = apidoc.setdefault("response", {}).setdefault("responses", {})
    responses.setdefault(401, []).append("UNAUTHORIZED")
    responses.setdefault(403, []).append("FORBIDDEN")
    wrapper._apidoc = apidoc  # type: ignore[attr-defined]
