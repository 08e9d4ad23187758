"""The phase machine and the plan: what the operator does for each situation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from livestream_operator.api.ownership import FieldManager, owned_part, stored_after
from livestream_operator.api.v1alpha1 import LiveStream
from livestream_operator.kube_events import EventType, KubeEvent
from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile.observed import ObservedPod
from livestream_operator.reconcile.plan import Plan, PodDeletion, plan
from livestream_operator.settings import Settings

T0 = datetime(2026, 11, 21, 6, 0, 0, tzinfo=UTC)
SETTINGS = Settings()


def t(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ls(
    lifecycle: str = "Ephemeral",
    ingest: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
    grace: int = 30,
    **spec: Any,
) -> LiveStream:
    wire = {
        "apiVersion": "media.livestream-operator.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {
            "name": "cam",
            "namespace": "ns",
            "uid": "uid-1",
            "generation": 1,
            "resourceVersion": "5",
            "creationTimestamp": t(0),
        },
        "spec": {"streamId": "cam", "lifecycle": lifecycle, "gracePeriodSeconds": grace, **spec},
        "status": {"ingest": ingest or {}, "output": output or {}},
    }
    return LiveStream.model_validate(wire)


def written(body: LiveStream, p: Plan) -> LiveStream:
    """The LiveStream the next reconcile sees: the plan's status applied by the
    operator's field manager, the other writers' fields as they were."""
    status = stored_after(body.status, FieldManager.OPERATOR, p.status)
    return body.model_copy(update={"status": status})


def children(*pods: dict[str, Any]) -> dict[str, ObservedPod]:
    """Pods as the watch delivers them to the controller."""
    return {p["metadata"]["name"]: ObservedPod.parse(p) for p in pods}


LIVE_IN = {"available": True, "sourceId": "s1", "availableSince": t(0)}
GONE_IN = {"available": False, "sourceId": "s1", "availableSince": t(0), "unavailableSince": t(10)}


def running(pod: dict[str, Any], ready: bool = True) -> dict[str, Any]:
    pod = {**pod, "metadata": {**pod["metadata"], "uid": "pod-uid"}}
    pod["status"] = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": c["name"],
                "ready": ready,
                "restartCount": 0,
                "state": {"running": {"startedAt": t(1)}},
            }
            for c in pod["spec"]["containers"]
        ],
    }
    return pod


def test_available_ingest_creates_the_worker() -> None:
    p = plan(ls(ingest=LIVE_IN), {}, SETTINGS, T0)
    assert [c["metadata"]["name"] for c in p.create] == ["cam-worker"]
    assert p.status.wire()["phase"] == "Starting"
    assert p.status.wire()["worker"]["state"] == "Pending"


def test_running_worker_with_output_is_live() -> None:
    body = ls(ingest=LIVE_IN, output={"available": True})
    worker = running(manifests.worker_pod(body, SETTINGS))
    p = plan(body, children(worker), SETTINGS, T0)
    assert p.create == []
    assert p.delete == []
    assert p.status.wire()["phase"] == "Live"
    assert {c["type"]: c["status"] for c in p.status.wire()["conditions"]}["Ready"] == "True"
    assert KubeEvent(EventType.NORMAL, "PhaseLive", "processed output is available") in p.events


def test_grace_keeps_the_worker_and_wakes_at_the_deadline() -> None:
    body = ls(ingest=GONE_IN)
    worker = running(manifests.worker_pod(body, SETTINGS))
    p = plan(body, children(worker), SETTINGS, T0 + timedelta(seconds=20))
    assert p.delete == []
    assert not p.delete_livestream
    assert p.status.wire()["phase"] == "Reconnecting"
    assert p.status.wire()["graceDeadline"] == t(40)
    assert p.requeue_after is not None
    assert 19.9 < p.requeue_after < 20.2


def test_ephemeral_is_deleted_exactly_at_the_deadline() -> None:
    body = ls(ingest=GONE_IN)
    assert not plan(body, {}, SETTINGS, T0 + timedelta(seconds=39.9)).delete_livestream
    assert plan(body, {}, SETTINGS, T0 + timedelta(seconds=40)).delete_livestream


def test_persistent_drops_its_pods_and_goes_idle() -> None:
    body = ls("Persistent", ingest=GONE_IN)
    worker = running(manifests.worker_pod(body, SETTINGS))
    p = plan(body, children(worker), SETTINGS, T0 + timedelta(seconds=41))
    assert not p.delete_livestream
    assert p.delete == [PodDeletion("cam-worker", "pod-uid", "Idle")]
    assert p.status.wire()["phase"] == "Idle"


def test_persistent_never_published_is_pending() -> None:
    p = plan(ls("Persistent"), {}, SETTINGS, T0 + timedelta(hours=1))
    assert p.status.wire()["phase"] == "Pending"
    assert p.create == []


def test_ephemeral_never_published_expires_from_creation() -> None:
    assert not plan(ls(), {}, SETTINGS, T0 + timedelta(seconds=5)).delete_livestream
    assert plan(ls(), {}, SETTINGS, T0 + timedelta(seconds=31)).delete_livestream


def test_spec_change_replaces_the_worker_but_settings_change_does_not() -> None:
    body = ls(ingest=LIVE_IN)
    worker = running(manifests.worker_pod(body, SETTINGS))
    other_settings = Settings(worker_image="other:2")
    assert plan(body, children(worker), other_settings, T0).delete == []
    changed = ls(ingest=LIVE_IN, worker={"mode": "tone"})
    p = plan(changed, children(worker), SETTINGS, T0)
    assert p.delete == [PodDeletion("cam-worker", "pod-uid", "SpecChanged")]


def test_pods_of_an_earlier_incarnation_are_not_reused() -> None:
    body = ls(ingest=LIVE_IN)
    stale = running(manifests.worker_pod(body, SETTINGS))
    stale["metadata"]["ownerReferences"][0]["uid"] = "uid-0"
    p = plan(body, children(stale), SETTINGS, T0)
    assert p.delete == [PodDeletion("cam-worker", "pod-uid", "NotOwned")]
    assert [c["metadata"]["name"] for c in p.create] == ["cam-worker"]


def test_crashlooping_worker_fails_the_stream() -> None:
    body = ls(ingest=LIVE_IN)
    worker = running(manifests.worker_pod(body, SETTINGS))
    worker["status"]["containerStatuses"][0]["state"] = {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}
    }
    worker["status"]["containerStatuses"][0]["restartCount"] = 4
    p = plan(body, children(worker), SETTINGS, T0)
    assert p.status.wire()["phase"] == "Failed"
    assert "CrashLoopBackOff" in p.status.wire()["message"]
    assert p.events[0].type is EventType.WARNING


# ------------------------------------------------------------- the early signal

CONNECTING_IN = {"available": False, "sourceId": "s1", "connectingSince": t(1)}


def test_connecting_publish_starts_the_worker_before_the_path_is_available() -> None:
    p = plan(ls(ingest=CONNECTING_IN), {}, SETTINGS, T0 + timedelta(seconds=1.2))
    assert [c["metadata"]["name"] for c in p.create] == ["cam-worker"]
    assert p.status.phase == "Connecting"
    # It looks again when the connect bound runs out.
    assert p.requeue_after is not None
    assert 9.7 <= p.requeue_after <= 9.9


def test_persistent_idle_stream_wakes_on_the_early_signal() -> None:
    ingest = {**GONE_IN, "sourceId": "s2", "connectingSince": t(500)}
    p = plan(ls("Persistent", ingest=ingest), {}, SETTINGS, T0 + timedelta(seconds=501))
    assert p.status.phase == "Connecting"
    assert [c["metadata"]["name"] for c in p.create] == ["cam-worker"]


def test_publish_that_never_becomes_available_ends_through_the_grace_period() -> None:
    body = ls(ingest=CONNECTING_IN, grace=30)
    worker = running(manifests.worker_pod(body, SETTINGS))
    after_bound = plan(body, children(worker), SETTINGS, T0 + timedelta(seconds=12))
    assert after_bound.status.phase == "Reconnecting"
    assert not after_bound.delete
    assert not after_bound.delete_livestream
    # Grace counts from the end of the connect bound: 1 + 10 + 30 s.
    assert not plan(
        body, children(worker), SETTINGS, T0 + timedelta(seconds=40.9)
    ).delete_livestream
    assert plan(body, children(worker), SETTINGS, T0 + timedelta(seconds=41)).delete_livestream


def test_new_publisher_connecting_during_grace_holds_the_stream_past_its_deadline() -> None:
    ingest = {**GONE_IN, "sourceId": "s2", "connectingSince": t(39)}
    body = ls(ingest=ingest, grace=30)  # grace ran out at t(40)
    p = plan(body, {}, SETTINGS, T0 + timedelta(seconds=41))
    assert not p.delete_livestream
    assert p.status.phase == "Connecting"


def test_the_plan_holds_the_operators_fields_only_and_a_second_pass_writes_nothing() -> None:
    body = ls(ingest=LIVE_IN, output={"available": True, "sourceId": "w"})
    first = plan(body, {}, SETTINGS, T0)
    assert first.status.wire() == owned_part(first.status, FieldManager.OPERATOR)
    again = written(body, first)
    assert (again.status.ingest, again.status.output) == (body.status.ingest, body.status.output)
    second = plan(again, {}, SETTINGS, T0 + timedelta(seconds=1))
    operator = FieldManager.OPERATOR
    assert owned_part(second.status, operator) == owned_part(again.status, operator)


# --------------------------------------------------------------------- slates


def test_a_stream_naming_an_undeclared_slate_warns_once_and_says_so() -> None:
    body = ls(ingest=LIVE_IN, inputLoss={"fill": "Slate", "slate": "bars"})
    p = plan(body, {}, SETTINGS, T0)
    (cond,) = [c for c in p.status.conditions or [] if c.type == "Slate"]
    assert (cond.status, cond.reason) == ("False", "SlateNotFound")
    assert "built-in" in cond.message
    assert [e.reason for e in p.events if e.type is EventType.WARNING] == ["SlateNotFound"]
    again = plan(written(body, p), {}, SETTINGS, T0)
    assert "SlateNotFound" not in [e.reason for e in again.events]
    declared = Settings.model_validate({"slates": {"bars": {"colour": "#3366cc"}}})
    (cond,) = [c for c in plan(body, {}, declared, T0).status.conditions or [] if c.type == "Slate"]
    assert (cond.status, cond.reason) == ("True", "SlateFound")
