"""The forwarder's destinations: each one's state (from its container's report
or its container status), the DestinationsHealthy condition that names a
missing urlSecretRef or an Exhausted destination (each with one Warning Event),
the retry policy each container gets, and the retry-now annotation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from livestream_operator.api.ownership import FieldManager, owned_part
from livestream_operator.api.pod_contract import DestinationReport, ForwarderEnv
from livestream_operator.api.v1alpha1 import DestinationState, LiveStream
from livestream_operator.kube_events import EventType, KubeEvent
from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile.destinations import (
    RetryRequest,
    destination_states,
    retry_request,
    to_ask,
)
from livestream_operator.reconcile.observed import ObservedPod
from livestream_operator.reconcile.plan import plan
from livestream_operator.settings import Settings

from .test_plan import LIVE_IN, SETTINGS, T0, children, ls, running, t, written


def test_destination_states() -> None:
    dests = {
        "destinations": [
            {"name": "a", "urlSecretRef": {"name": "s", "key": "a"}},
            {"name": "b", "urlSecretRef": {"name": "s", "key": "b"}},
            {"name": "c", "urlSecretRef": {"name": "s", "key": "c"}},
            {"name": "d", "urlSecretRef": {"name": "s", "key": "d"}},
        ]
    }
    body = ls(ingest=LIVE_IN, forwarder=dests)
    spec = body.spec
    manifest = manifests.forwarder_pod(body, SETTINGS)
    assert manifest is not None
    pod = dict(manifest)
    pod["status"] = {
        "phase": "Running",
        "containerStatuses": [
            {"name": "dest-a", "ready": True, "restartCount": 0, "state": {"running": {}}},
            {
                "name": "dest-b",
                "ready": False,
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            },
            {
                "name": "dest-c",
                "ready": False,
                "restartCount": 0,
                "state": {"running": {"startedAt": t(0)}},
            },
        ],
    }
    observed = ObservedPod.parse(pod)
    states = {
        d.name: d.state for d in destination_states(observed, spec, T0 + timedelta(seconds=5))
    }
    assert states == {"a": "Active", "b": "Failing", "c": "Pending", "d": "Pending"}
    later = {
        d.name: d.state for d in destination_states(observed, spec, T0 + timedelta(seconds=60))
    }
    assert later["c"] == "Failing"
    assert {d.state for d in destination_states(None, spec, T0)} == {"Stopped"}


YT = {"name": "youtube", "urlSecretRef": {"name": "keys", "key": "youtube"}}
TW = {"name": "twitch", "urlSecretRef": {"name": "keys", "key": "twitch"}}


def forwarder_waiting(body: LiveStream, waiting: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The forwarder Pod as the kubelet reports it: some containers waiting, the rest up."""
    manifest = manifests.forwarder_pod(body, SETTINGS)
    assert manifest is not None
    pod = running(manifest)
    for c in pod["status"]["containerStatuses"]:
        if c["name"] in waiting:
            c["ready"] = False
            c["state"] = {"waiting": waiting[c["name"]]}
    return pod


def secret_cond(p: Any) -> dict[str, Any]:
    conds = {c["type"]: c for c in p.status.wire()["conditions"]}
    return dict(conds["DestinationsHealthy"])


def test_missing_destination_secret_is_named_in_a_condition_and_an_event() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT, TW]})
    missing = {"reason": "CreateContainerConfigError", "message": 'secret "keys" not found'}
    fwd = forwarder_waiting(body, {"dest-youtube": missing})
    p = plan(body, children(fwd), SETTINGS, T0)
    cond = secret_cond(p)
    assert cond["status"] == "False"
    assert cond["reason"] == "SecretNotFound"
    assert "youtube" in cond["message"]
    assert '"keys"' in cond["message"]
    assert "twitch" not in cond["message"]  # up: not named
    warnings = [e for e in p.events if e.reason == "SecretNotFound"]
    assert warnings == [KubeEvent(EventType.WARNING, "SecretNotFound", cond["message"])]


def test_missing_secret_key_names_destination_secret_and_key() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT, TW]})
    missing = {
        "reason": "CreateContainerConfigError",
        "message": "couldn't find key youtube in Secret ns/keys",
    }
    crashing = {"reason": "CrashLoopBackOff", "message": "back-off 10s"}
    fwd = forwarder_waiting(body, {"dest-youtube": missing, "dest-twitch": crashing})
    fwd["status"]["containerStatuses"][1]["restartCount"] = 3
    p = plan(body, children(fwd), SETTINGS, T0)
    cond = secret_cond(p)
    assert cond["reason"] == "SecretKeyNotFound"
    assert cond["message"] == (
        'destination youtube: key "youtube" not found in Secret "keys" (urlSecretRef); '
        "failing: twitch"
    )
    assert [e.reason for e in p.events if e.type is EventType.WARNING] == ["SecretKeyNotFound"]


