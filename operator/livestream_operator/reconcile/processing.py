"""Process mode (pure): status.processing and the Processing condition, from
what the worker reports, whether its backend credentials can be used, and the
Events of falling back to the original audio and of coming back.
"""

from __future__ import annotations

import re
from datetime import datetime

from ..api.pod_contract import FallbackReason, ProcessingReport
from ..api.v1alpha1 import (
    ConditionType,
    LiveStream,
    ProcessingState,
    ProcessingStatus,
    WorkerMode,
    format_time,
    parse_time,
)
from ..kube_events import EventType, KubeEvent
from ..settings import Settings
from . import pods
from .conditions import WantedCondition
from .observed import ObservedPod
from .pod_status import (
    CONFIG_ERROR,
    SECRET_KEY_MISSING,
    SECRET_KEY_NOT_FOUND,
    SECRET_MISSING,
    SECRET_NOT_FOUND,
    pod_state,
)

# A LiveStream whose backend token would come from the internal Secret.
CREDENTIALS_REFUSED = "CredentialsRefused"
CREDENTIALS_FIELD = "spec.worker.processing.backend.credentialsSecretRef"
# What the worker reports goes into status and Events: bounded, and a reason only
# in the CamelCase form a condition reason takes.
_REASON = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")
MAX_REPORT_MESSAGE = 300


def refused_message(what: str) -> str:
    return (
        f"{CREDENTIALS_FIELD} names {what}, which is never sent to a backend: "
        "name a Secret of your own"
    )


def missing_backend_secret(
    pod: ObservedPod | None, livestream: LiveStream
) -> WantedCondition | None:
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
        if waiting.reason != CONFIG_ERROR:
            continue
        text = waiting.message or ""
        key_missing = SECRET_KEY_MISSING.search(text)
        in_secret = key_missing[2].rpartition("/")[2] if key_missing else None
        if key_missing and (key_missing[1], in_secret) == (ref.key, ref.name):
            message = f'key "{ref.key}" not found in Secret "{ref.name}" ({CREDENTIALS_FIELD})'
            return WantedCondition(ConditionType.PROCESSING, False, SECRET_KEY_NOT_FOUND, message)
        secret_missing = SECRET_MISSING.search(text)
        if secret_missing and secret_missing[1] == ref.name:
            message = f'Secret "{ref.name}" not found ({CREDENTIALS_FIELD} key "{ref.key}")'
            return WantedCondition(ConditionType.PROCESSING, False, SECRET_NOT_FOUND, message)
    return None


def process_mode(
    livestream: LiveStream,
    settings: Settings,
    worker: ObservedPod | None,
    wanted: bool,
    report: ProcessingReport | None,
    now: datetime,
) -> tuple[ProcessingStatus | None, WantedCondition | None]:
    """status.processing and the Processing condition (process mode only).

    `wanted`: the plan wants a worker; `report`: what it said this time (None when
    not asked or not reachable: the stored status stands)."""
    if livestream.spec.worker.mode is not WorkerMode.PROCESS:
        return None, None
    refused_secret = pods.credentials_refused(livestream, settings)
    if refused_secret:
        refused = WantedCondition(
            ConditionType.PROCESSING, False, CREDENTIALS_REFUSED, refused_message(refused_secret)
        )
        return None, refused
    if not wanted:
        return None, WantedCondition(
            ConditionType.PROCESSING, False, "NoWorker", "the stream is not active"
        )
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


def _processing_condition(status: ProcessingStatus) -> WantedCondition:
    if status.state is ProcessingState.PROCESSING:
        return WantedCondition(ConditionType.PROCESSING, True, "Processing")
    if status.state is ProcessingState.FALLBACK:
        return WantedCondition(
            ConditionType.PROCESSING, False, status.reason or "Fallback", status.message or ""
        )
    return WantedCondition(
        ConditionType.PROCESSING,
        False,
        "Starting",
        status.message or "waiting for the worker's first report",
    )


def processing_events(
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
