"""The HTTP edge (CONTRACT.md §2 "Over HTTP", §3): one Flask app, one blueprint per area.

``create_app(towns, config)`` builds the app (``adapters.http.app``); ``serve`` runs it under
waitress (``adapters.http.server``). Areas: ``health`` (``/healthz``), ``events``
(``POST /api/v1/events``). Shared pieces for new areas: ``auth`` (bearer tokens,
``require_roles``), ``errors`` (the contract's JSON error shape), ``context`` (the service and the
configuration of the running app).
"""

from adapters.http.app import create_app

__all__ = ["create_app"]
