"""``GET /api/v1/docs``: the OpenAPI document as a page to read, rendered on the server from the
same spec as ``/api/v1/openapi.json`` (no Swagger UI: its assets would come from a CDN)."""

from __future__ import annotations

from html import escape

from flask import Blueprint, Response, current_app

from adapters.http.context import api_of

bp = Blueprint("docs", __name__)

STYLE = (
    "body{font:14px/1.5 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}"
    "h2{margin-top:2em;border-bottom:1px solid #ccc}code{background:#f3f3f3;padding:0 .3em}"
    ".m{display:inline-block;min-width:4.5em;font-weight:bold}"
    "table{border-collapse:collapse;margin:.4em 0 1em}td,th{border:1px solid #ddd;padding:.2em .6em;"
    "text-align:left;vertical-align:top}"
)


@bp.get("/api/v1/docs")
def docs() -> Response:
    spec = api_of(current_app).spec.to_dict()
    parts = [f"<!doctype html><meta charset=utf-8><title>{escape(spec['info']['title'])} API</title>",
             f"<style>{STYLE}</style>",
             f"<h1>{escape(spec['info']['title'])} API {escape(spec['info']['version'])}</h1>",
             '<p>The machine-readable document: <a href="/api/v1/openapi.json">'
             "/api/v1/openapi.json</a>. Every endpoint but this page, <code>/</code>, "
             "<code>/healthz</code>, <code>/metrics</code> and the document needs "
             "<code>Authorization: Bearer &lt;token&gt;</code>.</p>"]
    for path, operations in sorted(spec.get("paths", {}).items()):
        for method, op in operations.items():
            if method == "parameters":
                continue
            parts.append(_operation(path, method, op))
    return Response("".join(parts), mimetype="text/html")


def _operation(path: str, method: str, op: dict) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p.get('in', ''))}</td>"
        f"<td>{'yes' if p.get('required') else ''}</td>"
        f"<td>{escape(p.get('description', ''))}</td></tr>"
        for p in op.get("parameters", [])
    )
    answers = "".join(
        f"<tr><td>{escape(code)}</td><td>{escape(r.get('description', ''))}</td></tr>"
        for code, r in sorted(op.get("responses", {}).items())
    )
    table = (f"<table><tr><th>parameter</th><th>in</th><th>required</th><th>meaning</th></tr>"
             f"{rows}</table>") if rows else ""
    return (f"<h2><span class=m>{method.upper()}</span> <code>{escape(path)}</code></h2>"
            f"<p>{escape(op.get('summary', ''))}</p><p>{escape(op.get('description', ''))}</p>"
            f"{table}<table><tr><th>status</th><th>answer</th></tr>{answers}</table>")
