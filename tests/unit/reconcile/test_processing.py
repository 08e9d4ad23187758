"""Process mode in the plan: status.processing and the Processing condition follow
the worker's reports, Events mark the transitions, and the backend credentials
are checked before any worker is made."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from livestream_operator.api.pod_contract import PROCESSING_POLL_SECONDS, ProcessingReport
from livestream_operator.api.v1alpha1 import LiveStream, ProcessingState
from livestream_operator.kube_events import EventType, KubeEvent
from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile.observed import ObservedPod
from livestream_operator.reconcile.plan import Plan, PodDeletion, plan
from livestream_operator.settings import Settings

from .test_plan import GONE_IN, LIVE_IN, T0, children, ls, running, t, written

SETTINGS = Settings(internal_secret="lso-internal")
TOKEN = {"name": "backend-token", "key": "token"}
FIELD = "spec.worker.processing.backend.credentialsSecretRef"


def process(credentials: dict[str, str] | None = TOKEN, **processing: Any) -> dict[str, Any]:
    backend: dict[str, Any] = {"url": "wss://dsp.example/v1/audio"}
    if credentials is not None:
        backend["credentialsSecretRef"] = credentials
    return {"mode": "process", "processing": {"backend": backend, **processing}}


def stream(lifecycle: str = "Ephemeral", ingest: Any = LIVE_IN, **worker: Any) -> LiveStream:
    return ls(lifecycle, ingest=ingest, worker=process(**worker))


def report(
    state: str,
    reason: str | None = None,
    message: str | None = None,
    fragments: int = 0,
    fallback_fragments: int = 0,
) -> ProcessingReport:
    """What the worker answers at PROCESSING_PATH."""
    return ProcessingReport(
        state=ProcessingState(state),
        reason=reason,
        message=message,
        since=t(2),
        fragments=fragments,
        fallback_fragments=fallback_fragments,
    )


def worker_of(body: LiveStream) -> dict[str, Any]:
    return running(manifests.worker_pod(body, SETTINGS))


def conds(p: Plan) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in p.status.wire()["conditions"]}


after = written  # the LiveStream the next reconcile sees


def reasons(p: Plan, kind: EventType | None = None) -> list[str]:
    return [e.reason for e in p.events if kind is None or e.type is kind]


# ------------------------------------------------------------- the reports


def test_other_modes_have_no_processing_status_or_condition() -> None:
    body = ls(ingest=LIVE_IN, worker={"mode": "tone"})
    p = plan(body, children(worker_of(body)), SETTINGS, T0, processing=report("Processing"))
    assert "processing" not in p.status.wire()
    assert "Processing" not in conds(p)


def test_before_any_report_processing_is_starting() -> None:
    body = stream()
    p = plan(body, {}, SETTINGS, T0)
    assert [c["metadata"]["name"] for c in p.create] == ["cam-worker"]
    assert p.status.wire()["processing"] == {"state": "Starting", "since": t(0)}
    cond = conds(p)["Processing"]
    assert (cond["status"], cond["reason"]) == ("False", "Starting")
    # The worker is running but has not answered yet.
    running_worker = children(worker_of(body))
    later = plan(after(body, p), running_worker, SETTINGS, T0 + timedelta(seconds=3))
    assert later.status.wire()["processing"] == {"state": "Starting", "since": t(0)}


def test_processing_is_true_and_the_counts_stay_out_of_status() -> None:
    body = stream()
    got = report("Processing", fragments=40, fallback_fragments=2)
    p = plan(body, children(worker_of(body)), SETTINGS, T0, processing=got)
    # Counts are the worker's metrics: in status they would rewrite it every poll.
    assert p.status.wire()["processing"] == {"state": "Processing", "since": t(2)}
    cond = conds(p)["Processing"]
    assert (cond["status"], cond["reason"]) == ("True", "Processing")
    assert not [r for r in reasons(p) if r.startswith("Processing")]  # Starting -> Processing


def test_fallback_is_false_with_its_reason_and_one_warning() -> None:
    body = stream()
    worker = children(worker_of(body))
    slow = report("Fallback", "Deadline", "no answer within 1000 ms", fragments=9)
    first = plan(body, worker, SETTINGS, T0, processing=slow)
    status = first.status.wire()["processing"]
    assert (status["state"], status["reason"], status["message"]) == (
        "Fallback",
        "Deadline",
        "no answer within 1000 ms",
    )
    cond = conds(first)["Processing"]
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False",
        "Deadline",
        "no answer within 1000 ms",
    )
    assert (
        KubeEvent(EventType.WARNING, "ProcessingFallback", "Deadline: no answer within 1000 ms")
        in first.events
    )
    # Still in Fallback: nothing new to say, and the status is unchanged.
    still = report("Fallback", "Deadline", "no answer within 1000 ms", fragments=19)
    second = plan(after(body, first), worker, SETTINGS, T0 + timedelta(seconds=5), processing=still)
    assert "ProcessingFallback" not in reasons(second)
    assert second.status.wire()["processing"] == status
    # Another reason: the condition follows it, without another Warning (a dead
    # backend moves between reasons as it is retried).
    down = report("Fallback", "BreakerOpen", "the backend failed 5 times")
    third = plan(after(body, second), worker, SETTINGS, T0 + timedelta(seconds=10), processing=down)
    assert "ProcessingFallback" not in reasons(third)
    assert conds(third)["Processing"]["reason"] == "BreakerOpen"


def test_coming_back_from_fallback_is_a_normal_event() -> None:
    body = stream()
    worker = children(worker_of(body))
    fell = plan(body, worker, SETTINGS, T0, processing=report("Fallback", "BackendUnavailable"))
    back = plan(
        after(body, fell),
        worker,
        SETTINGS,
        T0 + timedelta(seconds=5),
        processing=report("Processing"),
    )
    assert reasons(back) == ["ProcessingResumed"]
    assert back.events[0].type is EventType.NORMAL
    assert conds(back)["Processing"]["status"] == "True"


def test_an_unreachable_worker_keeps_the_stored_status() -> None:
    body = stream()
    worker = children(worker_of(body))
    fell = plan(body, worker, SETTINGS, T0, processing=report("Fallback", "Deadline", "late"))
    silent = plan(after(body, fell), worker, SETTINGS, T0 + timedelta(seconds=5))
    assert silent.status.processing == fell.status.processing
    assert conds(silent)["Processing"]["reason"] == "Deadline"
    assert not [r for r in reasons(silent) if r.startswith("Processing")]


def test_a_worker_that_stops_running_starts_over() -> None:
    body = stream()
    worker = worker_of(body)
    ok = plan(body, children(worker), SETTINGS, T0, processing=report("Processing"))
    worker["status"]["phase"] = "Pending"
    gone = plan(after(body, ok), children(worker), SETTINGS, T0 + timedelta(seconds=5))
    assert gone.status.wire()["processing"] == {"state": "Starting", "since": t(5)}
    assert conds(gone)["Processing"]["reason"] == "Starting"


def test_reasons_are_camel_case_and_messages_bounded() -> None:
    body = stream()
    worker = children(worker_of(body))
    label = plan(body, worker, SETTINGS, T0, processing=report("Fallback", "inflight_limit"))
    assert conds(label)["Processing"]["reason"] == "InflightLimit"
    odd = report("Fallback", "not a reason!", "x" * 5000)
    p = plan(body, worker, SETTINGS, T0, processing=odd)
    assert conds(p)["Processing"]["reason"] == "Fallback"
    assert "reason" not in p.status.wire()["processing"]
    assert len(p.status.wire()["processing"]["message"]) == 300


def test_an_inactive_stream_has_no_processing_status() -> None:
    body = stream("Persistent", ingest={})
    p = plan(body, {}, SETTINGS, T0 + timedelta(hours=1))
    assert p.status.phase == "Pending"
    assert "processing" not in p.status.wire()
    cond = conds(p)["Processing"]
    assert (cond["status"], cond["reason"]) == ("False", "NoWorker")
    assert p.requeue_after is None


def test_an_active_stream_is_looked_at_every_poll_interval() -> None:
    body = stream()
    p = plan(body, children(worker_of(body)), SETTINGS, T0)
    assert p.requeue_after == PROCESSING_POLL_SECONDS
    # In grace, the deadline is further away than the next poll.
    grace = stream(ingest=GONE_IN)
    q = plan(grace, children(worker_of(grace)), SETTINGS, T0 + timedelta(seconds=12))
    assert q.requeue_after == PROCESSING_POLL_SECONDS
    # Nearer than the next poll: the deadline.
    r = plan(grace, children(worker_of(grace)), SETTINGS, T0 + timedelta(seconds=38))
    assert r.requeue_after is not None
    assert r.requeue_after < 2.1


# ---------------------------------------------------------- the credentials


INTERNAL = {"name": "lso-internal", "key": "pool-token"}


def test_the_internal_secret_as_backend_credentials_is_refused() -> None:
    body = stream(credentials=INTERNAL)
    p = plan(body, {}, SETTINGS, T0)
    assert p.create == []
    cond = conds(p)["Processing"]
    assert (cond["status"], cond["reason"]) == ("False", "CredentialsRefused")
    assert FIELD in cond["message"]
    assert "processing" not in p.status.wire()
    assert p.status.phase == "Failed"
    assert reasons(p, EventType.WARNING).count("CredentialsRefused") == 1
    # Once: the next reconcile sees the condition it wrote.
    again = plan(after(body, p), {}, SETTINGS, T0 + timedelta(seconds=5))
    assert "CredentialsRefused" not in reasons(again)
    assert again.create == []
    assert again.requeue_after is None  # nothing to poll


def test_a_worker_is_removed_when_its_spec_turns_to_the_internal_secret() -> None:
    ok = stream()
    worker = worker_of(ok)
    p = plan(stream(credentials=INTERNAL), children(worker), SETTINGS, T0)
    assert p.delete == [PodDeletion("cam-worker", "pod-uid", "CredentialsRefused")]
    assert p.create == []


def test_refused_even_before_the_stream_is_active() -> None:
    p = plan(stream("Persistent", ingest={}, credentials=INTERNAL), {}, SETTINGS, T0)
    assert conds(p)["Processing"]["reason"] == "CredentialsRefused"
    assert p.status.phase == "Pending"


def waiting(body: LiveStream, message: str) -> dict[str, ObservedPod]:
    """The worker as the kubelet reports it when a secretKeyRef cannot be resolved."""
    pod = worker_of(body)
    pod["status"]["phase"] = "Pending"
    status = pod["status"]["containerStatuses"][0]
    status["ready"] = False
    status["state"] = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
    return children(pod)


def test_a_missing_backend_secret_is_named_on_the_processing_condition_once() -> None:
    body = stream()
    pods = waiting(body, 'secret "backend-token" not found')
    first = plan(body, pods, SETTINGS, T0)
    cond = conds(first)["Processing"]
    assert (cond["status"], cond["reason"]) == ("False", "SecretNotFound")
    assert '"backend-token"' in cond["message"]
    assert FIELD in cond["message"]
    assert first.status.wire()["processing"]["state"] == "Starting"
    assert [e for e in first.events if e.reason == "SecretNotFound"] == [
        KubeEvent(EventType.WARNING, "SecretNotFound", cond["message"])
    ]
    second = plan(after(body, first), pods, SETTINGS, T0 + timedelta(seconds=5))
    assert "SecretNotFound" not in reasons(second)


def test_a_missing_backend_secret_key_names_secret_key_and_field() -> None:
    body = stream()
    pods = waiting(body, "couldn't find key token in Secret ns/backend-token")
    cond = conds(plan(body, pods, SETTINGS, T0))["Processing"]
    assert cond["reason"] == "SecretKeyNotFound"
    assert cond["message"] == f'key "token" not found in Secret "backend-token" ({FIELD})'


def test_a_missing_internal_secret_is_not_blamed_on_the_backend_credentials() -> None:
    body = stream()
    p = plan(body, waiting(body, 'secret "lso-internal" not found'), SETTINGS, T0)
    assert conds(p)["Processing"]["reason"] == "Starting"
    assert "lso-internal" in conds(p)["WorkerReady"]["message"]
