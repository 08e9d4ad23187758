"""What a request refused before any route saw it is told: an RFC 9457 problem
chosen from the kind of refusal alone, never quoting the request (a stream key
may be in its path or a header).

Both HTTP servers of the project answer with these: aiohttp's listeners through
http_edge.py, the media processes' standard-library endpoint through
health_endpoint.py. No aiohttp here: the forwarder, which serves only the
latter, does not load it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus

from .problems import document


@dataclass(frozen=True)
class Refusal:
    status: int
    title: str
    detail: str
    slug: str = "malformed-request"

    def body(self) -> bytes:
        """The problem document."""
        return json.dumps(document(self.status, self.slug, self.title, self.detail)).encode()


# The standard library's refusals (http.server's send_error), by status.
_STATUS_DETAILS = {
    400: "the request line or a header is malformed",
    404: "nothing is served at this path",
    414: "the request line is longer than accepted",
    431: "a header is longer than accepted, or there are too many headers",
    501: "this method is not served",
    505: "only HTTP/1.0 and HTTP/1.1 are served",
}
# A method or version the server does not implement is the request's fault: a
# 4xx, as aiohttp's listeners answer, so that a 5xx always means the server's.
_CLIENT_STATUS = {501: 405, 505: 400}
_MALFORMED = (400, 414, 431, 505)


def status_refusal(code: int) -> Refusal:
    """The problem for the standard library's refusal `code`; its message, which
    quotes the request, is dropped."""
    status = _CLIENT_STATUS.get(code, code)
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Refused"
    detail = _STATUS_DETAILS.get(code, "the request was refused")
    return Refusal(
        status, title, detail, "malformed-request" if code in _MALFORMED else "http-error"
    )