def test_secret_event_is_posted_once_not_on_every_reconcile() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT]})
    missing = {"reason": "CreateContainerConfigError", "message": 'secret "keys" not found'}
    fwd = children(forwarder_waiting(body, {"dest-youtube": missing}))
    first = plan(body, fwd, SETTINGS, T0)
    assert [e.reason for e in first.events].count("SecretNotFound") == 1
    # The next reconcile sees the status the first one wrote.
    again = written(body, first)
    second = plan(again, fwd, SETTINGS, T0 + timedelta(seconds=30))
    assert "SecretNotFound" not in [e.reason for e in second.events]
    assert secret_cond(second)["reason"] == "SecretNotFound"
    # Now the key is missing instead: a different reason, so a new Event.
    key_missing = {
        "reason": "CreateContainerConfigError",
        "message": "couldn't find key youtube in Secret ns/keys",
    }
    third = plan(
        again,
        children(forwarder_waiting(body, {"dest-youtube": key_missing})),
        SETTINGS,
        T0 + timedelta(seconds=60),
    )
    assert [e.reason for e in third.events if e.type is EventType.WARNING] == ["SecretKeyNotFound"]


def test_other_config_errors_and_healthy_destinations_post_no_secret_event() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT]})
    other = {"reason": "CreateContainerConfigError", "message": 'configmap "x" not found'}
    p = plan(body, children(forwarder_waiting(body, {"dest-youtube": other})), SETTINGS, T0)
    assert secret_cond(p)["reason"] == "Failing"
    assert all(e.type is not EventType.WARNING for e in p.events)
    up = plan(body, children(forwarder_waiting(body, {})), SETTINGS, T0)
    assert secret_cond(up) | {"lastTransitionTime": ""} == {
        "type": "DestinationsHealthy",
        "status": "True",
        "reason": "AllActive",
        "message": "",
        "lastTransitionTime": "",
        "observedGeneration": 1,
    }


def report(state: str, retries: int = 0, **fields: Any) -> DestinationReport:
    return DestinationReport.model_validate(
        {"state": state, "retries": retries, "maxRetries": 3, "since": t(0), **fields}
    )


def dest_status(p: Any) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in p.status.wire()["forwarder"]["destinations"]}


def cond(p: Any) -> dict[str, Any]:
    return secret_cond(p)


def test_reports_become_status_and_exhausted_names_the_destination_once() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT, TW]})
    fwd = children(forwarder_waiting(body, {}))
    # twitch refuses: its container is up (not ready) and reports its retries.
    fwd_pod = forwarder_waiting(body, {})
    fwd_pod["status"]["containerStatuses"][1]["ready"] = False
    fwd = children(fwd_pod)
    retrying = report(
        "Retrying",
        1,
        lastError="rtmp://live.twitch.tv/app/****: Connection refused",
        nextRetryTime=t(12),
        lastRetryTime=t(10),
    )
    first = plan(
        body, fwd, SETTINGS, T0, destinations={"youtube": report("Active"), "twitch": retrying}
    )
    got = dest_status(first)
    assert got["youtube"]["state"] == "Active"
    assert got["twitch"] | {} == {
        "name": "twitch",
        "state": "Retrying",
        "restarts": 0,
        "retries": 1,
        "lastError": "rtmp://live.twitch.tv/app/****: Connection refused",
        "lastRetryTime": t(10),
        "nextRetryTime": t(12),
    }
    assert first.status.wire()["forwarder"]["ready"] == "1/2"
    assert cond(first)["reason"] == "Failing"
    assert first.requeue_after is not None
    assert first.requeue_after <= 5  # asked again
    assert all(e.type is not EventType.WARNING for e in first.events)

    # Not asked this time: as it last said, and nothing to write.
    again = written(body, first)
    quiet = plan(again, fwd, SETTINGS, T0 + timedelta(seconds=3))
    assert dest_status(quiet) == got
    operator = FieldManager.OPERATOR
    assert owned_part(quiet.status, operator) == owned_part(again.status, operator)

    exhausted = report("Exhausted", 3, lastError="rtmp://live.twitch.tv/app/****: refused")
    second = plan(
        again, fwd, SETTINGS, T0 + timedelta(seconds=20), destinations={"twitch": exhausted}
    )
    c = cond(second)
    assert (c["status"], c["reason"]) == ("False", "Exhausted")
    assert c["message"] == (
        "destination twitch: exhausted after 3 retries (rtmp://live.twitch.tv/app/****: refused)"
    )
    assert dest_status(second)["twitch"]["state"] == "Exhausted"
    assert "retry-destinations=twitch" in dest_status(second)["twitch"]["message"]
    assert dest_status(second)["youtube"]["state"] == "Active"  # never affected
    warnings = [e for e in second.events if e.type is EventType.WARNING]
    assert warnings == [
        KubeEvent(
            EventType.WARNING,
            "DestinationExhausted",
            "destination twitch: gave up after 3 retries: rtmp://live.twitch.tv/app/****: refused",
        )
    ]
    # Exhausted is not polled (retry-now changes it), and is not warned twice.
    later = written(again, second)
    third = plan(
        later, fwd, SETTINGS, T0 + timedelta(seconds=40), destinations={"twitch": exhausted}
    )
    assert not [e for e in third.events if e.type is EventType.WARNING]
    assert third.status.forwarder is not None
    assert to_ask(third.status.forwarder.destinations or [], fwd["cam-forwarder"]) == []
    # Back after retry-now: Active, the condition True, no Event.
    fwd_ready = children(forwarder_waiting(body, {}))
    back = plan(
        written(later, third),
        fwd_ready,
        SETTINGS,
        T0 + timedelta(seconds=60),
        destinations={"twitch": report("Active")},
    )
    assert cond(back)["reason"] == "AllActive"
    assert back.events == []


