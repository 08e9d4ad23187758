"""The forwarder's destinations (pure): each one's state, from what its
container reports (retries, backoff, Exhausted) or, when it cannot report,
from its container status; status.forwarder; the DestinationsHealthy
condition; the Events of a destination giving up; and the retry-now
annotation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..api.pod_contract import MAX_ERROR_LENGTH, REPORTED_STATES, DestinationReport
from ..api.v1alpha1 import (
    GROUP,
    ConditionType,
    DestinationState,
    DestinationStatus,
    ForwarderStatus,
    LiveStreamSpec,
    format_time,
    parse_time,
)
from ..kube_events import EventType, KubeEvent
from ..media_urls import redact_url
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

# A destination whose container runs this long without a report or a byte out is
# reported as failing (a forwarder image from before the reports).
DESTINATION_STARTUP_SECONDS = 15.0
# "<name>[,<name>...]" or "*": retry those destinations now. The operator removes
# it before it acts, so each setting is acted on once.
RETRY_ANNOTATION = f"{GROUP}/retry-destinations"
RETRY_ALL = "*"
EXHAUSTED = "Exhausted"
# The states the operator asks a forwarder about: it is trying, or not yet seen.
_ASK = (DestinationState.PENDING, DestinationState.CONNECTING, DestinationState.RETRYING)
# An RTMP URL in a line, without the punctuation after it ("<url>: refused").
_URL = re.compile(r"rtmps?://[^\s'\"]*[^\s'\":,.;]", re.IGNORECASE)


def destination_states(
    pod: ObservedPod | None,
    spec: LiveStreamSpec,
    now: datetime,
    reports: Mapping[str, DestinationReport] | None = None,
    stored: list[DestinationStatus] | None = None,
) -> list[DestinationStatus]:
    """Per-destination state: a running container's report (`reports`, by
    destination; None when not asked this time), else what it last reported
    (`stored`, the same container run), else its containerStatus."""
    dests = spec.forwarder.destinations if spec.forwarder else []
    by_name = {c.name: c for c in pod.status.container_statuses} if pod else {}
    before = {d.name: d for d in stored or []}
    out = []
    for dest in dests:
        c = by_name.get(pods.destination_container(dest.name))
        state, message, restarts = DestinationState.PENDING, None, 0
        if pod is None:
            out.append(DestinationStatus(name=dest.name, state=DestinationState.STOPPED))
            continue
        if c is not None:
            restarts = c.restart_count
            st = c.state
            report = (reports or {}).get(dest.name)
            prior = before.get(dest.name)
            if st.running is not None and report is not None and report.state in REPORTED_STATES:
                out.append(reported(dest.name, restarts, report))
                continue
            if (
                st.running is not None
                and prior is not None
                and prior.state in REPORTED_STATES
                and prior.restarts == restarts
            ):
                # Not asked this time: as it last said, unless it delivers now.
                if c.ready and prior.state is not DestinationState.ACTIVE:
                    prior = prior.model_copy(
                        update={"state": DestinationState.ACTIVE, "next_retry_time": None}
                    )
                out.append(prior)
                continue
            if c.ready:
                state = DestinationState.ACTIVE
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


def reported(name: str, restarts: int, report: DestinationReport) -> DestinationStatus:
    """A forwarder's report as status: times re-spelled, the error bounded and
    any RTMP URL in it redacted once more (the forwarder already did)."""
    error = _URL.sub(lambda m: redact_url(m[0]), report.last_error or "")[:MAX_ERROR_LENGTH]
    message = None
    if report.state is DestinationState.EXHAUSTED:
        message = (
            f"gave up after {report.retries} retries; retry with the annotation "
            f"{RETRY_ANNOTATION}={name}"
        )
    return DestinationStatus(
        name=name,
        state=report.state,
        restarts=restarts,
        message=message,
        retries=report.retries,
        last_error=error or None,
        last_retry_time=_time(report.last_retry_time),
        next_retry_time=_time(report.next_retry_time),
    )


def _time(value: str | None) -> str | None:
    try:
        parsed = parse_time(value)
    except ValueError:
        return None
    return format_time(parsed) if parsed is not None else None


def to_ask(dests: list[DestinationStatus], pod: ObservedPod | None) -> list[str]:
    """Destinations whose container to ask for a report: trying or unseen, or
    said to be Active while its container no longer is ready. Active and
    Exhausted ones are not asked (readiness or retry-now changes them)."""
    if pod is None:
        return []
    ready = {c.name: c.ready for c in pod.status.container_statuses}
    return [
        d.name
        for d in dests
        if d.state in _ASK
        or (
            d.state is DestinationState.ACTIVE
            and not ready.get(pods.destination_container(d.name), False)
        )
    ]


def destination_events(
    old: list[DestinationStatus] | None, new: list[DestinationStatus]
) -> list[KubeEvent]:
    """A Warning when a destination becomes Exhausted, once: the stored status
    says whether it already was. (Its return shows in the condition.)"""
    was = {d.name: d.state for d in old or []}
    return [
        KubeEvent(
            EventType.WARNING,
            "DestinationExhausted",
            f"destination {d.name}: gave up after {d.retries or 0} retries"
            + (f": {d.last_error}" if d.last_error else ""),
        )
        for d in new
        if d.state is DestinationState.EXHAUSTED
        and was.get(d.name) is not DestinationState.EXHAUSTED
    ]


@dataclass(frozen=True)
class RetryRequest:
    """What a retry-now annotation asks: destinations (with their container's
    index, which gives its port) and the names that are none of them."""

    targets: tuple[tuple[str, int], ...]
    unknown: tuple[str, ...]


def retry_request(value: str, spec: LiveStreamSpec) -> RetryRequest:
    dests = [d.name for d in spec.forwarder.destinations] if spec.forwarder else []
    asked = [n.strip() for n in value.split(",") if n.strip()]
    if RETRY_ALL in asked:
        return RetryRequest(tuple((n, i) for i, n in enumerate(dests)), ())
    wanted = set(asked)
    targets = tuple((n, i) for i, n in enumerate(dests) if n in wanted)
    unknown = tuple(dict.fromkeys(n for n in asked if n not in dests))
    # Unknown names are quoted back in an Event: bounded.
    return RetryRequest(targets, tuple(n[:63] for n in unknown[:8]))


def forwarder_status(
    pod: ObservedPod | None, spec: LiveStreamSpec, dests: list[DestinationStatus]
) -> ForwarderStatus | None:
    """status.forwarder: the Pod's summary, how many destinations are active, each one."""
    if not (spec.forwarder and spec.forwarder.destinations):
        return None
    up = sum(1 for d in dests if d.state is DestinationState.ACTIVE)
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
    """DestinationsHealthy: all active, or which are not, worst first: a missing
    Secret or key, then Exhausted (named, with its last error), then failing or
    retrying ones, then those still connecting."""
    if not dests:
        return None
    kind = ConditionType.DESTINATIONS_HEALTHY
    named = {m.destination for m in missing}

    def names(*states: DestinationState) -> list[str]:
        return [d.name for d in dests if d.state in states and d.name not in named]

    exhausted = [d for d in dests if d.state is DestinationState.EXHAUSTED]
    failing = names(DestinationState.FAILING, DestinationState.RETRYING)
    waiting = names(DestinationState.PENDING, DestinationState.CONNECTING)
    parts = [m.message for m in missing]
    parts += [
        f"destination {d.name}: exhausted after {d.retries or 0} retries"
        + (f" ({d.last_error})" if d.last_error else "")
        for d in exhausted
        if d.name not in named
    ]
    if failing:
        parts.append(f"failing: {', '.join(failing)}")
    if waiting:
        parts.append(f"connecting: {', '.join(waiting)}")
    if missing:
        reason = missing[0].reason
    elif exhausted:
        reason = EXHAUSTED
    elif failing:
        reason = "Failing"
    elif waiting:
        reason = "Connecting"
    elif all(d.state is DestinationState.STOPPED for d in dests):
        reason = "Stopped"
    else:
        return WantedCondition(kind, True, "AllActive")
    return WantedCondition(kind, False, reason, "; ".join(parts))
