"""Decide what a LiveStream needs (pure): children to create or delete, its phase,
conditions and status, and when to look at it again.

Level-based: the plan depends only on the LiveStream, its Pods and the time, so
running it twice, or after a restart, gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import manifests, naming
from .models import (
    DestinationState,
    Lifecycle,
    LiveStreamSpec,
    Phase,
)
from .settings import Settings

Body = dict[str, Any]

# Waiting reasons that will not fix themselves: the stream has failed until
# someone changes the spec or the cluster.
_STUCK = {
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
}
# A destination that has not become ready this long after its container started
# is reported as failing (its process keeps retrying).
DESTINATION_STARTUP_SECONDS = 15.0


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ pod summaries


def _containers(pod: Body) -> list[Body]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def pod_state(pod: Body | None) -> Body:
    """Worker summary for status.worker: state, restarts and why it is not ready."""
    if pod is None:
        return {"podName": None, "state": "Absent", "restarts": None, "message": None}
    status = pod.get("status") or {}
    statuses = _containers(pod)
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    message = None
    for c in statuses:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting:
            message = f"{c['name']}: {waiting.get('reason', 'Waiting')}"
            if waiting.get("message"):
                message += f": {waiting['message'][:200]}"
            if waiting.get("reason") in _STUCK:
                return _summary(pod, "Failed", restarts, message)
    phase = status.get("phase", "Pending")
    if pod["metadata"].get("deletionTimestamp"):
        state = "Terminating"
    elif phase in ("Failed", "Succeeded"):
        state = "Failed"
        message = status.get("reason") or status.get("message") or f"pod {phase}"
    elif phase == "Running":
        state = "Ready" if statuses and all(c.get("ready") for c in statuses) else "Running"
    else:
        state = "Pending"
    return _summary(pod, state, restarts, message)


def _summary(pod: Body, state: str, restarts: int, message: str | None) -> Body:
    return {
        "podName": pod["metadata"]["name"],
        "state": state,
        "restarts": restarts,
        "message": message,
    }


def destination_states(pod: Body | None, spec: LiveStreamSpec, now: datetime) -> list[Body]:
    """Per-destination state from the forwarder Pod's containerStatuses."""
    dests = spec.forwarder.destinations if spec.forwarder else []
    by_name = {c["name"]: c for c in _containers(pod)} if pod else {}
    out = []
    for dest in dests:
        c = by_name.get(manifests.destination_container(dest.name))
        state, message, restarts = DestinationState.PENDING, None, 0
        if pod is None:
            state = DestinationState.STOPPED
        elif c is not None:
            restarts = int(c.get("restartCount", 0))
            st = c.get("state") or {}
            if c.get("ready"):
                state = DestinationState.UP
            elif "waiting" in st or "terminated" in st:
                detail = st.get("waiting") or st.get("terminated") or {}
                state = DestinationState.FAILING if restarts or "terminated" in st else state
                message = detail.get("reason")
                if detail.get("reason") in _STUCK:
                    state = DestinationState.FAILING
            elif "running" in st:
                started = parse_time(st["running"].get("startedAt"))
                if started and (now - started).total_seconds() > DESTINATION_STARTUP_SECONDS:
                    state, message = DestinationState.FAILING, "not delivering to destination"
        out.append(
            {"name": dest.name, "state": state.value, "restarts": restarts, "message": message}
        )
    return out


# ----------------------------------------------------------------------- the plan


@dataclass
class Plan:
    create: list[Body] = field(default_factory=list)
    # (pod name, uid, reason)
    delete: list[tuple[str, str, str]] = field(default_factory=list)
    delete_livestream: bool = False
    status: Body = field(default_factory=dict)
    # (type, reason, message) Kubernetes Events to post
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None


def grace_deadline(livestream: Body, spec: LiveStreamSpec) -> datetime | None:
    """When the grace period ends; None while the ingest is available.

    A LiveStream whose ingest was never seen counts from its creation, so an
    Ephemeral one left behind by a failed hook does not live forever.
    """
    ingest = (livestream.get("status") or {}).get("ingest") or {}
    if ingest.get("available"):
        return None
    since = parse_time(ingest.get("unavailableSince"))
    if since is None:
        since = parse_time(livestream["metadata"].get("creationTimestamp"))
    if since is None:
        return None
    return since + timedelta(seconds=spec.grace_period_seconds)


def _ever_published(livestream: Body) -> bool:
    ingest = (livestream.get("status") or {}).get("ingest") or {}
    return bool(ingest.get("availableSince") or ingest.get("unavailableSince"))


