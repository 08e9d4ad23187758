"""The hook receiver process (`livestream-operator hooks`): the ingest receiver's
aiohttp application, the auth endpoint's in-memory views and the watches that
keep them current, and a Control API client per MediaMTX instance to disconnect
publishers (a revoked key, a takeover from another instance)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import aiohttp
from aiohttp import web

from .. import http_edge, logs
from ..access import cluster_view
from ..access.auth_endpoint import AuthService
from ..access.cluster_view import KeyRing, Publishing
from ..access.policy import policy_from
from ..api.instances import InstancesError
from ..ingest.conditional_writer import ConditionalWriter
from ..ingest.receiver import make_app
from ..kube import open_kube
from ..mediamtx.instances import Clients
from ..settings import Settings, SettingsError, from_env
from ..userapi import app as userapi
from ..userapi.recordings import Recordings
from ..userapi.snapshots import Snapshots

SHUTDOWN_SECONDS = 5
# Without these the receiver could only refuse: it will not start.
REQUIRED_SECRETS = ("hook_token", "operator_password", "worker_password", "forwarder_password")


async def _serve(settings: Settings, host: str, api_port: int) -> web.Application:
    # The API client must be created inside the running loop.
    kube = await open_kube()
    session = aiohttp.ClientSession()
    mediamtx = Clients.connect(
        settings.instances(),
        session,
        timeout=settings.mediamtx_timeout_seconds,
        auth=aiohttp.BasicAuth(
            settings.operator_user, settings.operator_password.get_secret_value()
        ),
    )
    keys, publishing = KeyRing(), Publishing()
    auth = AuthService(
        policy_from(settings), keys, publishing, settings.namespace, events=kube, kicker=mediamtx
    )
    recordings = Recordings(settings, auth, session)
    snapshots = Snapshots(settings, auth, ConditionalWriter(kube, settings.namespace, settings))
    if api_port:
        app = make_app(kube, settings, auth)
        users = http_edge.AppRunner(
            userapi.make_app(snapshots.handle, recordings.handle),
            access_log=None,
            shutdown_timeout=SHUTDOWN_SECONDS,
        )

        async def serve_users(_: web.Application) -> None:
            await users.setup()
            await web.TCPSite(users, host, api_port).start()

        async def stop_users(_: web.Application) -> None:
            await users.cleanup()

        app.on_startup.append(serve_users)
        app.on_shutdown.append(stop_users)  # with the hook port, not after it
    else:
        app = make_app(kube, settings, auth)
        userapi.add_routes(app, snapshots.handle, recordings.handle)
    watches = [
        asyncio.create_task(cluster_view.watch_keys(kube, settings.namespace, keys)),
        asyncio.create_task(cluster_view.watch_livestreams(kube, settings.namespace, publishing)),
    ]

    async def close(_: web.Application) -> None:
        for task in watches:
            task.cancel()
        for task in watches:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await snapshots.close()
        await session.close()
        await kube.close()

    app.on_cleanup.append(close)
    return app


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="livestream-operator hooks",
        description="Receive MediaMTX hook events and answer its auth requests over HTTP.",
    )
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--api-port",
        type=int,
        default=0,
        help="serve users' endpoints (/v1/streams/...) on this port instead of --port",
    )
    args = parser.parse_args(argv)
    try:
        settings = from_env()
    except SettingsError as exc:
        print(f"livestream-operator hooks: {exc}")
        return 2
    missing = [f"LSO_{n.upper()}" for n in REQUIRED_SECRETS if not getattr(settings, n)]
    if missing:
        print(f"livestream-operator hooks: {', '.join(missing)} must be set (internal credentials)")
        return 2
    try:
        settings.instances()
    except InstancesError as exc:
        print(f"livestream-operator hooks: {exc}")
        return 2
    logs.setup("hooks", settings.log_level)
    http_edge.run_app(
        _serve(settings, args.host, args.api_port),
        host=args.host,
        port=args.port,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    return 0
