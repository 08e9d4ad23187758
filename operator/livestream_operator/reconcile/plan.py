"""Decide what a LiveStream needs (pure): children to create or delete, its phase,
conditions and finished status, the Events to post and when to look again.

Level-based: the plan depends only on the LiveStream, its Pods and the time, so
running it twice, or after a restart, gives the same answer.

plan() composes the concerns, each in its module: the phase (phase.py), the
destinations and their Secrets (destinations.py), process mode (processing.py),
recording (recording.py) and playback (playback.py); what it decides itself is
which Pods stay, go or are created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..api.pod_contract import (
    DESTINATION_POLL_SECONDS,
    PROCESSING_POLL_SECONDS,
    DestinationReport,
    InputReport,
    ProcessingReport,
)
from ..api.v1alpha1 import (
    IngestStatus,
    InputChoice,
    Lifecycle,
    LiveStream,
    LiveStreamStatus,
    OutputStatus,
    Phase,
    PodState,
    PodStatusSummary,
    format_time,
)
from ..kube_events import EventType, KubeEvent
from ..settings import Settings
from . import pods
from .conditions import merge_conditions, warn_once
from .destinations import (
    destination_events,
    destination_states,
    destinations_condition,
    forwarder_status,
    missing_secrets,
    to_ask,
)
from .failover import Selection, reading, select_input
from .input_cadence import cadence_status
from .input_loss import (
    Measurement,
    fill_wake_after,
    input_loss_condition,
    input_loss_transitions,
    loss_since,
    startup,
)
from .observed import ObservedPod
from .phase import activity_of, phase, phase_conditions
from .playback import playback_status
from .pod_status import SECRET_KEY_NOT_FOUND, SECRET_NOT_FOUND, pod_state
from .processing import CREDENTIALS_REFUSED, process_mode, processing_events, refused_message
from .recording import RECORDING_REFUSED, STORAGE_FULL, recording_condition
from .slate import SLATE_NOT_FOUND, slate_condition

Manifest = dict[str, Any]

# Reasons whose Warning Event is posted once, when a condition turns False for them.
WARN_ONCE = frozenset(
    {
        SECRET_NOT_FOUND,
        SECRET_KEY_NOT_FOUND,
        CREDENTIALS_REFUSED,
        STORAGE_FULL,
        RECORDING_REFUSED,
        SLATE_NOT_FOUND,
    }
)


@dataclass(frozen=True)
class PodDeletion:
    name: str
    uid: str
    reason: str


@dataclass
class Plan:
    # The operator's fields of the status as they should be (api/ownership.py).
    status: LiveStreamStatus
    create: list[Manifest] = field(default_factory=list)
    delete: list[PodDeletion] = field(default_factory=list)
    delete_livestream: bool = False
    events: list[KubeEvent] = field(default_factory=list)
    # Figures for the metrics, recorded once the status is written.
    measurements: list[Measurement] = field(default_factory=list)
    requeue_after: float | None = None


def plan(
    livestream: LiveStream,
    children: dict[str, ObservedPod],
    settings: Settings,
    now: datetime,
    *,
    processing: ProcessingReport | None = None,
    destinations: Mapping[str, DestinationReport] | None = None,
    input_report: InputReport | None = None,
) -> Plan:
    """`processing`: what a process-mode worker last reported (None when it was not
    asked or not reachable this time: the stored status.processing stands);
    `destinations`: what the forwarder's containers reported, by destination
    (those not asked or not answering keep their stored state); `input_report`:
    the same for the worker's measure of its input video."""
    spec, meta, status = livestream.spec, livestream.metadata, livestream.status
    output = status.output or OutputStatus()
    result = Plan(status=status)
    act = activity_of(livestream, settings, now)

    if not act.active and act.expired and spec.lifecycle is Lifecycle.EPHEMERAL:
        result.delete_livestream = True
        result.events.append(
            KubeEvent(
                EventType.NORMAL,
                "GracePeriodExpired",
                f"ingest gone for {spec.grace_period_seconds}s",
            )
        )
        result.measurements.extend(input_loss_transitions(livestream, None, now)[1])
        return result

    # Pods of an earlier LiveStream with the same name wait for the garbage
    # collector; they are not ours to reuse.
    ours: dict[str, ObservedPod] = {}
    for name, pod in children.items():
        if pod.owned_by(meta.uid):
            ours[name] = pod
        else:
            result.delete.append(PodDeletion(pod.name, pod.metadata.uid, "NotOwned"))
    worker = _only_child(result, ours, pods.WORKER)
    forwarder = _only_child(result, ours, pods.FORWARDER)

    # The worker reads the input chosen now, not the one the status last showed.
    selection = _input_selection(livestream, now)
    worker_of = reading(livestream, selection.failover if selection else None)
    # No worker at all rather than one holding a refused Secret's token.
    refused = pods.credentials_refused(livestream, settings)
    desired_worker = pods.worker_pod(worker_of, settings) if act.active and not refused else None
    desired_forwarder = pods.forwarder_pod(livestream, settings) if act.active else None
    gone = (CREDENTIALS_REFUSED, "backend credentials refused") if refused else _IDLE
    worker = _converge(result, worker, desired_worker, "worker", gone)
    forwarder = _converge(result, forwarder, desired_forwarder, "forwarder")

    worker_summary = pod_state(worker)
    if worker is None and desired_worker is not None:
        worker_summary = PodStatusSummary(
            pod_name=desired_worker["metadata"]["name"], state=PodState.PENDING
        )
    if refused and act.active:
        phase_now, message = Phase.FAILED, refused_message(refused)
        worker_summary = worker_summary.model_copy(update={"message": message})
    else:
        phase_now, message = phase(spec, act, worker_summary, output)

    stored_dests = status.forwarder.destinations if status.forwarder else None
    dests = (
        destination_states(forwarder, spec, now, destinations, stored_dests)
        if spec.forwarder
        else []
    )
    conditions = phase_conditions(phase_now, message, act.available, worker_summary, output)
    lost_since = loss_since(status.ingest or IngestStatus(), act)
    input_loss = input_loss_condition(livestream, act, lost_since, now)
    conditions.append(input_loss)
    processing_status, processing_cond = process_mode(
        livestream, settings, worker, desired_worker is not None, processing, now
    )
    for cond in (
        destinations_condition(dests, missing_secrets(forwarder, spec)),
        processing_cond,
        recording_condition(livestream, settings),
        slate_condition(livestream, settings),
    ):
        if cond is not None:
            conditions.append(cond)
    result.status = LiveStreamStatus(
        phase=phase_now,
        message=message,
        observed_generation=meta.generation,
        grace_deadline=format_time(act.grace_deadline)
        if act.in_grace and act.grace_deadline
        else None,
        worker=worker_summary,
        forwarder=forwarder_status(forwarder, spec, dests),
        processing=processing_status,
        playback=playback_status(spec.stream_id, settings),
        failover=selection.failover if selection else None,
        input=cadence_status(status.input, input_report),
        conditions=merge_conditions(status.conditions, conditions, now, meta.generation),
    )
    if selection and status.failover != selection.failover and selection.failover.reason:
        switched = selection.failover
        result.events.append(
            KubeEvent(
                EventType.NORMAL,
                "InputSwitched",
                f"reading the {switched.active.value.lower()} input ({switched.reason})",
            )
        )
    if status.phase is not phase_now:
        kind = EventType.WARNING if phase_now is Phase.FAILED else EventType.NORMAL
        result.events.append(KubeEvent(kind, f"Phase{phase_now.value}", message))
    result.events.extend(warn_once(status.conditions, conditions, WARN_ONCE))
    result.events.extend(processing_events(status.processing, processing_status))
    result.events.extend(destination_events(stored_dests, dests))
    loss_events, loss_measured = input_loss_transitions(livestream, input_loss, now)
    result.events.extend(loss_events)
    result.measurements.extend(loss_measured)
    result.measurements.extend(startup(livestream, phase_now, output))
    result.requeue_after = act.wake_after(now)
    if to_ask(dests, forwarder):
        # Some destination is trying: look again so the status follows its reports.
        result.requeue_after = min(
            result.requeue_after or DESTINATION_POLL_SECONDS, DESTINATION_POLL_SECONDS
        )
    fill_due = fill_wake_after(livestream, lost_since, now)
    if fill_due is not None:
        result.requeue_after = min(result.requeue_after or fill_due, fill_due)
    if selection and selection.wake_after is not None:
        result.requeue_after = min(
            result.requeue_after or selection.wake_after, selection.wake_after
        )
    if processing_status is not None:
        # A process-mode worker is wanted: look again so the status follows its reports.
        result.requeue_after = min(
            result.requeue_after or PROCESSING_POLL_SECONDS, PROCESSING_POLL_SECONDS
        )
    return result