def plan(livestream: Body, pods: dict[str, Body], settings: Settings, now: datetime) -> Plan:
    spec = LiveStreamSpec.model_validate(livestream["spec"])
    meta = livestream["metadata"]
    name = meta["name"]
    status = livestream.get("status") or {}
    ingest = status.get("ingest") or {}
    output = status.get("output") or {}
    result = Plan()

    deadline = grace_deadline(livestream, spec)
    available = bool(ingest.get("available"))
    in_grace = deadline is not None and now < deadline and _ever_published(livestream)
    active = available or in_grace
    expired = deadline is not None and now >= deadline

    if not active and expired and spec.lifecycle is Lifecycle.EPHEMERAL:
        result.delete_livestream = True
        result.events.append(
            ("Normal", "GracePeriodExpired", f"ingest gone for {spec.grace_period_seconds}s")
        )
        return result

    # Pods of an earlier LiveStream with the same name wait for the garbage
    # collector; they are not ours to reuse.
    for pod in pods.values():
        owners = pod["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == meta["uid"] for o in owners):
            result.delete.append((pod["metadata"]["name"], pod["metadata"]["uid"], "NotOwned"))
    ours = {
        k: p for k, p in pods.items() if (k, p["metadata"]["uid"], "NotOwned") not in result.delete
    }
    worker = ours.get(naming.worker_pod_name(name))
    forwarder = ours.get(naming.forwarder_pod_name(name))

    desired_worker = manifests.worker_pod(livestream, settings) if active else None
    desired_forwarder = manifests.forwarder_pod(livestream, settings) if active else None
    worker = _converge(result, worker, desired_worker, "worker")
    forwarder = _converge(result, forwarder, desired_forwarder, "forwarder")

    worker_summary = pod_state(worker)
    if worker is None and desired_worker is not None:
        worker_summary = {
            **worker_summary,
            "podName": desired_worker["metadata"]["name"],
            "state": "Pending",
        }
    idle = expired and _ever_published(livestream)
    phase, message = _phase(spec, available, in_grace, idle, worker_summary, output)

    dests = destination_states(forwarder, spec, now) if spec.forwarder else []
    forwarder_status: Body | None = None
    if spec.forwarder and spec.forwarder.destinations:
        fwd = pod_state(forwarder)
        up = sum(1 for d in dests if d["state"] == DestinationState.UP.value)
        forwarder_status = {
            **fwd,
            "ready": f"{up}/{len(dests)}",
            "destinations": dests,
        }

    result.status = {
        "phase": phase.value,
        "message": message,
        "observedGeneration": meta.get("generation"),
        "graceDeadline": format_time(deadline) if in_grace and deadline else None,
        "worker": worker_summary,
        "forwarder": forwarder_status,
        "conditions": _conditions(phase, available, worker_summary, output, dests, message),
    }
    previous = status.get("phase")
    if previous != phase.value:
        kind = "Warning" if phase is Phase.FAILED else "Normal"
        result.events.append((kind, f"Phase{phase.value}", message))
    if in_grace and deadline is not None:
        result.requeue_after = max((deadline - now).total_seconds(), 0.0) + 0.05
    elif any(d["state"] == DestinationState.PENDING.value for d in dests) and forwarder:
        result.requeue_after = DESTINATION_STARTUP_SECONDS
    return result


def _converge(result: Plan, current: Body | None, desired: Body | None, what: str) -> Body | None:
    """Create, keep, replace or delete one child; returns the Pod that stays."""
    if desired is None:
        if current is not None and not current["metadata"].get("deletionTimestamp"):
            result.delete.append((current["metadata"]["name"], current["metadata"]["uid"], "Idle"))
            result.events.append(("Normal", f"Deleted{what.title()}", "stream is idle"))
        return None
    if current is None:
        result.create.append(desired)
        return None
    if current["metadata"].get("deletionTimestamp"):
        return current  # recreated once it is gone
    status = current.get("status") or {}
    changed = manifests.spec_hash(current) != manifests.spec_hash(desired)
    if changed or status.get("phase") in ("Failed", "Succeeded"):
        reason = "SpecChanged" if changed else "PodFinished"
        result.delete.append((current["metadata"]["name"], current["metadata"]["uid"], reason))
        result.events.append(("Normal", f"Replacing{what.title()}", reason))
        return None
    return current


def _phase(
    spec: LiveStreamSpec,
    available: bool,
    in_grace: bool,
    idle: bool,
    worker: Body,
    output: Body,
) -> tuple[Phase, str]:
    if available or in_grace:
        if worker["state"] == "Failed":
            return Phase.FAILED, f"worker failed: {worker.get('message') or 'unknown'}"
        if not available:
            return Phase.RECONNECTING, "ingest unavailable; waiting for the publisher to return"
        if worker["state"] in ("Running", "Ready") and output.get("available"):
            return Phase.LIVE, "processed output is available"
        if worker["state"] in ("Running", "Ready"):
            return Phase.STARTING, "worker running; waiting for processed output"
        return Phase.STARTING, "ingest available; starting worker"
    if idle and spec.lifecycle is Lifecycle.PERSISTENT:
        return Phase.IDLE, "grace period over; waiting for the next publish"
    return Phase.PENDING, "waiting for a publisher"


def _condition(ctype: str, ok: bool, reason: str, message: str = "") -> Body:
    return {
        "type": ctype,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
    }


def _conditions(
    phase: Phase,
    available: bool,
    worker: Body,
    output: Body,
    dests: list[Body],
    message: str,
) -> list[Body]:
    conds = [
        _condition("Ready", phase is Phase.LIVE, phase.value, message),
        _condition("IngestAvailable", available, "Publishing" if available else "NoPublisher"),
        _condition(
            "WorkerReady",
            worker["state"] == "Ready",
            worker["state"] or "Absent",
            worker.get("message") or "",
        ),
        _condition(
            "OutputAvailable",
            bool(output.get("available")),
            "Flowing" if output.get("available") else "NoOutput",
        ),
    ]
    if dests:
        failing = [d["name"] for d in dests if d["state"] == DestinationState.FAILING.value]
        conds.append(
            _condition(
                "DestinationsHealthy",
                not failing and all(d["state"] == "Up" for d in dests),
                "Failing" if failing else "AllUp",
                f"failing: {', '.join(failing)}" if failing else "",
            )
        )
    return conds


def merge_conditions(
    old: list[Body] | None, new: list[Body], now: str, generation: Any
) -> list[Body]:
    """Keep lastTransitionTime unless a condition's status changed."""
    before = {c["type"]: c for c in old or []}
    merged = []
    for cond in new:
        prev = before.get(cond["type"])
        changed = prev is None or prev.get("status") != cond["status"]
        merged.append(
            {
                **cond,
                "lastTransitionTime": now if changed else prev["lastTransitionTime"],  # type: ignore[index]
                "observedGeneration": generation,
            }
        )
    return merged
