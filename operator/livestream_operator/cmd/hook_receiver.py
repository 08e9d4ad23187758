"""The hook receiver process (`livestream-operator hooks`): the ingest receiver's
aiohttp application on its own port, with a Kubernetes client."""

from __future__ import annotations

import argparse

from aiohttp import web

from .. import logs
from ..ingest.receiver import make_app
from ..kube import open_kube
from ..settings import Settings, SettingsError, from_env


async def _serve(settings: Settings) -> web.Application:
    # The API client must be created inside the running loop.
    kube = await open_kube()
    app = make_app(kube, settings)

    async def close(_: web.Application) -> None:
        await kube.close()

    app.on_cleanup.append(close)
    return app


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="livestream-operator hooks", description="Receive MediaMTX hook events over HTTP."
    )
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    try:
        settings = from_env()
    except SettingsError as exc:
        print(f"livestream-operator hooks: {exc}")
        return 2
    logs.setup("hooks", settings.log_level)
    web.run_app(
        _serve(settings),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        shutdown_timeout=5,
    )
    return 0
