"""Warm pool mode (`worker --pool`): GStreamer initialised, no stream yet.

The idle worker answers GET /healthz 200 (its Pod is Ready, so claimable) and
waits for the operator to POST its WorkerAssignment to ASSIGNMENT_PATH on the
metrics port with the pool token. The first valid assignment starts the
Supervisor as a normal start would; the same one again is answered 200 (the
operator retries after its own restart), another one 409. From then on /healthz
means what it means for any worker: 200 only while the output flows.

The request handling (Pool.post) is plain Python over header values and a body
reader, so that it is unit-tested without a socket.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from .. import health_endpoint
from ..api.pod_contract import ASSIGNMENT_PATH, INPUT_PATH, WorkerAssignment
from ..health_endpoint import Response, authorized
from ..problems import PROBLEM_JSON, document
from .config import WorkerConfig, assigned, assignment_errors
from .metrics import State, WorkerMetrics

MAX_BODY = 16 * 1024
_log = logging.getLogger("livestream_operator.worker")


class Verdict(enum.Enum):
    ACCEPT = "accept"  # idle: serve it
    SAME = "same"  # already serving exactly this: a retry
    CONFLICT = "conflict"  # already serving another stream


def verdict(current: WorkerAssignment | None, offered: WorkerAssignment) -> Verdict:
    if current is None:
        return Verdict.ACCEPT
    return Verdict.SAME if current == offered else Verdict.CONFLICT


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    **extensions: Any,
) -> Reply:
    """An RFC 9457 problem details reply."""
    return Reply(status, document(status, slug, title, detail, **extensions), PROBLEM_JSON, headers)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors as (field, message), the field in its wire name; never
    the offered values (a URL may carry credentials)."""
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "body",
            "message": error["msg"],
        }
        for error in exc.errors(include_input=False, include_url=False)
    ]


def parse(body: bytes) -> WorkerAssignment | Reply:
    """The assignment in `body`, or the 422 that says which fields are wrong."""
    try:
        assignment = WorkerAssignment.model_validate_json(body)
    except ValidationError as exc:
        errors = field_errors(exc)
    else:
        errors = [{"field": f, "message": m} for f, m in assignment_errors(assignment)]
        if not errors:
            return assignment
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "invalid-assignment", "Invalid assignment", detail, errors=errors)


class Pool:
    """The assignment of one pool worker, shared by the HTTP threads."""

    def __init__(self, base: WorkerConfig, token: str, start: Callable[[WorkerConfig], None]):
        self.base, self._token, self._start = base, token, start
        self._lock = threading.Lock()
        self._assignment: WorkerAssignment | None = None

    @property
    def assignment(self) -> WorkerAssignment | None:
        return self._assignment

    def post(
        self,
        authorization: str | None,
        content_type: str | None,
        content_length: str | None,
        read: Callable[[int], bytes],
    ) -> Reply:
        """POST ASSIGNMENT_PATH; `read(n)` reads the body, only once it may be read."""
        if not authorized(authorization, self._token):
            _log.warning("assignment refused: missing or wrong pool token")
            return problem(
                401,
                "unauthorized",
                "Unauthorized",
                "POST the assignment with Authorization: Bearer <pool token>",
                headers=(("WWW-Authenticate", 'Bearer realm="worker-pool"'),),
            )
        media_type = (content_type or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                "send the assignment as Content-Type: application/json",
            )
        if content_length is None:
            return problem(411, "length-required", "Length required", "send a Content-Length")
        try:
            length = int(content_length)
        except ValueError:
            length = -1
        if length < 0:
            return problem(400, "bad-request", "Bad request", "Content-Length is not a length")
        if length > MAX_BODY:
            return problem(
                413,
                "assignment-too-large",
                "Assignment too large",
                f"the assignment is {length} bytes; at most {MAX_BODY} are accepted",
            )
        offered = parse(read(length))
        if isinstance(offered, Reply):
            return offered
        with self._lock:
            current = self._assignment
            decision = verdict(current, offered)
            if decision is Verdict.ACCEPT:
                self._assignment = offered
        if decision is Verdict.CONFLICT:
            assert current is not None
            _log.warning(
                "assignment of stream %s refused: serving %s",
                offered.stream_id,
                current.stream_id,
                extra={"offeredStreamId": offered.stream_id},
            )
            return problem(
                409,
                "worker-assigned",
                "Worker already assigned",
                f"this worker serves stream {current.stream_id}; "
                f"it cannot take {offered.stream_id}",
                streamId=current.stream_id,
            )
        if decision is Verdict.ACCEPT:
            _log.info(
                "assigned stream %s",
                offered.stream_id,
                extra={"streamId": offered.stream_id, "mode": offered.mode.value},
            )
            self._start(assigned(self.base, offered))
        return Reply(200, {"streamId": offered.stream_id, "assigned": True})


def healthy(pool: Pool, metrics: WorkerMetrics) -> bool:
    """Idle and unassigned (claimable), or assigned and flowing."""
    if pool.assignment is None:
        return metrics.current is State.IDLE
    return metrics.current is State.RUNNING


def serve(
    port: int, metrics: WorkerMetrics, pool: Pool, addr: str = "0.0.0.0"
) -> ThreadingHTTPServer:
    """/healthz, /metrics, GET INPUT_PATH and POST ASSIGNMENT_PATH on `port`."""

    def assign(headers: Message, read: Callable[[int], bytes]) -> Response:
        reply = pool.post(
            headers.get("Authorization"),
            headers.get("Content-Type"),
            headers.get("Content-Length"),
            read,
        )
        return Response(
            reply.status, json.dumps(reply.body).encode(), reply.content_type, reply.headers
        )

    return health_endpoint.serve(
        port,
        metrics.registry,
        lambda: healthy(pool, metrics),
        addr,
        {ASSIGNMENT_PATH: assign},
        {INPUT_PATH: metrics.input_page},
    )
