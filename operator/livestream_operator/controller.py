"""The reconcile loop: watch events fill a cache, a work queue hands out LiveStream
keys, and each reconcile carries out the plan that phases.plan() decided.

kopf delivers the watch events (with its reconnects, throttling and probes);
the reconcile is level-based and driven from three sources (LiveStream events,
Pod events, grace deadlines), hence a work queue rather than kopf's
change-detection handlers, which ignore status changes by design.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from . import logs, metrics, phases
from .kube import Kube, KubeError
from .manifests import STREAM_LABEL
from .settings import Settings
from .workqueue import WorkQueue

log = logging.getLogger(__name__)
Body = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)


def _differs(current: Any, desired: Any) -> bool:
    """Whether merge-patching `desired` onto `current` would change anything."""
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return True
        return any(
            (k in current and current[k] is not None) if v is None else _differs(current.get(k), v)
            for k, v in desired.items()
        )
    return bool(current != desired)


def _clean_lists(value: Any) -> Any:
    """Drop None inside list items: lists are replaced whole by a merge patch."""
    if isinstance(value, dict):
        return {k: _clean_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [
            {k: _clean_lists(v) for k, v in item.items() if v is not None}
            if isinstance(item, dict)
            else item
            for item in value
        ]
    return value


class Controller:
    def __init__(self, kube: Kube, settings: Settings) -> None:
        self.kube = kube
        self.settings = settings
        self.queue: WorkQueue[Key] = WorkQueue()
        self.livestreams: dict[Key, Body] = {}
        self.pods: dict[Key, dict[str, Body]] = {}

    # ------------------------------------------------------------- watch events

    def on_livestream(self, event_type: str | None, body: Body) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.livestreams.pop(key, None)
            return
        self.livestreams[key] = body
        self.queue.add(key)
        metrics.QUEUE_DEPTH.set(len(self.queue))

    def on_pod(self, event_type: str | None, body: Body) -> None:
        meta = body["metadata"]
        owner = (meta.get("labels") or {}).get(STREAM_LABEL)
        if not owner:
            return
        key = (meta["namespace"], owner)
        children = self.pods.setdefault(key, {})
        if event_type == "DELETED":
            children.pop(meta["name"], None)
        else:
            children[meta["name"]] = body
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
        body = self.livestreams.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        namespace = key[0]
        now = datetime.now(UTC)
        plan = phases.plan(body, dict(self.pods.get(key, {})), self.settings, now)

        if plan.delete_livestream:
            await self._delete_livestream(body, plan)
            return None

        for pod_name, uid, reason in plan.delete:
            try:
                await self.kube.delete_pod(namespace, pod_name, uid)
                log.info("deleted pod", extra={"pod": pod_name, "reason": reason})
            except KubeError as exc:
                if not (exc.not_found or exc.conflict):
                    raise
        for pod in plan.create:
            await self._create_pod(body, pod)

        await self._write_status(body, plan.status, now)
        for event_type, reason, message in plan.events:
            await self._post_event(body, event_type, reason, message)
        self._count_phases()
        return plan.requeue_after

    async def _create_pod(self, owner: Body, pod: Body) -> None:
        namespace = owner["metadata"]["namespace"]
        try:
            created = await self.kube.create_pod(namespace, pod)
        except KubeError as exc:
            if not exc.already_exists:
                raise
            # Our cache lags behind our own create; the watch event will follow.
            return
        self.pods.setdefault((namespace, owner["metadata"]["name"]), {})[
            created["metadata"]["name"]
        ] = created
        log.info("created pod", extra={"pod": pod["metadata"]["name"]})
        if pod["metadata"]["labels"].get("app.kubernetes.io/component") == "worker":
            since = phases.parse_time(
                ((owner.get("status") or {}).get("ingest") or {}).get("availableSince")
            )
            if since is not None:
                metrics.READY_TO_WORKER.observe(
                    max((datetime.now(UTC) - since).total_seconds(), 0.0)
                )

    async def _delete_livestream(self, body: Body, plan: phases.Plan) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        try:
            # Conditional on what the plan saw: a ready event that arrived
            # meanwhile changes the resourceVersion and cancels the deletion.
            await self.kube.delete_livestream(namespace, name, body["metadata"]["resourceVersion"])
        except KubeError as exc:
            if exc.not_found:
                return
            if exc.conflict:
                fresh = await self.kube.get_livestream(namespace, name)
                self.livestreams[(namespace, name)] = fresh
                self.queue.add((namespace, name))
                return
            raise
        log.info("deleted LiveStream after its grace period")
        for event_type, reason, message in plan.events:
            await self._post_event(body, event_type, reason, message)

    async def _write_status(self, body: Body, desired: Body, now: datetime) -> None:
        current = body.get("status") or {}
        desired = dict(desired)
        desired["conditions"] = phases.merge_conditions(
            current.get("conditions"),
            desired["conditions"],
            phases.format_time(now),
            body["metadata"].get("generation"),
        )
        desired = _clean_lists(desired)
        # A reconcile that changes nothing writes nothing (and so wakes nobody).
        if not _differs(current, desired):
            return
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        try:
            updated = await self.kube.patch_livestream_status(namespace, name, desired)
        except KubeError as exc:
            if exc.not_found:
                return
            raise
        self.livestreams[(namespace, name)] = updated

    async def _post_event(self, body: Body, event_type: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        ts = phases.format_time(datetime.now(UTC))
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "livestream-operator"},
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "reportingComponent": "livestream-operator",
            "reportingInstance": "livestream-operator",
        }
        try:
            await self.kube.create_event(meta["namespace"], event)
        except (KubeError, OSError, TimeoutError) as exc:
            log.warning("could not post event", extra={"reason": str(exc)})

    def _count_phases(self) -> None:
        counts = Counter(
            ((b.get("status") or {}).get("phase") or "Unknown") for b in self.livestreams.values()
        )
        for phase in ("Pending", "Starting", "Live", "Reconnecting", "Idle", "Failed", "Unknown"):
            metrics.LIVESTREAMS.labels(phase).set(counts.get(phase, 0))
