"""What a Pod's status says about a stream's worker or forwarder: its summary
for status.worker/forwarder, the waiting reasons that will not fix themselves,
and the kubelet's words for a missing Secret or key.

Read by the plan's concerns (phase, destinations, processing) and by the warm
pool, which replaces an idle Pod that is stuck.
"""

from __future__ import annotations

import re

from ..api.v1alpha1 import PodState, PodStatusSummary
from .observed import ObservedPod

# Waiting reasons that will not fix themselves: the stream has failed until
# someone changes the spec or the cluster.
STUCK = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
    }
)
# What the kubelet says (waiting reason CreateContainerConfigError) when a
# container's secretKeyRef points at a Secret or key that does not exist.
SECRET_NOT_FOUND = "SecretNotFound"
SECRET_KEY_NOT_FOUND = "SecretKeyNotFound"
CONFIG_ERROR = "CreateContainerConfigError"
# The names in them: the Secret's; the key's and <namespace>/<Secret>.
SECRET_MISSING = re.compile(r'\bsecrets? "([^"]*)" not found', re.IGNORECASE)
SECRET_KEY_MISSING = re.compile(r"\bcouldn't find key (\S+) in Secret (\S+)", re.IGNORECASE)


def pod_state(pod: ObservedPod | None) -> PodStatusSummary:
    """Summary for status.worker/forwarder: state, restarts and why it is not ready."""
    if pod is None:
        return PodStatusSummary(pod_name=None, state=PodState.ABSENT, restarts=None, message=None)
    containers = pod.status.container_statuses
    restarts = sum(c.restart_count for c in containers)
    message = None
    for c in containers:
        waiting = c.state.waiting
        if waiting is not None:
            message = f"{c.name}: {waiting.reason or 'Waiting'}"
            if waiting.message:
                message += f": {waiting.message[:200]}"
            if waiting.reason in STUCK:
                return _summary(pod, PodState.FAILED, restarts, message)
    if pod.terminating:
        state = PodState.TERMINATING
    elif pod.finished:
        state = PodState.FAILED
        message = pod.status.reason or pod.status.message or f"pod {pod.status.phase}"
    elif pod.status.phase == "Running":
        state = PodState.READY if pod.ready else PodState.RUNNING
    else:
        state = PodState.PENDING
    return _summary(pod, state, restarts, message)


def _summary(
    pod: ObservedPod, state: PodState, restarts: int, message: str | None
) -> PodStatusSummary:
    return PodStatusSummary(pod_name=pod.name, state=state, restarts=restarts, message=message)
