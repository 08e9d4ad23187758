"""The forwarder's destinations (pure): each one's state from its container,
status.forwarder, and the DestinationsHealthy condition, which names a
destination whose urlSecretRef is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..api.v1alpha1 import (
    ConditionType,
    DestinationState,
    DestinationStatus,
    ForwarderStatus,
    LiveStreamSpec,
    parse_time,
)
from . import pods
from .conditions import WantedCondition
from .observed import ObservedPod
from .pod_status import (
    CONFIG_ERROR,
    SECRET_KEY_MISSING,
    SECRET_KEY_NOT_FOUND,
    SECRET_MISSING,
    SECRET_NOT_FOUND,
    STUCK,
    pod_state,
)

# A destination that has not become ready this long after its container started
# is reported as failing (its process keeps retrying).
DESTINATION_STARTUP_SECONDS = 15.0


def destination_states(
    pod: ObservedPod | None, spec: LiveStreamSpec, now: datetime
) -> list[DestinationStatus]:
    """Per-destination state from the forwarder Pod's containerStatuses."""
    dests = spec.forwarder.destinations if spec.forwarder else []
    by_name = {c.name: c for c in pod.status.container_statuses} if pod else {}
    out = []
    for dest in dests:
        c = by_name.get(pods.destination_container(dest.name))
        state, message, restarts = DestinationState.PENDING, None, 0
        if pod is None:
            state = DestinationState.STOPPED
        elif c is not None:
            restarts = c.restart_count
            st = c.state
            if c.ready:
                state = DestinationState.UP
            elif st.waiting is not None or st.terminated is not None:
                detail = st.waiting or st.terminated
                if restarts or st.terminated is not None:
                    state = DestinationState.FAILING
                message = detail.reason if detail else None
                if message in STUCK:
                    state = DestinationState.FAILING
            elif st.running is not None:
                started = parse_time(st.running.started_at)
                if started and (now - started).total_seconds() > DESTINATION_STARTUP_SECONDS:
                    state, message = DestinationState.FAILING, "not delivering to destination"
        out.append(
            DestinationStatus(name=dest.name, state=state, restarts=restarts, message=message)
        )
    return out


def starting(dests: list[DestinationStatus]) -> bool:
    """Some destination is still pending: look again when it should be up."""
    return any(d.state is DestinationState.PENDING for d in dests)


def forwarder_status(
    pod: ObservedPod | None, spec: LiveStreamSpec, dests: list[DestinationStatus]
) -> ForwarderStatus | None:
    """status.forwarder: the Pod's summary, how many destinations are up, each one."""
    if not (spec.forwarder and spec.forwarder.destinations):
        return None
    up = sum(1 for d in dests if d.state is DestinationState.UP)
    return ForwarderStatus(
        **pod_state(pod).model_dump(),
        ready=f"{up}/{len(dests)}",
        destinations=dests,
    )


@dataclass(frozen=True)
class MissingSecret:
    """A destination whose container cannot start: its urlSecretRef is missing.

    The names come from the spec (the kubelet's message only says which of the
    two it is); nothing of the Secret's content is ever read.
    """

    destination: str
    reason: str  # SECRET_NOT_FOUND or SECRET_KEY_NOT_FOUND
    secret: str
    key: str

    @property
    def message(self) -> str:
        if self.reason == SECRET_KEY_NOT_FOUND:
            return (
                f'destination {self.destination}: key "{self.key}" not found '
                f'in Secret "{self.secret}" (urlSecretRef)'
            )
        return (
            f'destination {self.destination}: Secret "{self.secret}" not found '
            f'(urlSecretRef key "{self.key}")'
        )


def missing_secrets(pod: ObservedPod | None, spec: LiveStreamSpec) -> list[MissingSecret]:
    """Destinations the kubelet cannot start for a missing Secret or key, in spec order."""
    if pod is None or spec.forwarder is None:
        return []
    by_name = {c.name: c for c in pod.status.container_statuses}
    out = []
    for dest in spec.forwarder.destinations:
        c = by_name.get(pods.destination_container(dest.name))
        waiting = c.state.waiting if c is not None else None
        if waiting is None or waiting.reason != CONFIG_ERROR:
            continue
        text = waiting.message or ""
        if SECRET_KEY_MISSING.search(text):
            reason = SECRET_KEY_NOT_FOUND
        elif SECRET_MISSING.search(text):
            reason = SECRET_NOT_FOUND
        else:
            continue
        ref = dest.url_secret_ref
        out.append(MissingSecret(dest.name, reason, ref.name, ref.key))
    return out


def destinations_condition(
    dests: list[DestinationStatus], missing: list[MissingSecret]
) -> WantedCondition | None:
    """DestinationsHealthy: all up, or which fail (a missing Secret or key first)."""
    if not dests:
        return None
    kind = ConditionType.DESTINATIONS_HEALTHY
    if missing:
        # A missing Secret or key names itself; the other failures follow it.
        named = {m.destination for m in missing}
        others = [
            d.name for d in dests if d.state is DestinationState.FAILING and d.name not in named
        ]
        detail = "; ".join(m.message for m in missing)
        if others:
            detail += f"; failing: {', '.join(others)}"
        return WantedCondition(kind, False, missing[0].reason, detail)
    failing = [d.name for d in dests if d.state is DestinationState.FAILING]
    return WantedCondition(
        kind,
        not failing and all(d.state is DestinationState.UP for d in dests),
        "Failing" if failing else "AllUp",
        f"failing: {', '.join(failing)}" if failing else "",
    )
