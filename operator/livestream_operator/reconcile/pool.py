"""The warm worker pool, decided (pure): which idle Pod a new stream claims, the
claim itself, and how many idle Pods to add or remove.

An idle pool Pod is a worker started with `worker --pool`: GStreamer loaded, no
stream. Claiming it is one conditional merge patch (on the Pod's resourceVersion)
that moves it to the LiveStream: the owner reference, the stream label, the spec
hash of the worker the plan wants. Two claims of one Pod cannot both succeed,
and the claim is in the Pod itself, so an operator restart finds it as it was:
an idle Pod, or some stream's worker. The stream part of the worker contract
then reaches the Pod as a WorkerAssignment, without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..api.pod_contract import WorkerAssignment
from ..api.v1alpha1 import LiveStream, PodState, WorkerMode
from ..settings import Settings
from . import pods
from .observed import ObservedPod
from .pod_status import pod_state

Body = dict[str, Any]


def claimable(livestream: LiveStream) -> bool:
    """Pool Pods run the operator's default image and resources: only for streams
    that ask for neither. Nor for process mode: a pool Pod has no backend token
    (BACKEND_TOKEN_VAR comes from the stream's Secret, in the Pod's env, fixed at
    creation) and the assignment carries no processing."""
    worker = livestream.spec.worker
    return (
        worker.image is None and worker.resources is None and worker.mode is not WorkerMode.PROCESS
    )


def is_pool_pod(pod: ObservedPod) -> bool:
    return pods.POOL_LABEL in pod.metadata.labels


def is_idle(pod: ObservedPod) -> bool:
    return (
        pod.metadata.labels.get(pods.POOL_LABEL) == pods.POOL_IDLE
        and pods.STREAM_LABEL not in pod.metadata.labels
        and not pod.metadata.owner_references
    )


def pick(idle: list[ObservedPod], template: str, taken: set[str]) -> ObservedPod | None:
    """A ready idle Pod of the current template not already being claimed; oldest first
    (it has had the longest to warm up)."""
    fit = [
        p
        for p in idle
        if p.ready
        and not p.terminating
        and p.status.pod_ip
        and p.metadata.annotations.get(pods.POOL_TEMPLATE_ANNOTATION) == template
        and p.name not in taken
    ]
    fit.sort(key=lambda p: (p.metadata.creation_timestamp or "", p.name))
    return fit[0] if fit else None


def claim_patch(pod: ObservedPod, livestream: LiveStream, desired: Body) -> Body:
    """The merge patch that makes an idle pool Pod the worker the plan wants.

    Conditional on the resourceVersion the claimer saw: a second claim of the
    same Pod (another reconcile, an operator that has not noticed it lost its
    lease) gets 409 Conflict.
    """
    name = livestream.metadata.name
    want = desired["metadata"]
    return {
        "metadata": {
            "resourceVersion": pod.metadata.resource_version,
            "labels": {
                pods.POOL_LABEL: pods.POOL_CLAIMED,
                pods.STREAM_LABEL: name,
                "app.kubernetes.io/instance": name,
            },
            "annotations": {
                pods.STREAM_ID_ANNOTATION: livestream.spec.stream_id,
                pods.SPEC_HASH_ANNOTATION: want["annotations"][pods.SPEC_HASH_ANNOTATION],
            },
            "ownerReferences": [pods.owner_reference(livestream)],
        }
    }


def assignment(livestream: LiveStream, settings: Settings) -> WorkerAssignment:
    return WorkerAssignment.of(pods.worker_env(livestream, settings))


def stuck(pod: ObservedPod) -> bool:
    """An idle Pod that will not become ready by itself (crash loop, image pull
    error): it would hold a place in the pool for nothing."""
    return pod_state(pod).state is PodState.FAILED


@dataclass
class PoolPlan:
    create: int = 0
    delete: list[ObservedPod] = field(default_factory=list)


def plan_pool(idle: list[ObservedPod], size: int, template: str) -> PoolPlan:
    """Keep `size` idle Pods of the current template.

    Pods of an older template (the default image or resources changed), finished
    and stuck ones are replaced; with too many, the least ready go first.
    """
    result = PoolPlan()
    current = []
    for pod in idle:
        if pod.terminating:
            continue
        stale = pod.metadata.annotations.get(pods.POOL_TEMPLATE_ANNOTATION) != template
        if stale or pod.finished or stuck(pod):
            result.delete.append(pod)
        else:
            current.append(pod)
    current.sort(key=lambda p: (not p.ready, p.metadata.creation_timestamp or "", p.name))
    result.delete += current[size:]
    result.create = max(size - len(current), 0)
    return result
