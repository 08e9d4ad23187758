"""The forwarder's destinations: each one's state, and the DestinationsHealthy
condition that names a missing urlSecretRef (with one Warning Event)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from livestream_operator.api.v1alpha1 import LiveStream
from livestream_operator.kube_events import EventType, KubeEvent
from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile.destinations import destination_states
from livestream_operator.reconcile.observed import ObservedPod
from livestream_operator.reconcile.plan import plan

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
    assert states == {"a": "Up", "b": "Failing", "c": "Pending", "d": "Pending"}
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
        "reason": "AllUp",
        "message": "",
        "lastTransitionTime": "",
        "observedGeneration": 1,
    }
