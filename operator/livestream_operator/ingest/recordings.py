"""GET /v1/streams/{streamId}/recordings: a stream's recorded time spans, with
download links (MediaMTX's playback server /list and /get).

The receiver asks the playback server with the operator's credentials and
returns links to its public address; a download there is decided by the same
auth endpoint (the stream's key, `curl -u any:<key>`), so the links carry no
credential of their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from ..api import naming
from ..api.v1alpha1 import RecordedPath
from ..settings import Settings
from . import stream_access
from .auth_endpoint import AuthService
from .problems import problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Span:
    path: RecordedPath
    start: str
    duration: float

    def wire(self, public_base: str, stream_id: str) -> dict[str, Any]:
        name = f"{naming.PATH_PREFIX}/{stream_id}/{self.path.value}"
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
        stream_id = request.match_info["streamId"]
        livestream = self.auth.publishing.object_of(stream_id)
        refused = stream_access.refuse(
            request,
            stream_id,
            livestream,
            self.auth.policy.mode,
            self.auth.keys.by_stream.get(stream_id),
        )
        if refused is not None:
            return refused
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
            found = await self._list(f"{naming.PATH_PREFIX}/{stream_id}/{role.value}", role)
            if found is None:
                return problem(
                    502,
                    "playback-unavailable",
                    "Playback server unavailable",
                    "MediaMTX's playback server did not answer; try again",
                )
            spans += found
        recording = livestream.status.recording if livestream else None
        return web.json_response(
            {
                "streamId": stream_id,
                "recordings": [s.wire(self.public, stream_id) for s in spans],
                "status": recording.wire() if recording else None,
            }
        )

    async def _list(self, path: str, role: RecordedPath) -> list[Span] | None:
        url = f"{self.base}/list?{urlencode({'path': path})}"
        try:
            async with self.session.get(url, auth=self.credentials, timeout=self.timeout) as resp:
                # 404: nothing recorded; 400: no directory for the path yet.
                if resp.status in (400, 404):
                    return []
                if resp.status != 200:
                    log.warning(
                        "playback /list failed", extra={"path": path, "status": resp.status}
                    )
                    return None
                return parse_list(role, await resp.json(content_type=None))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("playback /list failed", extra={"path": path, "reason": str(exc)})
            return None
