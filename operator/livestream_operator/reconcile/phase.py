"""Where a stream stands against the clock, and the phase it is in (pure).

Available, connecting (an admitted publish MediaMTX is still analysing), in its
grace period, or expired: the phase, the core conditions and the next wake-up
follow from these, the worker's state and the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..api.v1alpha1 import (
    ConditionType,
    IngestStatus,
    Lifecycle,
    LiveStream,
    LiveStreamSpec,
    OutputStatus,
    Phase,
    PodState,
    PodStatusSummary,
    parse_time,
)
from ..settings import Settings
from .conditions import WantedCondition
from .failover import publishing

# A wake-up lands this long after its deadline, so the reconcile sees it passed.
DEADLINE_SLACK = 0.05


def connect_deadline(ingest: IngestStatus, settings: Settings) -> datetime | None:
    """Until when an admitted publish (the early signal) counts as connecting."""
    since = parse_time(ingest.connecting_since)
    if since is None or ingest.available:
        return None
    return since + timedelta(seconds=settings.connect_timeout_seconds)


def grace_deadline(livestream: LiveStream, settings: Settings) -> datetime | None:
    """When the grace period ends; None while the ingest is available.

    A publish that was admitted but never became available counts as gone at its
    connect deadline. A LiveStream whose ingest was never seen counts from its
    creation, so an Ephemeral one left behind by a failed hook does not live forever.
    """
    ingest = publishing(livestream.status)
    if ingest.available:
        return None
    since = (
        parse_time(ingest.unavailable_since)
        or connect_deadline(ingest, settings)
        or parse_time(livestream.metadata.creation_timestamp)
    )
    if since is None:
        return None
    return since + timedelta(seconds=livestream.spec.grace_period_seconds)


def ever_published(ingest: IngestStatus) -> bool:
    return bool(ingest.available_since or ingest.unavailable_since or ingest.connecting_since)


@dataclass(frozen=True)
class Activity:
    """A stream's ingest at one moment."""

    available: bool
    connecting: bool
    in_grace: bool
    # The grace period is over (and no publish is connecting).
    expired: bool
    # Expired after a publish: a Persistent stream waits, Idle.
    idle: bool
    grace_deadline: datetime | None
    connect_deadline: datetime | None

    @property
    def active(self) -> bool:
        """The stream wants its worker (and forwarder)."""
        return self.available or self.connecting or self.in_grace

    def wake_after(self, now: datetime) -> float | None:
        """Seconds until the deadline the stream waits for: connecting, then grace."""
        for waiting, deadline in (
            (self.connecting, self.connect_deadline),
            (self.in_grace, self.grace_deadline),
        ):
            if waiting and deadline is not None:
                return max((deadline - now).total_seconds(), 0.0) + DEADLINE_SLACK
        return None


def activity_of(livestream: LiveStream, settings: Settings, now: datetime) -> Activity:
    ingest = publishing(livestream.status)
    deadline = grace_deadline(livestream, settings)
    connect_until = connect_deadline(ingest, settings)
    connecting = connect_until is not None and now < connect_until
    expired = deadline is not None and now >= deadline and not connecting
    return Activity(
        available=ingest.available,
        connecting=connecting,
        in_grace=deadline is not None and now < deadline and ever_published(ingest),
        expired=expired,
        idle=expired and ever_published(ingest),
        grace_deadline=deadline,
        connect_deadline=connect_until,
    )


def phase(
    spec: LiveStreamSpec, act: Activity, worker: PodStatusSummary, output: OutputStatus
) -> tuple[Phase, str]:
    """The ingest decides first: without a publisher the stream is Reconnecting
    (or over) whatever `out` does, since `out` may play a fill meanwhile; `out`
    only tells Starting from Live while the publisher is there."""
    if act.active:
        if worker.state is PodState.FAILED:
            return Phase.FAILED, f"worker failed: {worker.message or 'unknown'}"
        if act.connecting:
            return Phase.CONNECTING, "publisher admitted; MediaMTX is analysing its stream"
        if not act.available:
            return Phase.RECONNECTING, "ingest unavailable; waiting for the publisher to return"
        if worker.running and output.available:
            return Phase.LIVE, "processed output is available"
        if worker.running:
            return Phase.STARTING, "worker running; waiting for processed output"
        return Phase.STARTING, "ingest available; starting worker"
    if act.idle and spec.lifecycle is Lifecycle.PERSISTENT:
        return Phase.IDLE, "grace period over; waiting for the next publish"
    return Phase.PENDING, "waiting for a publisher"


def phase_conditions(
    phase: Phase,
    message: str,
    available: bool,
    worker: PodStatusSummary,
    output: OutputStatus,
) -> list[WantedCondition]:
    """Ready, IngestAvailable, WorkerReady and OutputAvailable."""
    worker_state = worker.state or PodState.ABSENT
    return [
        WantedCondition(ConditionType.READY, phase is Phase.LIVE, phase.value, message),
        WantedCondition(
            ConditionType.INGEST_AVAILABLE,
            available,
            "Publishing" if available else "NoPublisher",
        ),
        WantedCondition(
            ConditionType.WORKER_READY,
            worker_state is PodState.READY,
            worker_state.value,
            worker.message or "",
        ),
        WantedCondition(
            ConditionType.OUTPUT_AVAILABLE,
            output.available,
            _output_reason(available, output),
        ),
    ]


def _output_reason(available: bool, output: OutputStatus) -> str:
    """`out` can outlive its input (an input-loss fill plays on it): then it says
    so, and the phase, the Ready and IngestAvailable conditions follow the ingest."""
    if not output.available:
        return "NoOutput"
    return "Flowing" if available else "Filling"
