"""The publisher's absence while a stream lives (pure): the InputLoss condition,
its Events, and the measurements of losses and start-ups.

The output may keep playing while the publisher is gone (an input-loss fill on
`out`), so nothing here, nor the phase, looks at `out` to tell whether the
input is there: only status.ingest, which follows the publisher. A loss is the
publisher gone after it was available, for as long as the grace period runs; it
ends when the publisher is back (recovered) or the grace period is over (expired).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ..api.fill import fill_deadline
from ..api.v1alpha1 import (
    Condition,
    ConditionType,
    IngestStatus,
    Lifecycle,
    LiveStream,
    OutputStatus,
    Phase,
    format_time,
    parse_time,
)
from ..kube_events import EventType, KubeEvent
from .conditions import WantedCondition
from .phase import DEADLINE_SLACK, Activity

PUBLISHER_GONE = "PublisherGone"
PUBLISHING = "Publishing"
NOT_LIVE = "NotLive"
INPUT_LOST = "InputLost"
INPUT_RECOVERED = "InputRecovered"
LOSS = ConditionType.INPUT_LOSS


class Measured(StrEnum):
    LOSS_STARTED = "loss_started"
    LOSS_ENDED = "loss_ended"
    STARTUP = "startup"


class LossOutcome(StrEnum):
    """How a loss ended (the loss histogram's label)."""

    RECOVERED = "recovered"  # the publisher came back within the grace period
    EXPIRED = "expired"  # the grace period ran out


@dataclass(frozen=True)
class Measurement:
    """One figure the controller records once the plan's status is written (so a
    reconcile retried after a failed write counts nothing twice)."""

    kind: Measured
    seconds: float = 0.0
    outcome: LossOutcome | None = None


def loss_since(ingest: IngestStatus, act: Activity) -> datetime | None:
    """When the publisher went, while that is a loss; None otherwise.

    unavailableSince is written only by the end of an available publish, and a
    returning publisher that is still connecting leaves it in place: the loss
    lasts until the path is available again.
    """
    if ingest.available or not act.in_grace:
        return None
    return parse_time(ingest.unavailable_since)


def input_loss_condition(
    livestream: LiveStream, act: Activity, since: datetime | None, now: datetime
) -> WantedCondition:
    ingest = livestream.status.ingest or IngestStatus()
    if since is not None:
        ends = "goes idle" if livestream.spec.lifecycle is Lifecycle.PERSISTENT else "ends"
        deadline = format_time(act.grace_deadline) if act.grace_deadline else "its deadline"
        back = "; a publisher is connecting" if act.connecting else ""
        message = (
            f"publisher gone since {format_time(since)}; the stream {ends} at {deadline} "
            f"unless it returns{back}{_fill_note(livestream, since, now)}"
        )
        return WantedCondition(LOSS, True, PUBLISHER_GONE, message, since=since)
    if ingest.available:
        return WantedCondition(LOSS, False, PUBLISHING, "the publisher is sending")
    return WantedCondition(LOSS, False, NOT_LIVE, "no publisher is expected")


def _fill_note(livestream: LiveStream, since: datetime, now: datetime) -> str:
    ends = fill_deadline(livestream.spec.input_loss, since)
    if ends is None:
        return ""
    if now < ends:
        return f"; the slate plays until {format_time(ends)}"
    return f"; the slate ended at {format_time(ends)} (fillSeconds), and out with it"


def fill_wake_after(livestream: LiveStream, since: datetime | None, now: datetime) -> float | None:
    """Seconds until a loss's fill ends (the condition says so then); None: nothing due."""
    ends = fill_deadline(livestream.spec.input_loss, since)
    return None if ends is None or now >= ends else (ends - now).total_seconds() + DEADLINE_SLACK


def _stored(conditions: list[Condition] | None) -> Condition | None:
    return next((c for c in conditions or [] if c.type is LOSS), None)


def input_loss_transitions(
    livestream: LiveStream, wanted: WantedCondition | None, now: datetime
) -> tuple[list[KubeEvent], list[Measurement]]:
    """The Events and measurements of a loss starting or ending, once each: decided
    from the stored condition, which the plan's own write then changes.

    `wanted` None: the stream is being deleted at its grace deadline.
    """
    prev = _stored(livestream.status.conditions)
    was_lost = prev is not None and prev.status == "True"
    lost = wanted is not None and wanted.ok
    if lost and not was_lost:
        assert wanted is not None
        event = KubeEvent(EventType.WARNING, INPUT_LOST, wanted.message)
        return [event], [Measurement(Measured.LOSS_STARTED)]
    if not was_lost or lost:
        return [], []
    assert prev is not None
    began = parse_time(prev.last_transition_time)
    ingest = livestream.status.ingest or IngestStatus()
    if wanted is not None and wanted.reason == PUBLISHING:
        back = parse_time(ingest.available_since) or now
        seconds = max((back - began).total_seconds(), 0.0) if began else 0.0
        event = KubeEvent(EventType.NORMAL, INPUT_RECOVERED, f"publisher back after {seconds:.0f}s")
        return [event], [Measurement(Measured.LOSS_ENDED, seconds, LossOutcome.RECOVERED)]
    # The grace period ran out: its own Event (GracePeriodExpired, PhaseIdle) says so.
    seconds = float(livestream.spec.grace_period_seconds)
    return [], [Measurement(Measured.LOSS_ENDED, seconds, LossOutcome.EXPIRED)]


def startup(livestream: LiveStream, phase_now: Phase, output: OutputStatus) -> list[Measurement]:
    """Start-up, from live/<id>/in available (MediaMTX has the publish; for RTMP
    after its 2 s analysis) to live/<id>/out available (the worker publishes):
    the part the operator and the worker own. Measured when the phase turns Live,
    and only for an output that became available for this publish (a filled `out`
    that outlived a loss is no start-up)."""
    if phase_now is not Phase.LIVE or livestream.status.phase is Phase.LIVE:
        return []
    ingest = livestream.status.ingest or IngestStatus()
    published = parse_time(ingest.available_since)
    flowing = parse_time(output.available_since)
    if published is None or flowing is None or flowing < published:
        return []
    return [Measurement(Measured.STARTUP, (flowing - published).total_seconds())]
