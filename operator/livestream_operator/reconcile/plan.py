"""Decide what a LiveStream needs (pure): children to create or delete, its phase,
conditions and finished status, the Events to post and when to look again.

Level-based: the plan depends only on the LiveStream, its Pods and the time, so
running it twice, or after a restart, gives the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..api import naming
from ..api.pod_contract import PROCESSING_POLL_SECONDS, FallbackReason, ProcessingReport
from ..api.v1alpha1 import (
    Condition,
    ConditionType,
    DestinationState,
    DestinationStatus,
    ForwarderStatus,
    IngestStatus,
    Lifecycle,
    LiveStream,
    LiveStreamSpec,
    LiveStreamStatus,
    OutputStatus,
    Phase,
    PlaybackStatus,
    PlaybackURLs,
    PodState,
    PodStatusSummary,
    ProcessingState,
    ProcessingStatus,
    RecordingStatus,
    WorkerMode,
    format_time,
    parse_time,
)
from ..kube_events import EventType, KubeEvent
from ..settings import Settings
from . import pods
from .observed import ObservedPod

Manifest = dict[str, Any]

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
# What the kubelet says (waiting reason CreateContainerConfigError) when a
# container's secretKeyRef points at a Secret or key that does not exist.
SECRET_NOT_FOUND = "SecretNotFound"
SECRET_KEY_NOT_FOUND = "SecretKeyNotFound"
# The names in them: the Secret's; the key's and <namespace>/<Secret>.
_SECRET_MISSING = re.compile(r'\bsecrets? "([^"]*)" not found', re.IGNORECASE)
_SECRET_KEY_MISSING = re.compile(r"\bcouldn't find key (\S+) in Secret (\S+)", re.IGNORECASE)
# Process mode: a LiveStream whose backend token would come from the internal Secret.
CREDENTIALS_REFUSED = "CredentialsRefused"
CREDENTIALS_FIELD = "spec.worker.processing.backend.credentialsSecretRef"
# Reasons whose Warning Event is posted once, when a condition turns False for them.
STORAGE_FULL = "StorageFull"
RECORDING_REFUSED = "MediaMTXRefused"
_WARN_ONCE = frozenset(
    {SECRET_NOT_FOUND, SECRET_KEY_NOT_FOUND, CREDENTIALS_REFUSED, STORAGE_FULL, RECORDING_REFUSED}
)
# What the worker reports goes into status and Events: bounded, and a reason only
# in the CamelCase form a condition reason takes.
_REASON = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")
MAX_REPORT_MESSAGE = 300


# ------------------------------------------------------------------ pod summaries


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
            if waiting.reason in _STUCK:
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
                if message in _STUCK:
                    state = DestinationState.FAILING
            elif st.running is not None:
                started = parse_time(st.running.started_at)
                if started and (now - started).total_seconds() > DESTINATION_STARTUP_SECONDS:
                    state, message = DestinationState.FAILING, "not delivering to destination"
        out.append(
            DestinationStatus(name=dest.name, state=state, restarts=restarts, message=message)
        )
    return out


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
        if waiting is None or waiting.reason != "CreateContainerConfigError":
            continue
        text = waiting.message or ""
        if _SECRET_KEY_MISSING.search(text):
            reason = SECRET_KEY_NOT_FOUND
        elif _SECRET_MISSING.search(text):
            reason = SECRET_NOT_FOUND
        else:
            continue
        ref = dest.url_secret_ref
        out.append(MissingSecret(dest.name, reason, ref.name, ref.key))
    return out


def missing_backend_secret(pod: ObservedPod | None, livestream: LiveStream) -> _Cond | None:
    """The Processing condition for a worker the kubelet cannot start because its
    credentialsSecretRef names a missing Secret or key.

    Only when the kubelet's message names that Secret (and key): the worker also
    reads the internal Secret, whose absence is not the user's to fix.
    """
    ref = pods.backend_credentials(livestream)
    if pod is None or ref is None:
        return None
    for c in pod.status.container_statuses:
        waiting = c.state.waiting
        if c.name != pods.WORKER or waiting is None:
            continue
        if waiting.reason != "CreateContainerConfigError":
            continue
        text = waiting.message or ""
        key_missing = _SECRET_KEY_MISSING.search(text)
        in_secret = key_missing[2].rpartition("/")[2] if key_missing else None
        if key_missing and (key_missing[1], in_secret) == (ref.key, ref.name):
            message = f'key "{ref.key}" not found in Secret "{ref.name}" ({CREDENTIALS_FIELD})'
            return _Cond(ConditionType.PROCESSING, False, SECRET_KEY_NOT_FOUND, message)
        secret_missing = _SECRET_MISSING.search(text)
        if secret_missing and secret_missing[1] == ref.name:
            message = f'Secret "{ref.name}" not found ({CREDENTIALS_FIELD} key "{ref.key}")'
            return _Cond(ConditionType.PROCESSING, False, SECRET_NOT_FOUND, message)
    return None


# ----------------------------------------------------------------------- the plan


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
    requeue_after: float | None = None


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
    ingest = livestream.status.ingest or IngestStatus()
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


def _ever_published(ingest: IngestStatus) -> bool:
    return bool(ingest.available_since or ingest.unavailable_since or ingest.connecting_since)


def plan(
    livestream: LiveStream,
    children: dict[str, ObservedPod],
    settings: Settings,
    now: datetime,
    *,
    processing: ProcessingReport | None = None,
) -> Plan:
    """`processing`: what a process-mode worker last reported (None when it was not
    asked or not reachable this time: the stored status.processing stands)."""
    spec, meta, status = livestream.spec, livestream.metadata, livestream.status
    ingest = status.ingest or IngestStatus()
    output = status.output or OutputStatus()
    result = Plan(status=status)

    deadline = grace_deadline(livestream, settings)
    available = ingest.available
    connect_until = connect_deadline(ingest, settings)
    connecting = connect_until is not None and now < connect_until
    in_grace = deadline is not None and now < deadline and _ever_published(ingest)
    active = available or connecting or in_grace
    expired = deadline is not None and now >= deadline and not connecting

    if not active and expired and spec.lifecycle is Lifecycle.EPHEMERAL:
        result.delete_livestream = True
        result.events.append(
            KubeEvent(
                EventType.NORMAL,
                "GracePeriodExpired",
                f"ingest gone for {spec.grace_period_seconds}s",
            )
        )
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

    # No worker at all rather than one holding a refused Secret's token.
    refused = pods.credentials_refused(livestream, settings)
    desired_worker = pods.worker_pod(livestream, settings) if active and not refused else None
    desired_forwarder = pods.forwarder_pod(livestream, settings) if active else None
    gone = (CREDENTIALS_REFUSED, "backend credentials refused") if refused else _IDLE
    worker = _converge(result, worker, desired_worker, "worker", gone)
    forwarder = _converge(result, forwarder, desired_forwarder, "forwarder")

    worker_summary = pod_state(worker)
    if worker is None and desired_worker is not None:
        worker_summary = PodStatusSummary(
            pod_name=desired_worker["metadata"]["name"], state=PodState.PENDING
        )
    idle = expired and _ever_published(ingest)
    if refused and active:
        phase, message = Phase.FAILED, _refused_message(refused)
        worker_summary = worker_summary.model_copy(update={"message": message})
    else:
        phase, message = _phase(spec, available, connecting, in_grace, idle, worker_summary, output)

    dests = destination_states(forwarder, spec, now) if spec.forwarder else []
    forwarder_status: ForwarderStatus | None = None
    if spec.forwarder and spec.forwarder.destinations:
        up = sum(1 for d in dests if d.state is DestinationState.UP)
        forwarder_status = ForwarderStatus(
            **pod_state(forwarder).model_dump(),
            ready=f"{up}/{len(dests)}",
            destinations=dests,
        )

    missing = missing_secrets(forwarder, spec)
    conditions = _conditions(phase, available, worker_summary, output, dests, message, missing)
    processing_status, processing_cond = _processing(
        livestream, settings, worker, desired_worker is not None, processing, now
    )
    if processing_cond is not None:
        conditions.append(processing_cond)
    recording_cond = recording_condition(livestream, settings)
    if recording_cond is not None:
        conditions.append(recording_cond)
    result.status = LiveStreamStatus(
        phase=phase,
        message=message,
        observed_generation=meta.generation,
        grace_deadline=format_time(deadline) if in_grace and deadline else None,
        worker=worker_summary,
        forwarder=forwarder_status,
        processing=processing_status,
        playback=playback_status(spec.stream_id, settings),
        conditions=merge_conditions(status.conditions, conditions, now, meta.generation),
    )
    if status.phase is not phase:
        kind = EventType.WARNING if phase is Phase.FAILED else EventType.NORMAL
        result.events.append(KubeEvent(kind, f"Phase{phase.value}", message))
    result.events.extend(_secret_events(status.conditions, conditions))
    result.events.extend(_processing_events(status.processing, processing_status))
    if connecting and connect_until is not None:
        result.requeue_after = max((connect_until - now).total_seconds(), 0.0) + 0.05
    elif in_grace and deadline is not None:
        result.requeue_after = max((deadline - now).total_seconds(), 0.0) + 0.05
    elif forwarder and any(d.state is DestinationState.PENDING for d in dests):
        result.requeue_after = DESTINATION_STARTUP_SECONDS
    if processing_status is not None:
        # A process-mode worker is wanted: look again so the status follows its reports.
        result.requeue_after = min(
            result.requeue_after or PROCESSING_POLL_SECONDS, PROCESSING_POLL_SECONDS
        )
    return result


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


def _phase(
    spec: LiveStreamSpec,
    available: bool,
    connecting: bool,
    in_grace: bool,
    idle: bool,
    worker: PodStatusSummary,
    output: OutputStatus,
) -> tuple[Phase, str]:
    if available or connecting or in_grace:
        if worker.state is PodState.FAILED:
            return Phase.FAILED, f"worker failed: {worker.message or 'unknown'}"
        if connecting:
            return Phase.CONNECTING, "publisher admitted; MediaMTX is analysing its stream"
        if not available:
            return Phase.RECONNECTING, "ingest unavailable; waiting for the publisher to return"
        if worker.running and output.available:
            return Phase.LIVE, "processed output is available"
        if worker.running:
            return Phase.STARTING, "worker running; waiting for processed output"
        return Phase.STARTING, "ingest available; starting worker"
    if idle and spec.lifecycle is Lifecycle.PERSISTENT:
        return Phase.IDLE, "grace period over; waiting for the next publish"
    return Phase.PENDING, "waiting for a publisher"


@dataclass(frozen=True)
class _Cond:
    type: ConditionType
    ok: bool
    reason: str
    message: str = ""


def _conditions(
    phase: Phase,
    available: bool,
    worker: PodStatusSummary,
    output: OutputStatus,
    dests: list[DestinationStatus],
    message: str,
    missing: list[MissingSecret],
) -> list[_Cond]:
    worker_state = worker.state or PodState.ABSENT
    conds = [
        _Cond(ConditionType.READY, phase is Phase.LIVE, phase.value, message),
        _Cond(
            ConditionType.INGEST_AVAILABLE,
            available,
            "Publishing" if available else "NoPublisher",
        ),
        _Cond(
            ConditionType.WORKER_READY,
            worker_state is PodState.READY,
            worker_state.value,
            worker.message or "",
        ),
        _Cond(
            ConditionType.OUTPUT_AVAILABLE,
            output.available,
            "Flowing" if output.available else "NoOutput",
        ),
    ]
    if dests and missing:
        # A missing Secret or key names itself; the other failures follow it.
        named = {m.destination for m in missing}
        others = [
            d.name for d in dests if d.state is DestinationState.FAILING and d.name not in named
        ]
        detail = "; ".join(m.message for m in missing)
        if others:
            detail += f"; failing: {', '.join(others)}"
        conds.append(_Cond(ConditionType.DESTINATIONS_HEALTHY, False, missing[0].reason, detail))
    elif dests:
        failing = [d.name for d in dests if d.state is DestinationState.FAILING]
        conds.append(
            _Cond(
                ConditionType.DESTINATIONS_HEALTHY,
                not failing and all(d.state is DestinationState.UP for d in dests),
                "Failing" if failing else "AllUp",
                f"failing: {', '.join(failing)}" if failing else "",
            )
        )
    return conds


def _secret_events(old: list[Condition] | None, new: list[_Cond]) -> list[KubeEvent]:
    """A Warning when a condition turns False for a missing Secret or key, or for
    refused backend credentials.

    Once: a condition that was already False with the same reason (the status
    written by an earlier reconcile) posts nothing again.
    """
    before = {c.type: c for c in old or []}
    events = []
    for cond in new:
        if cond.ok or cond.reason not in _WARN_ONCE:
            continue
        prev = before.get(cond.type)
        if prev is not None and prev.status == "False" and prev.reason == cond.reason:
            continue
        events.append(KubeEvent(EventType.WARNING, cond.reason, cond.message))
    return events


# ------------------------------------------------------------ recording, playback


def recording_condition(livestream: LiveStream, settings: Settings) -> _Cond | None:
    """What MediaMTX does with spec.recording: Recording, Off, Pending (not applied
    yet), MediaMTXRefused, or StorageFull when the recordings volume has less
    free space than the chart allows (as the last segment found it)."""
    spec = livestream.spec.recording
    if spec is None:
        return None
    status = livestream.status.recording or RecordingStatus()
    kind = ConditionType.RECORDING
    if status.applied is False:
        return _Cond(kind, False, RECORDING_REFUSED, status.message or "")
    if not spec.enabled:
        return _Cond(kind, False, "Off", "spec.recording.enabled is false")
    if status.applied is None:
        return _Cond(kind, False, "Pending", "the operator has not applied it to MediaMTX yet")
    free = status.free_bytes
    if free is not None and free < settings.recording_min_free_bytes:
        return _Cond(
            kind,
            False,
            STORAGE_FULL,
            f"the recordings volume has {free} bytes free, under the "
            f"{settings.recording_min_free_bytes} the operator keeps: free space or grow it",
        )
    paths = " and ".join(p.value for p in spec.paths)
    segment, kept = spec.effective(settings.recording_max_retention)
    capped = " (capped by the chart's recording.maxRetention)" if kept != spec.retention else ""
    return _Cond(
        kind,
        True,
        "Recording",
        f"recording {paths} as {spec.format.value} while live, "
        f"{segment} segments kept {kept}{capped}",
    )


def playback_urls(path: str, settings: Settings) -> PlaybackURLs | None:
    bases = settings.public_urls

    def at(base: str | None, suffix: str = "") -> str | None:
        return f"{base.rstrip('/')}/{path}{suffix}" if base else None

    urls = PlaybackURLs(
        rtmp=at(bases.rtmp),
        rtsp=at(bases.rtsp),
        hls=at(bases.hls, "/index.m3u8"),
        webrtc=at(bases.webrtc),
    )
    return urls if urls.wire() else None


def playback_status(stream_id: str, settings: Settings) -> PlaybackStatus | None:
    """Where out (and, where the chart allows reading it, in) can be played."""
    out = playback_urls(naming.output_path(stream_id), settings)
    ingest = playback_urls(naming.ingest_path(stream_id), settings)
    if out is None:
        return None
    return PlaybackStatus(out=out, in_=ingest if settings.playback_ingest else None)


# ------------------------------------------------------------------ process mode


def _refused_message(what: str) -> str:
    return (
        f"{CREDENTIALS_FIELD} names {what}, which is never sent to a backend: "
        "name a Secret of your own"
    )


def _processing(
    livestream: LiveStream,
    settings: Settings,
    worker: ObservedPod | None,
    wanted: bool,
    report: ProcessingReport | None,
    now: datetime,
) -> tuple[ProcessingStatus | None, _Cond | None]:
    """status.processing and the Processing condition (process mode only)."""
    if livestream.spec.worker.mode is not WorkerMode.PROCESS:
        return None, None
    refused_secret = pods.credentials_refused(livestream, settings)
    if refused_secret:
        refused = _Cond(
            ConditionType.PROCESSING, False, CREDENTIALS_REFUSED, _refused_message(refused_secret)
        )
        return None, refused
    if not wanted:
        return None, _Cond(ConditionType.PROCESSING, False, "NoWorker", "the stream is not active")
    stored = livestream.status.processing
    missing = missing_backend_secret(worker, livestream)
    if missing is not None:
        return _starting(stored, now), missing
    if worker is None or not pod_state(worker).running:
        # A worker (re)starting reports afresh; what an earlier one said is over.
        status = _starting(stored, now)
    elif report is not None:
        status = _reported(report, now)
    else:
        status = stored or _starting(None, now)  # not reachable this time: as last seen
    return status, _processing_condition(status)


def _starting(stored: ProcessingStatus | None, now: datetime) -> ProcessingStatus:
    if stored is not None and stored.state is ProcessingState.STARTING:
        return ProcessingStatus(state=ProcessingState.STARTING, since=stored.since)
    return ProcessingStatus(state=ProcessingState.STARTING, since=format_time(now))


def _reported(report: ProcessingReport, now: datetime) -> ProcessingStatus:
    try:
        since = parse_time(report.since) or now
    except ValueError:
        since = now
    return ProcessingStatus(
        state=report.state,
        reason=_report_reason(report.reason),
        message=report.message[:MAX_REPORT_MESSAGE] if report.message else None,
        since=format_time(since),
    )


def _report_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    try:  # the metric label form, e.g. breaker_open
        return FallbackReason(reason).condition_reason
    except ValueError:
        return reason if _REASON.fullmatch(reason) else None


def _processing_condition(status: ProcessingStatus) -> _Cond:
    if status.state is ProcessingState.PROCESSING:
        return _Cond(ConditionType.PROCESSING, True, "Processing")
    if status.state is ProcessingState.FALLBACK:
        return _Cond(
            ConditionType.PROCESSING, False, status.reason or "Fallback", status.message or ""
        )
    return _Cond(
        ConditionType.PROCESSING,
        False,
        "Starting",
        status.message or "waiting for the worker's first report",
    )


def _processing_events(
    old: ProcessingStatus | None, new: ProcessingStatus | None
) -> list[KubeEvent]:
    """On transitions of the state only: into Fallback, and back. A dead backend
    moves between reasons (unavailable, breaker open) as it is retried; the
    condition follows them, Events do not."""
    if new is None:
        return []
    was = old.state if old is not None else None
    if new.state is ProcessingState.FALLBACK:
        if was is ProcessingState.FALLBACK:
            return []
        detail = ": ".join(part for part in (new.reason, new.message) if part)
        message = detail or "the original audio is on the output"
        return [KubeEvent(EventType.WARNING, "ProcessingFallback", message)]
    if new.state is ProcessingState.PROCESSING and was is ProcessingState.FALLBACK:
        return [
            KubeEvent(
                EventType.NORMAL, "ProcessingResumed", "the backend's audio is on the output again"
            )
        ]
    return []


def merge_conditions(
    old: list[Condition] | None, new: list[_Cond], now: datetime, generation: int | None
) -> list[Condition]:
    """Keep lastTransitionTime unless a condition's status changed."""
    before = {c.type: c for c in old or []}
    merged = []
    for cond in new:
        status = "True" if cond.ok else "False"
        prev = before.get(cond.type)
        changed = prev is None or prev.status != status
        merged.append(
            Condition(
                type=cond.type,
                status=status,
                reason=cond.reason,
                message=cond.message,
                last_transition_time=format_time(now)
                if changed or prev is None
                else prev.last_transition_time,
                observed_generation=generation,
            )
        )
    return merged
