"""GET /v1/streams/{streamId}/recordings: a stream's recorded time spans, with
download links (MediaMTX's playback server /list and /get).

The receiver asks the playback server with the operator's credentials and
returns links to its public address; a download there is decided by the same
auth endpoint (the stream's key, `curl -u any:<key>`), so the links carry no
credential of their own. The listing itself needs the key as
`Authorization: Bearer <key>` in streamKey mode (stream_access.admit).

MediaMTX 1.20 lists and serves fmp4 recordings only: a stream recorded as
mpegts gets a 409 that says so rather than a 502 that invites a retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from ..access import stream_access
from ..access.auth_endpoint import AuthService
from ..api import naming
from ..api.v1alpha1 import RecordedPath
from ..http_edge import problem
from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Span:
    path: RecordedPath
    start: str
    duration: float

    def wire(self, public_base: str, stream_id: str) -> dict[str, Any]:
        name = naming.stream_path(stream_id, self.path)
        query = urlencode({"path": name, "start": self.start, "duration": f"{self.duration:.3f}"})
        return {
            "path": self.path.value,
            "start": self.start,
            "duration": round(self.duration, 3),
            "url": f"{public_base}/get?{query}",
        }


def parse_list(role: RecordedPath, data: Any) -> list[Span]:
    """The playback server's /list answer as spans; anything malformed is skipped."""
    spans = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        start, duration = item.get("start"), item.get("duration")
        if isinstance(start, str) and isinstance(duration, int | float) and duration >= 0:
            spans.append(Span(role, start, float(duration)))
    return spans


def _roles(query: str) -> list[RecordedPath] | None:
    if not query:
        return list(RecordedPath)
    try:
        return [RecordedPath(query)]
    except ValueError:
        return None


class Recordings:
    def __init__(
        self,
        settings: Settings,
        auth: AuthService,
        session: aiohttp.ClientSession,
        timeout: float = 5.0,
    ) -> None:
        self.auth = auth
        self.session = session
        self.base = settings.mediamtx_playback_url.rstrip("/")
        self.public = (settings.playback_public_url or settings.mediamtx_playback_url).rstrip("/")
        self.credentials = aiohttp.BasicAuth(
            settings.operator_user, settings.operator_password.get_secret_value()
        )
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        admitted = stream_access.admit(request, self.auth)
        if isinstance(admitted, web.Response):
            return admitted
        stream_id, livestream = admitted
        roles = _roles(request.query.get("path", ""))
        if roles is None:
            return problem(
                400,
                "invalid-query",
                "Invalid query",
                "path: must be in or out",
                errors=[{"field": "path", "reason": "must be in or out"}],
            )
        spans: list[Span] = []
        for role in roles:
            found = await self._list(stream_id, role)
            if isinstance(found, web.Response):
                return found
            spans += found
        recording = livestream.status.recording
        return web.json_response(
            {
                "streamId": stream_id,
                "recordings": [s.wire(self.public, stream_id) for s in spans],
                "status": recording.wire() if recording else None,
            }
        )

    async def _list(self, stream_id: str, role: RecordedPath) -> list[Span] | web.Response:
        """The path's spans, or the problem to answer."""
        path = naming.stream_path(stream_id, role)
        url = f"{self.base}/list?{urlencode({'path': path})}"
        try:
            async with self.session.get(url, auth=self.credentials, timeout=self.timeout) as resp:
                if resp.status == 200:
                    return parse_list(role, await resp.json(content_type=None))
                text = (await resp.read()).decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("playback /list failed", extra={"path": path, "reason": str(exc)})
            return _unavailable()
        answer = classify(resp.status, text)
        if answer is Answer.EMPTY:
            return []
        log.warning(
            "playback /list failed",
            extra={"path": path, "status": resp.status, "reason": text.strip()[:300]},
        )
        if answer is Answer.UNSUPPORTED_FORMAT:
            return _unsupported_format(stream_id)
        return problem(
            502,
            "playback-unavailable",
            "Playback server unavailable",
            f"MediaMTX's playback server could not list {path} (HTTP {resp.status})",
        )


class Answer(Enum):
    EMPTY = "empty"
    UNSUPPORTED_FORMAT = "unsupported-format"
    FAILED = "failed"


# MediaMTX 1.20's playback server (internal/playback/on_list.go, on_get.go):
# 404 when the path's directory holds no segment; 400 for bad parameters, a path
# that is not configured and any error walking the directory, of which a
# directory that does not exist yet ("lstat <dir>: no such file or directory")
# is the common one; 500 "MPEG-TS format is not supported yet" once it finds
# segments of a path recorded as mpegts: it lists and serves fmp4 only.
_NO_DIRECTORY = "no such file or directory"
_MPEGTS = "mpeg-ts format is not supported"


def classify(status: int, body: str) -> Answer:
    """What a non-200 /list answer means (pure)."""
    text = body.lower()
    if status == 404 or (status == 400 and _NO_DIRECTORY in text):
        return Answer.EMPTY
    if status == 500 and _MPEGTS in text:
        return Answer.UNSUPPORTED_FORMAT
    return Answer.FAILED


def _unavailable() -> web.Response:
    return problem(
        502,
        "playback-unavailable",
        "Playback server unavailable",
        "MediaMTX's playback server did not answer; try again",
    )


_MPEGTS_REASON = "MediaMTX 1.20 cannot list or serve MPEG-TS recordings; use fmp4"


def _unsupported_format(stream_id: str) -> web.Response:
    return problem(
        409,
        "playback-unsupported-format",
        "Recording format not supported by playback",
        f"stream {stream_id} is recorded as MPEG-TS: {_MPEGTS_REASON} (spec.recording.format)",
        streamId=stream_id,
        errors=[{"field": "spec.recording.format", "reason": _MPEGTS_REASON}],
    )
