"""The operator process (`livestream-operator operator`): kopf watches, the
controller reconciles (reconcile/), the resync loop heals missed hooks (ingest/)
and the path-configuration sync keeps MediaMTX's entries in line (mediamtx/), on
every MediaMTX instance (a Control API client each, mediamtx/instances.py).

kopf is embedded with kopf.operator() so the controller, the resync loop and
the metrics server share its event loop and stop with it. This is where the two
sides meet: the resync reads the controller's cache of LiveStreams.

Exactly one instance acts: every instance watches (kopf fills the cache), but
the reconcile workers and the resync start only once this one holds the leader
Lease, and losing it ends the process at once (exit code 1, restarted by
Kubernetes). A clean stop releases the Lease so the successor starts at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import warnings

import aiohttp
import kopf
from prometheus_client import start_http_server

from .. import logs
from ..api.instances import InstancesError
from ..ingest.conditional_writer import ConditionalWriter
from ..ingest.resync import Resync
from ..kube import Kube, open_kube
from ..leader_election import LeaderElector, LeadershipLost
from ..mediamtx.instances import Clients
from ..mediamtx.path_sync import PathConfigSync
from ..reconcile.controller import Controller
from ..reconcile.warm_pool import WarmPool
from ..reconcile.watch import build_registry
from ..settings import Settings, SettingsError, from_env

log = logging.getLogger(__name__)


def _elector(kube: Kube, settings: Settings) -> LeaderElector | None:
    if not settings.leader_election:
        return None
    return LeaderElector(
        kube,
        settings.namespace,
        settings.lease_name,
        lease_seconds=settings.lease_seconds,
        renew_seconds=settings.renew_seconds,
    )


def _already_set() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set; raises LeadershipLost when the Lease slips away."""
    kube = await open_kube()
    elector = _elector(kube, settings)
    leading = elector.leading if elector else _already_set()
    stop = stop or asyncio.Event()
    async with aiohttp.ClientSession() as session:
        pool = WarmPool(kube, settings, session)
        controller = Controller(kube, settings, pool)
        registry = build_registry(controller)
        password = settings.operator_password.get_secret_value()
        mtx = Clients.connect(
            settings.instances(),
            session,
            timeout=settings.mediamtx_timeout_seconds,
            auth=aiohttp.BasicAuth(settings.operator_user, password) if password else None,
        )
        writer = ConditionalWriter(kube, settings.namespace, settings)
        resync = Resync(mtx, writer, controller.livestreams, settings.resync_seconds)
        recording = PathConfigSync(
            mtx,
            controller.livestreams.with_path_entries,  # read several times a second
            settings.resync_seconds,
            max_retention=settings.recording_max_retention,
            slates=settings.slates,
            confirm=lambda: kube.list_livestreams(settings.namespace),
            update=writer.update,
            version=controller.livestreams.path_entries_version,
            relays=settings.instances().relay_sources(settings.operator_user, password),
        )
        ready = asyncio.Event()
        liveness = (
            f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
        )

        async def reconcile_when_leading() -> None:
            await leading.wait()
            await controller.run()

        async def resync_when_leading() -> None:
            await ready.wait()
            await leading.wait()
            await asyncio.sleep(settings.resync_seconds)  # let the first listing land
            await resync.run()

        async def recording_when_leading() -> None:
            await ready.wait()
            await leading.wait()
            await recording.run()  # it confirms deletions with the API server itself

        async def pool_when_leading() -> None:
            await leading.wait()
            await pool.run()

        tasks = [
            asyncio.create_task(  # the watches fill the cache, leader or not
                kopf.operator(
                    registry=registry,
                    standalone=True,
                    namespaces=[settings.namespace],
                    liveness_endpoint=liveness,
                    stop_flag=stop,
                    ready_flag=ready,
                )
            ),
            asyncio.create_task(reconcile_when_leading()),
            asyncio.create_task(resync_when_leading()),
            asyncio.create_task(pool_when_leading()),
            asyncio.create_task(recording_when_leading()),
        ]
        if elector is not None:  # acquires, then renews; ends only by LeadershipLost
            tasks.append(asyncio.create_task(elector.run()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled():  # kopf cancels loop tasks when it stops
                    task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if elector is not None:  # nothing acts any more: hand over at once
                await elector.release()
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
        settings.instances()
    except (SettingsError, InstancesError) as exc:
        print(f"livestream-operator operator: {exc}")
        return 2
    logs.setup("operator", settings.log_level)
    # kopf's deprecations name settings that no longer do anything: show them in
    # the log (Python hides DeprecationWarning outside __main__ by default).
    warnings.filterwarnings("default", category=DeprecationWarning, module="kopf")
    logging.captureWarnings(True)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    try:
        asyncio.run(runner())
    except LeadershipLost as exc:
        # Another instance may be acting by now: stop at once, let Kubernetes restart us.
        log.error("leadership lost; exiting", extra={"reason": str(exc)})
        sys.stdout.flush()
        return 1
    return 0
