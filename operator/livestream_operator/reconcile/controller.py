"""The reconcile loop: watch events fill a cache, a work queue hands out LiveStream
keys, and each reconcile carries out the plan that plan.plan() decided.

kopf delivers the watch events (with its reconnects, throttling and probes);
the reconcile is level-based and driven from three sources (LiveStream events,
Pod events, grace deadlines), hence a work queue rather than kopf's
change-detection handlers, which ignore status changes by design.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from pydantic import ValidationError

from .. import logs
from ..api.ownership import FieldManager, owned_part
from ..api.pod_contract import (
    DESTINATION_PATH,
    DESTINATION_POLL_SECONDS,
    INPUT_FIRST_POLL_SECONDS,
    INPUT_PATH,
    INPUT_POLL_SECONDS,
    PROCESSING_PATH,
    PROCESSING_POLL_SECONDS,
    RETRY_PATH,
    WORKER_METRICS_PORT,
    DestinationReport,
    InputReport,
    ProcessingReport,
    forwarder_port,
)
from ..api.v1alpha1 import LiveStream, WorkerMode, parse_time
from ..kube import Kube, KubeError
from ..kube_events import EventType, KubeEvent, event_manifest
from ..settings import Settings
from . import metrics
from .cache import Key, LiveStreamCache
from .destinations import RETRY_ANNOTATION, retry_request, to_ask
from .failover import reading
from .input_cadence import complete
from .input_loss import Measured, Measurement
from .observed import ObservedPod
from .plan import Plan, plan
from .pods import COMPONENT_LABEL, FORWARDER, STREAM_LABEL, WORKER, destination_container
from .pool import is_pool_pod
from .warm_pool import WarmPool
from .workqueue import WorkQueue

log = logging.getLogger(__name__)
Body = dict[str, Any]

# How long a Pod (a worker's or a forwarder's endpoint) may take to answer the operator.
POD_TIMEOUT = 1.0
# A worker is asked at most this often; reconciles in between (its own status
# write wakes one) keep the stored status.processing instead.
PROCESSING_MIN_INTERVAL = PROCESSING_POLL_SECONDS * 0.8
DESTINATION_MIN_INTERVAL = DESTINATION_POLL_SECONDS * 0.8


_Report = TypeVar("_Report", ProcessingReport, InputReport)


@dataclass(frozen=True)
class _Asked:
    source: str | None  # the ingest source the worker was reading
    at: float  # monotonic
    complete: bool  # it had measured


class Controller:
    def __init__(
        self,
        kube: Kube,
        settings: Settings,
        pool: WarmPool | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.pool = pool
        # For asking process-mode workers how processing goes: the warm pool's by default.
        self.session = session or (pool.session if pool is not None else None)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.livestreams = LiveStreamCache(relayed=len(settings.instances()) > 1)
        self.pods: dict[Key, dict[str, ObservedPod]] = {}
        self._asked: dict[str, float] = {}  # worker Pod uid -> when it was last asked
        self._asked_forwarder: dict[str, float] = {}  # forwarder Pod uid -> the same
        self._input_asked: dict[str, _Asked] = {}  # worker Pod uid -> its last InputReport ask

    # ------------------------------------------------------------- watch events

    def on_livestream(self, event_type: str | None, body: Body) -> None:
        if event_type != "DELETED" and self._cached_version(body):
            # The echo of the operator's own status write: the cache already holds
            # exactly this object, and its reconcile has decided on it.
            return
        try:
            livestream = LiveStream.model_validate(body)
        except ValidationError as exc:
            # The CRD's schema admits it, the API types do not: a version skew.
            meta = body.get("metadata") or {}
            log.error(
                "LiveStream does not match the API types; skipped",
                extra={"name": str(meta.get("name")), "reason": str(exc.errors()[0]["msg"])},
            )
            return
        key = livestream.key
        if event_type == "DELETED":
            self.livestreams.pop(key, None)
            return
        self.livestreams[key] = livestream
        self.queue.add(key)
        metrics.QUEUE_DEPTH.set(len(self.queue))

    def _cached_version(self, body: Body) -> bool:
        meta = body.get("metadata") or {}
        cached = self.livestreams.get((meta.get("namespace") or "", meta.get("name") or ""))
        version = meta.get("resourceVersion")
        return (
            cached is not None
            and version is not None
            and (cached.metadata.resource_version == version)
        )

    def on_pod(self, event_type: str | None, body: Body) -> None:
        pod = ObservedPod.parse(body)
        if self.pool is not None and is_pool_pod(pod):
            self.pool.on_pod(event_type, pod)  # claimed ones are also a stream's child
        owner = pod.metadata.labels.get(STREAM_LABEL)
        if not owner:
            return
        key = (pod.metadata.namespace, owner)
        children = self.pods.setdefault(key, {})
        if event_type == "DELETED":
            children.pop(pod.name, None)
            self._asked.pop(pod.metadata.uid, None)
            self._asked_forwarder.pop(pod.metadata.uid, None)
            self._input_asked.pop(pod.metadata.uid, None)
            if not children:
                del self.pods[key]
        else:
            children[pod.name] = pod
        if key in self.livestreams:
            self.queue.add(key)

    # ------------------------------------------------------------------ workers

    async def run(self) -> None:
        workers = [asyncio.create_task(self._worker()) for _ in range(self.settings.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            self.queue.shutdown()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            metrics.QUEUE_DEPTH.set(len(self.queue))
            started = time.perf_counter()
            token = logs.bind(namespace=key[0], name=key[1])
            result = "ok"
            try:
                requeue = await self.reconcile(key)
                self.queue.forget(key)
                if requeue is not None:
                    self.queue.add_after(key, requeue)
            except Exception as exc:
                result = "error"
                delay = self.queue.add_rate_limited(key)
                if isinstance(exc, KubeError | OSError | TimeoutError):
                    log.warning(
                        "reconcile failed; retrying", extra={"reason": str(exc), "retryIn": delay}
                    )
                else:
                    log.exception("reconcile crashed; retrying", extra={"retryIn": delay})
            finally:
                logs.reset(token)
                self.queue.done(key)
                metrics.RECONCILE_DURATION.labels(result).observe(time.perf_counter() - started)

    # ---------------------------------------------------------------- reconcile

    async def reconcile(self, key: Key) -> float | None:
        livestream = self.livestreams.get(key)
        if livestream is None or livestream.metadata.deletion_timestamp:
            return None
        namespace = key[0]
        retried = await self._retry_now(livestream)
        livestream = self.livestreams.get(key, livestream)
        report = await self._processing_report(livestream)
        reports = await self._destination_reports(livestream, force=retried)
        input_report, ask_again = await self._input_report(livestream)
        decided = plan(
            livestream,
            dict(self.pods.get(key, {})),
            self.settings,
            datetime.now(UTC),
            processing=report,
            destinations=reports,
            input_report=input_report,
        )

        if decided.delete_livestream:
            await self._delete_livestream(livestream, decided)
            return None

        for deletion in decided.delete:
            try:
                await self.kube.delete_pod(namespace, deletion.name, deletion.uid)
                log.info("deleted pod", extra={"pod": deletion.name, "reason": deletion.reason})
            except KubeError as exc:
                if not (exc.not_found or exc.conflict):
                    raise
        # A claimed pool worker is told the input chosen now (primary/backup).
        assigned = reading(livestream, decided.status.failover)
        for pod in decided.create:
            if await self._claim_warm_worker(assigned, pod):
                continue
            await self._create_pod(livestream, pod)
        requeue = decided.requeue_after
        if ask_again is not None:
            requeue = ask_again if requeue is None else min(requeue, ask_again)
        if self.pool is not None:
            for child in list(self.pods.get(key, {}).values()):
                if child.owned_by(livestream.metadata.uid):
                    again = await self.pool.ensure_assigned(assigned, child)
                    if again is not None:
                        requeue = again if requeue is None else min(requeue, again)

        await self._write_status(livestream, decided)
        for event in decided.events:
            await self._post_event(livestream, event)
        _record(decided.measurements)
        self._count_phases()
        return requeue

    def _running_child(self, livestream: LiveStream, component: str) -> ObservedPod | None:
        """The stream's running worker (or forwarder) Pod with an address, if any."""
        return next(
            (
                p
                for p in self.pods.get(livestream.key, {}).values()
                if p.owned_by(livestream.metadata.uid)
                and p.metadata.labels.get(COMPONENT_LABEL) == component
                and p.status.phase == "Running"
                and p.status.pod_ip
                and not p.terminating
            ),
            None,
        )

    def _running_worker(self, livestream: LiveStream) -> ObservedPod | None:
        return self._running_child(livestream, WORKER)

    async def _processing_report(self, livestream: LiveStream) -> ProcessingReport | None:
        """A process-mode worker's ProcessingReport; None when it is not due, not
        running or not answering (the plan then keeps what the status says)."""
        if livestream.spec.worker.mode is not WorkerMode.PROCESS or self.session is None:
            return None
        worker = self._running_worker(livestream)
        if worker is None:
            return None
        uid, now = worker.metadata.uid, time.monotonic()
        last = self._asked.get(uid)
        if last is not None and now - last < PROCESSING_MIN_INTERVAL:
            return None
        self._asked[uid] = now
        return await self._ask(worker, PROCESSING_PATH, ProcessingReport)

    async def _input_report(
        self, livestream: LiveStream
    ) -> tuple[InputReport | None, float | None]:
        """The worker's InputReport when due, and when to ask next (None: no worker).

        Due at once for a new worker or a new publish, then every
        INPUT_FIRST_POLL_SECONDS until it has measured, then every INPUT_POLL_SECONDS."""
        worker = self._running_worker(livestream)
        if worker is None or self.session is None:
            return None, None
        ingest = livestream.status.ingest
        source = ingest.source_id if ingest else None
        uid, now = worker.metadata.uid, time.monotonic()
        asked = self._input_asked.get(uid)
        if asked is not None and asked.source == source:
            wait = INPUT_POLL_SECONDS if asked.complete else INPUT_FIRST_POLL_SECONDS
            if now - asked.at < wait:
                return None, wait - (now - asked.at)
        report = await self._ask(worker, INPUT_PATH, InputReport)
        done = complete(report)
        self._input_asked[uid] = _Asked(source, now, done)
        return report, INPUT_POLL_SECONDS if done else INPUT_FIRST_POLL_SECONDS

    async def _ask(self, worker: ObservedPod, path: str, model: type[_Report]) -> _Report | None:
        """GET a worker's report; None when it does not answer as it should."""
        assert self.session is not None
        url = f"http://{worker.status.pod_ip}:{WORKER_METRICS_PORT}{path}"
        try:
            async with self.session.get(
                url, timeout=aiohttp.ClientTimeout(total=POD_TIMEOUT)
            ) as resp:
                if resp.status != 200:
                    log.debug(
                        "worker's report unavailable",
                        extra={"pod": worker.name, "path": path, "status": resp.status},
                    )
                    return None
                return model.model_validate_json(await resp.read())
        except Exception as exc:  # whatever the worker does, the reconcile goes on
            log.debug(
                "worker's report unavailable",
                extra={
                    "pod": worker.name,
                    "path": path,
                    "reason": f"{type(exc).__name__}: {exc}"[:300],
                },
            )
            return None

    def _forwarder(self, livestream: LiveStream) -> ObservedPod | None:
        return self._running_child(livestream, FORWARDER)

    async def _destination_reports(
        self, livestream: LiveStream, *, force: bool = False
    ) -> dict[str, DestinationReport] | None:
        """What the forwarder's containers of the destinations still trying say
        (status.forwarder's last word decides which); None when not due or no
        forwarder runs. Active and Exhausted ones are not asked: readiness and
        retry-now are what change them."""
        spec = livestream.spec
        if self.session is None or spec.forwarder is None or not spec.forwarder.destinations:
            return None
        pod = self._forwarder(livestream)
        if pod is None:
            return None
        stored = livestream.status.forwarder.destinations if livestream.status.forwarder else None
        running = {c.name for c in pod.status.container_statuses if c.state.running is not None}
        index = {d.name: i for i, d in enumerate(spec.forwarder.destinations)}
        names = set(to_ask(stored or [], pod)) if stored and not force else set(index)
        wanted = [n for n in index if n in names and destination_container(n) in running]
        if not wanted:
            return None
        uid, now = pod.metadata.uid, time.monotonic()
        last = self._asked_forwarder.get(uid)
        if not force and last is not None and now - last < DESTINATION_MIN_INTERVAL:
            return None
        self._asked_forwarder[uid] = now
        answers = await asyncio.gather(*(self._destination_report(pod, index[n]) for n in wanted))
        return {n: r for n, r in zip(wanted, answers, strict=True) if r is not None}

    async def _destination_report(self, pod: ObservedPod, index: int) -> DestinationReport | None:
        assert self.session is not None
        url = f"http://{pod.status.pod_ip}:{forwarder_port(index)}{DESTINATION_PATH}"
        try:
            async with self.session.get(
                url, timeout=aiohttp.ClientTimeout(total=POD_TIMEOUT)
            ) as resp:
                if resp.status != 200:
                    return None
                return DestinationReport.model_validate_json(await resp.read())
        except Exception as exc:  # whatever the forwarder does, the reconcile goes on
            log.debug(
                "destination report unavailable",
                extra={"pod": pod.name, "reason": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return None

    async def _retry_now(self, livestream: LiveStream) -> bool:
        """Act on the retry-now annotation, once: remove it (only while it holds
        what was read), then tell each named destination's container, and say
        what came of it in one Event. True when it was acted on."""
        value = livestream.metadata.annotations.get(RETRY_ANNOTATION)
        if value is None:
            return False
        namespace, name = livestream.key
        try:
            updated = await self.kube.remove_annotation(namespace, name, RETRY_ANNOTATION, value)
        except KubeError as exc:
            if exc.not_found or exc.status == 422:
                return False  # gone, or changed since: the newer value comes by the watch
            raise
        self.livestreams[livestream.key] = updated
        request = retry_request(value, livestream.spec)
        pod = self._forwarder(livestream)
        outcomes = []
        for dest, index in request.targets:
            outcomes.append(f"{dest} ({await self._post_retry(pod, dest, index)})")
        if request.unknown:
            outcomes.append(f"not destinations of this stream: {', '.join(request.unknown)}")
        message = "retry now: " + ("; ".join(outcomes) or "no destinations")
        log.info("retry-now annotation acted on", extra={"outcome": message})
        await self._post_event(updated, KubeEvent(EventType.NORMAL, "RetryRequested", message))
        return True

    async def _post_retry(self, pod: ObservedPod | None, dest: str, index: int) -> str:
        """POST RETRY_PATH to one destination's container; what came of it, in words."""
        if pod is None or self.session is None:
            return "no forwarder running"
        if not any(
            c.name == destination_container(dest) and c.state.running is not None
            for c in pod.status.container_statuses
        ):
            return "its container is not running"
        token = self.settings.forwarder_token.get_secret_value()
        url = f"http://{pod.status.pod_ip}:{forwarder_port(index)}{RETRY_PATH}"
        try:
            async with self.session.post(
                url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=POD_TIMEOUT),
            ) as resp:
                if resp.status == 401:
                    return "refused: the forwarder has no or another forwarder token"
                if resp.status != 200:
                    return f"the forwarder answered {resp.status}"
                body = await resp.json()
                retried = isinstance(body, dict) and body.get("retried") is True
                return "retrying" if retried else "nothing to retry"
        except Exception as exc:
            return f"unreachable ({type(exc).__name__})"

    async def _claim_warm_worker(self, owner: LiveStream, pod: Body) -> bool:
        if self.pool is None or pod["metadata"]["labels"].get(COMPONENT_LABEL) != WORKER:
            return False
        claimed = await self.pool.claim(owner, pod)
        if claimed is None:
            return False
        self.pods.setdefault(owner.key, {})[claimed.name] = claimed
        self._observe_worker_start(owner)
        return True

    def _observe_worker_start(self, owner: LiveStream) -> None:
        since = parse_time(owner.status.ingest.available_since if owner.status.ingest else None)
        if since is not None:
            metrics.READY_TO_WORKER.observe(max((datetime.now(UTC) - since).total_seconds(), 0.0))

    async def _create_pod(self, owner: LiveStream, pod: Body) -> None:
        namespace = owner.metadata.namespace or ""
        try:
            created = await self.kube.create_pod(namespace, pod)
        except KubeError as exc:
            if not exc.already_exists:
                raise
            # Our cache lags behind our own create; the watch event will follow.
            return
        observed = ObservedPod.parse(created)
        self.pods.setdefault(owner.key, {})[observed.name] = observed
        log.info("created pod", extra={"pod": observed.name})
        if pod["metadata"]["labels"].get(COMPONENT_LABEL) == WORKER:
            self._observe_worker_start(owner)

    async def _delete_livestream(self, livestream: LiveStream, decided: Plan) -> None:
        namespace, name = livestream.key
        try:
            # Conditional on what the plan saw: a ready event that arrived
            # meanwhile changes the resourceVersion and cancels the deletion.
            await self.kube.delete_livestream(namespace, name, livestream.metadata.resource_version)
        except KubeError as exc:
            if exc.not_found:
                return
            if exc.conflict:
                self.livestreams[livestream.key] = await self.kube.get_livestream(namespace, name)
                self.queue.add(livestream.key)
                return
            raise
        log.info("deleted LiveStream after its grace period")
        for event in decided.events:
            await self._post_event(livestream, event)
        _record(decided.measurements)

    async def _write_status(self, livestream: LiveStream, decided: Plan) -> None:
        # A reconcile that changes nothing writes nothing (and so wakes nobody).
        operator = FieldManager.OPERATOR
        if owned_part(decided.status, operator) == owned_part(livestream.status, operator):
            return
        try:
            # Unconditional: the operator alone writes these fields.
            updated = await self.kube.apply_livestream_status(
                livestream, operator, decided.status, conditional=False
            )
        except KubeError as exc:
            if exc.not_found:
                return
            raise
        self.livestreams[livestream.key] = updated

    async def _post_event(self, livestream: LiveStream, event: KubeEvent) -> None:
        manifest = event_manifest(livestream, event, datetime.now(UTC))
        try:
            await self.kube.create_event(livestream.metadata.namespace or "", manifest)
        except (KubeError, OSError, TimeoutError) as exc:
            log.warning("could not post event", extra={"reason": str(exc)})

    def _count_phases(self) -> None:
        for phase, count in self.livestreams.by_phase().items():
            metrics.LIVESTREAMS.labels(phase.value if phase else "Unknown").set(count)


def _record(measurements: list[Measurement]) -> None:
    for m in measurements:
        if m.kind is Measured.LOSS_STARTED:
            metrics.INPUT_LOSSES.inc()
        elif m.kind is Measured.LOSS_ENDED and m.outcome is not None:
            metrics.INPUT_LOSS_DURATION.labels(m.outcome.value).observe(m.seconds)
        elif m.kind is Measured.STARTUP:
            metrics.STARTUP.observe(m.seconds)