def test_a_report_never_carries_a_url_into_status() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT]})
    pod = forwarder_waiting(body, {})
    pod["status"]["containerStatuses"][0]["ready"] = False
    leaked = report("Retrying", 1, lastError="rtmp://a.rtmp.youtube.com/live2/sk-SECRET: refused")
    p = plan(body, children(pod), SETTINGS, T0, destinations={"youtube": leaked})
    assert "sk-SECRET" not in str(p.status.wire())
    assert dest_status(p)["youtube"]["lastError"] == "rtmp://a.rtmp.youtube.com/live2/****: refused"


def test_a_restarted_container_forgets_what_the_last_one_said() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT]})
    pod = forwarder_waiting(body, {})
    pod["status"]["containerStatuses"][0]["ready"] = False
    first = plan(body, children(pod), SETTINGS, T0, destinations={"youtube": report("Retrying", 2)})
    pod["status"]["containerStatuses"][0]["restartCount"] = 1
    second = plan(written(body, first), children(pod), SETTINGS, T0 + timedelta(seconds=3))
    assert dest_status(second)["youtube"]["state"] == "Pending"
    assert "retries" not in dest_status(second)["youtube"]


def test_retry_policy_layers_and_the_container_environment() -> None:
    settings = Settings(destination_max_retries=5, destination_backoff_cap_seconds=60)
    dests = [
        {**YT, "retry": {"maxRetries": 2}},
        {**TW, "retry": {"backoffSeconds": 90}},
    ]
    body = ls(ingest=LIVE_IN, forwarder={"destinations": dests, "retry": {"backoffSeconds": 4}})
    pod = manifests.forwarder_pod(body, settings)
    assert pod is not None
    envs = [
        ForwarderEnv.from_env({e["name"]: e["value"] for e in c["env"] if "value" in e})
        for c in pod["spec"]["containers"]
    ]
    assert [(e.max_retries, e.backoff_seconds, e.backoff_cap_seconds) for e in envs] == [
        (2, 4, 60),
        (5, 90, 90),  # a cap below the backoff is the backoff
    ]
    # Without spec.forwarder.retry the Pod keeps the hash it had before retries existed.
    plain = ls(ingest=LIVE_IN, forwarder={"destinations": [YT]})
    hashed = manifests.forwarder_pod(plain, SETTINGS)
    assert hashed is not None
    assert manifests.spec_hash(hashed) == manifests._spec_hash(["cam", [YT]])


def test_retry_request_parses_names_and_star() -> None:
    spec = ls(forwarder={"destinations": [YT, TW]}).spec
    assert retry_request("*", spec) == RetryRequest((("youtube", 0), ("twitch", 1)), ())
    assert retry_request(" twitch , nope,twitch", spec) == RetryRequest((("twitch", 1),), ("nope",))
    assert retry_request("", spec) == RetryRequest((), ())


def test_states_the_operator_asks_about() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT, TW]})
    pod = ObservedPod.parse(forwarder_waiting(body, {}))
    spec = body.spec
    states = destination_states(
        pod, spec, T0, {"youtube": report("Active"), "twitch": report("Connecting")}
    )
    assert [d.state for d in states] == [DestinationState.ACTIVE, DestinationState.CONNECTING]
    assert to_ask(states, pod) == ["twitch"]
    assert to_ask(states, None) == []


def test_a_status_stored_by_an_earlier_release_still_reads() -> None:
    body = ls(ingest=LIVE_IN, forwarder={"destinations": [YT]})
    stored = body.model_validate(
        {
            **body.model_dump(by_alias=True, mode="json"),
            "status": {"forwarder": {"destinations": [{"name": "youtube", "state": "Up"}]}},
        }
    )
    assert stored.status.forwarder is not None
    (dest,) = stored.status.forwarder.destinations or []
    assert dest.state is DestinationState.ACTIVE
