"""RabbitMQ's management HTTP API (``TOWNS_RABBITMQ_API``): one request at a time, its
credentials taken from the URL and never shown in an error."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_API_URL = "http://guest:guest@127.0.0.1:15672"


class ManagementApiError(Exception):
    """The management API did not answer usefully; the message says why, without credentials.
    ``status``: the HTTP status it answered, if it answered one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_url() -> str:
    """``TOWNS_RABBITMQ_API``, or RabbitMQ's default on loopback."""
    return os.environ.get("TOWNS_RABBITMQ_API") or DEFAULT_API_URL


def request(url: str, path: str, timeout: float, method: str = "GET", body: Any = None) -> Any:
    """The JSON the API answers to ``method path`` (None for an empty answer)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise ManagementApiError(f"TOWNS_RABBITMQ_API is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ManagementApiError(f"TOWNS_RABBITMQ_API is not an http(s) URL ({parts.scheme!r})")
    where = parts.netloc.rpartition("@")[2]  # never the credentials, in a note or a log
    bare = urlunsplit((parts.scheme, where, parts.path.rstrip("/") + path, "", ""))
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(bare, data=data, method=method,
                                  headers={"Accept": "application/json"})
    if data is not None:
        sent.add_header("Content-Type", "application/json")
    user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    sent.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(sent, timeout=timeout) as response:
            answer = response.read()
    except urllib.error.HTTPError as error:
        raise ManagementApiError(
            f"the management API at {where} answered {error.code} {error.reason}", error.code) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise ManagementApiError(f"the management API at {where} did not answer ({reason})") from None
    if not answer.strip():
        return None
    try:
        return json.loads(answer)
    except ValueError:
        raise ManagementApiError(f"the management API at {where} answered something not JSON") from None
