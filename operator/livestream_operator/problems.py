"""RFC 9457 problem details for HTTP APIs."""

from __future__ import annotations

from typing import Any

from aiohttp import web

PROBLEM_JSON = "application/problem+json"
_BASE = "https://livestream-operator.dev/problems/"


def problem(status: int, slug: str, title: str, detail: str, **extensions: Any) -> web.Response:
    """A problem+json response; `type` names a stable problem slug."""
    body = {"type": _BASE + slug, "title": title, "status": status, "detail": detail}
    body.update(extensions)
    return web.json_response(body, status=status, content_type=PROBLEM_JSON)
