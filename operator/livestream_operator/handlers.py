"""The operator process (`livestream-operator operator`): kopf watches, the
controller reconciles, the resync loop heals missed hooks.

kopf is embedded with kopf.operator() so the controller, the resync loop and
the metrics server share its event loop and stop with it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

import aiohttp
import kopf
from prometheus_client import start_http_server

from . import logs, models
from .controller import Controller
from .kube import open_kube
from .manifests import MANAGED_SELECTOR
from .mediamtx import MediaMTXClient
from .resync import Resync
from .settings import Settings, SettingsError, from_env
from .store import LiveStreamStore

log = logging.getLogger(__name__)
PREFIX = models.GROUP


def build_registry(controller: Controller, settings: Settings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        # Silent watch stalls (kopf #585, #957): bound every watch request.
        settings.watching.server_timeout = 120
        settings.watching.client_timeout = 150
        settings.watching.connect_timeout = 10
        settings.batching.batch_window = 0.05
        settings.persistence.finalizer = f"{PREFIX}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
        # Only our Pods, filtered by the API server rather than in memory.
        settings.watching.label_selectors["pods"] = MANAGED_SELECTOR

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # kopf's own credential readers: no sync client library needed.
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.event(models.GROUP, models.VERSION, models.PLURAL, registry=registry)
    def livestream_event(event: kopf.RawEvent, **_: Any) -> None:
        controller.on_livestream(event.get("type"), dict(event["object"]))

    @kopf.on.event(
        "",
        "v1",
        "pods",
        labels={"app.kubernetes.io/managed-by": "livestream-operator"},
        registry=registry,
    )
    def pod_event(event: kopf.RawEvent, **_: Any) -> None:
        controller.on_pod(event.get("type"), dict(event["object"]))

    @kopf.on.probe(id="livestreams", registry=registry)
    def probe(**_: Any) -> int:
        return len(controller.livestreams)

    return registry


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    kube = await open_kube()
    controller = Controller(kube, settings)
    registry = build_registry(controller, settings)
    stop = stop or asyncio.Event()
    async with aiohttp.ClientSession() as session:
        mtx = MediaMTXClient(
            settings.mediamtx_api_url, session, timeout=settings.mediamtx_timeout_seconds
        )
        store = LiveStreamStore(kube, settings.namespace, settings)
        resync = Resync(mtx, store, controller.livestreams, settings.resync_seconds)
        ready = asyncio.Event()
        liveness = (
            f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
        )
        tasks = [
            asyncio.create_task(
                kopf.operator(
                    registry=registry,
                    standalone=True,
                    namespaces=[settings.namespace],
                    liveness_endpoint=liveness,
                    stop_flag=stop,
                    ready_flag=ready,
                )
            ),
            asyncio.create_task(controller.run()),
        ]

        async def resync_when_ready() -> None:
            await ready.wait()
            await asyncio.sleep(settings.resync_seconds)  # let the first listing land
            await resync.run()

        tasks.append(asyncio.create_task(resync_when_ready()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled():  # kopf cancels loop tasks when it stops
                    task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await kube.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="livestream-operator operator",
        description="Reconcile LiveStreams into worker and forwarder Pods. "
        "Configured with LSO_* environment variables (see README).",
    )
    parser.parse_args(argv)
    try:
        settings = from_env()
    except SettingsError as exc:
        print(f"livestream-operator operator: {exc}")
        return 2
    logs.setup("operator", settings.log_level)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(runner())
    return 0
