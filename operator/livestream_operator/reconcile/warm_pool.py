"""The warm worker pool at work (the shell around pool.py): keep idle worker Pods
ready, hand one to a new stream, tell it its stream.

Only the leader runs it, as it runs the reconcile. What a claim is, and why two
claims of one Pod cannot both succeed, is in pool.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp

from ..api.pod_contract import ASSIGNMENT_PATH, WORKER_METRICS_PORT
from ..api.v1alpha1 import LiveStream
from ..kube import Kube, KubeError
from ..settings import Settings
from . import metrics, pods, pool
from .observed import ObservedPod

log = logging.getLogger(__name__)
Body = dict[str, object]

# A claimed Pod that cannot be told its stream for this long is given up: it is
# deleted and the stream gets a worker of its own.
ASSIGN_DEADLINE = 15.0
ASSIGN_TIMEOUT = 3.0
# Without a watch event, the pool is looked at this often anyway.
RESYNC_SECONDS = 5.0


class WarmPool:
    def __init__(self, kube: Kube, settings: Settings, session: aiohttp.ClientSession) -> None:
        self.kube, self.settings, self.session = kube, settings, session
        self.template = pods.pool_template(settings)
        self.idle: dict[str, ObservedPod] = {}
        self._claiming: set[str] = set()
        self._assigned: set[str] = set()  # Pod uids that accepted their stream
        self._failing: dict[str, float] = {}  # Pod uid -> first failed assignment
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self.settings.worker_pool_size > 0

    # ------------------------------------------------------------- watch events

    def on_pod(self, event_type: str | None, pod: ObservedPod) -> None:
        if event_type == "DELETED":
            self._assigned.discard(pod.metadata.uid)
        if event_type == "DELETED" or not pool.is_idle(pod):
            self.idle.pop(pod.name, None)
        else:
            self.idle[pod.name] = pod
        self._wake.set()

    # ------------------------------------------------------------------- claims

    async def claim(self, livestream: LiveStream, desired: Body) -> ObservedPod | None:
        """Make an idle Pod this stream's worker; None if there is none to take."""
        if not self.enabled or not pool.claimable(livestream):
            return None
        namespace = self.settings.namespace
        for _ in range(3):
            candidate = pool.pick(list(self.idle.values()), self.template, self._claiming)
            if candidate is None:
                metrics.POOL_CLAIMS.labels("empty").inc()
                return None
            self._claiming.add(candidate.name)
            try:
                body = await self.kube.patch_pod(
                    namespace, candidate.name, pool.claim_patch(candidate, livestream, desired)
                )
            except KubeError as exc:
                if exc.conflict or exc.not_found:
                    # Changed or gone since we saw it; the watch tells us which.
                    self.idle.pop(candidate.name, None)
                    metrics.POOL_CLAIMS.labels("conflict").inc()
                    continue
                raise
            finally:
                self._claiming.discard(candidate.name)
            self.idle.pop(candidate.name, None)
            self._wake.set()  # refill
            claimed = ObservedPod.parse(body)
            metrics.POOL_CLAIMS.labels("claimed").inc()
            log.info("claimed a warm worker", extra={"pod": claimed.name})
            await self.ensure_assigned(livestream, claimed)
            return claimed
        return None

    async def ensure_assigned(self, livestream: LiveStream, worker: ObservedPod) -> float | None:
        """Tell a claimed pool worker its stream, unless it already knows (after an
        operator restart it is told again: the call is idempotent). Returns when
        to look again."""
        uid = worker.metadata.uid
        if worker.metadata.labels.get(pods.POOL_LABEL) != pods.POOL_CLAIMED:
            return None
        if uid in self._assigned or worker.terminating:
            return None
        outcome = await self._assign(livestream, worker)
        if outcome == "assigned":
            self._assigned.add(uid)
            self._failing.pop(uid, None)
            return None
        first = self._failing.setdefault(uid, time.monotonic())
        if outcome == "refused" or time.monotonic() - first > ASSIGN_DEADLINE:
            log.warning(
                "giving up a claimed worker",
                extra={"pod": worker.name, "reason": outcome},
            )
            self._failing.pop(uid, None)
            try:
                await self.kube.delete_pod(worker.metadata.namespace, worker.name, uid)
            except KubeError as exc:
                if not (exc.not_found or exc.conflict):
                    raise
            return None
        return 1.0

    async def _assign(self, livestream: LiveStream, worker: ObservedPod) -> str:
        if not worker.status.pod_ip:
            return "no-ip"
        body = pool.assignment(livestream, self.settings).model_dump(by_alias=True, mode="json")
        url = f"http://{worker.status.pod_ip}:{WORKER_METRICS_PORT}{ASSIGNMENT_PATH}"
        token = self.settings.pool_token.get_secret_value()
        try:
            async with self.session.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=ASSIGN_TIMEOUT),
            ) as resp:
                if resp.status == 200:
                    log.info("assigned a warm worker", extra={"pod": worker.name})
                    return "assigned"
                detail = (await resp.text())[:300]
                log.warning(
                    "warm worker refused its assignment",
                    extra={"pod": worker.name, "status": resp.status, "reason": detail},
                )
                # 409: it serves another stream (it must never get a second one).
                return "refused" if resp.status in (401, 409, 422) else f"http-{resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info(
                "warm worker not reachable yet", extra={"pod": worker.name, "reason": str(exc)}
            )
            return "unreachable"

    # ------------------------------------------------------------------ refills

    async def seed(self) -> None:
        """Start from what the API server has, not from a watch that may lag."""
        selector = f"{pods.POOL_LABEL}={pods.POOL_IDLE}"
        for body in await self.kube.list_pods(self.settings.namespace, selector):
            self.on_pod("ADDED", ObservedPod.parse(body))

    async def run(self) -> None:
        await self.seed()
        while True:
            try:
                await self.refill()
            except (KubeError, OSError, TimeoutError) as exc:
                log.warning("pool refill failed; retrying", extra={"reason": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RESYNC_SECONDS)
            self._wake.clear()

    async def refill(self) -> None:
        decided = pool.plan_pool(
            list(self.idle.values()), self.settings.worker_pool_size, self.template
        )
        namespace = self.settings.namespace
        for pod in decided.delete:
            try:
                await self.kube.delete_pod(namespace, pod.name, pod.metadata.uid)
            except KubeError as exc:
                if not (exc.not_found or exc.conflict):
                    raise
            self.idle.pop(pod.name, None)
        for _ in range(decided.create):
            created = ObservedPod.parse(
                await self.kube.create_pod(namespace, pods.pool_worker_pod(self.settings))
            )
            self.idle[created.name] = created  # counted before its watch event lands
            log.info("started a warm worker", extra={"pod": created.name})
        metrics.POOL_IDLE.set(sum(1 for p in self.idle.values() if p.ready))
