"""A forwarder container's HTTP endpoint: /healthz (200 while bytes reach the
destination), /metrics, its DestinationReport at DESTINATION_PATH for the
operator, and POST RETRY_PATH, the retry-now the operator relays from the
LiveStream's annotation.

Retry-now is a command, so it needs the operator's forwarder token (Bearer,
from the internal Secret); the report carries nothing secret (errors are
redacted) and is served like /metrics.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from email.message import Message
from http.server import ThreadingHTTPServer

from .. import health_endpoint
from ..api.pod_contract import DESTINATION_PATH, RETRY_PATH
from ..health_endpoint import Response, authorized
from ..http_refusals import Refusal
from .supervisor import Forwarder

log = logging.getLogger("livestream_operator.forwarder")
JSON = "application/json"


def report(forwarder: Forwarder) -> Response:
    return Response(200, forwarder.report().model_dump_json(by_alias=True).encode(), JSON)


def retry(forwarder: Forwarder, token: str, authorization: str | None) -> Response:
    """200 {"retried": true} when an attempt starts at once; false when there was
    nothing to retry (Active, or on its first attempt)."""
    if not authorized(authorization, token):
        log.warning("retry-now refused: missing or wrong forwarder token")
        refusal = Refusal(
            401,
            "Unauthorized",
            "POST with Authorization: Bearer <forwarder token>",
            "unauthorized",
        )
        return health_endpoint.problem(refusal, (("WWW-Authenticate", 'Bearer realm="forwarder"'),))
    retried = forwarder.retry_now()
    body = {"retried": retried, "state": forwarder.report().state.value}
    return Response(200, json.dumps(body).encode(), JSON)


def serve(port: int, forwarder: Forwarder, addr: str = "0.0.0.0") -> ThreadingHTTPServer:
    token = forwarder.cfg.token

    def on_retry(headers: Message, _read: Callable[[int], bytes]) -> Response:
        return retry(forwarder, token, headers.get("Authorization"))

    return health_endpoint.serve(
        port,
        forwarder.metrics.registry,
        lambda: forwarder.metrics.delivering,
        addr,
        post={RETRY_PATH: on_retry},
        get={DESTINATION_PATH: lambda: report(forwarder)},
    )
