"""RFC 9457 problem details: the one shape of every refusal the project's HTTP
APIs give (receiver, users' API, backends, warm workers, health endpoints).

Standard library only: the media processes' endpoint answers with it without
loading aiohttp. The aiohttp response is http_edge.problem().
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://livestream-operator.dev/problems/"


def document(status: int, slug: str, title: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """The problem document; `type` names a stable problem slug."""
    return {
        "type": _TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extensions,
    }