def _input_selection(livestream: LiveStream, now: datetime) -> Selection | None:
    """status.failover, once the stream has a backup publish or a manual override;
    a stream with only a primary never shows one."""
    spec, status = livestream.spec, livestream.status
    if status.backup is None and status.failover is None and spec.ingest.input is InputChoice.AUTO:
        return None
    return select_input(spec.ingest, status.ingest, status.backup, status.failover, now)


def _only_child(result: Plan, ours: dict[str, ObservedPod], component: str) -> ObservedPod | None:
    """The stream's one worker (or forwarder); any other is deleted.

    A worker is found by its label, not its name: a claimed pool worker keeps the
    name the pool gave it. Two can exist for a moment (a claim whose answer was
    lost, then a create): the one furthest along stays.
    """
    found = [p for p in ours.values() if p.metadata.labels.get(pods.COMPONENT_LABEL) == component]
    if not found:
        return None
    found.sort(
        key=lambda p: (p.terminating, not p.ready, p.metadata.creation_timestamp or "", p.name)
    )
    keep, *others = found
    for pod in others:
        if not pod.terminating:
            result.delete.append(PodDeletion(pod.name, pod.metadata.uid, "Duplicate"))
    return keep


_IDLE = ("Idle", "stream is idle")


def _converge(
    result: Plan,
    current: ObservedPod | None,
    desired: Manifest | None,
    what: str,
    gone: tuple[str, str] = _IDLE,
) -> ObservedPod | None:
    """Create, keep, replace or delete one child; returns the Pod that stays.

    `gone`: the reason and the Event's message when no child is wanted.
    """
    if desired is None:
        if current is not None and not current.terminating:
            reason, why = gone
            result.delete.append(PodDeletion(current.name, current.metadata.uid, reason))
            result.events.append(KubeEvent(EventType.NORMAL, f"Deleted{what.title()}", why))
        return None
    if current is None:
        result.create.append(desired)
        return None
    if current.terminating:
        return current  # recreated once it is gone
    changed = current.metadata.annotations.get(pods.SPEC_HASH_ANNOTATION) != pods.spec_hash(desired)
    if changed or current.finished:
        reason = "SpecChanged" if changed else "PodFinished"
        result.delete.append(PodDeletion(current.name, current.metadata.uid, reason))
        result.events.append(KubeEvent(EventType.NORMAL, f"Replacing{what.title()}", reason))
        return None
    return current
