"""The users' HTTP API: a stream's recordings and its current picture.

Served on a listener of its own (the chart's api port): the hooks' port also
takes MediaMTX's auth calls, which carry no credential, so a NetworkPolicy must
be able to open one port to users and not the other.
"""

from __future__ import annotations

from aiohttp import web

from ..http_edge import Handler, healthz, request_context

_MAX_BODY = 4 * 1024  # the users' API is GETs only


def add_routes(app: web.Application, snapshot: Handler, recordings: Handler) -> None:
    """The users' routes, on their own app or (one port only) beside the hooks."""
    app.router.add_get("/v1/streams/{streamId}/snapshot", snapshot)
    app.router.add_get("/v1/streams/{streamId}/recordings", recordings)


def make_app(snapshot: Handler, recordings: Handler) -> web.Application:
    app = web.Application(middlewares=[request_context], client_max_size=_MAX_BODY)
    add_routes(app, snapshot, recordings)
    app.router.add_get("/healthz", healthz)
    return app
