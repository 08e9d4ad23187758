"""The truth stays visible: with `out` still playing (an input-loss fill), the
phase and conditions follow the publisher; the InputLoss condition, its Events
(once each) and the loss and start-up figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from livestream_operator.api.fill import fill_ended
from livestream_operator.api.v1alpha1 import LiveStream
from livestream_operator.kube_events import EventType, KubeEvent
from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile.input_loss import LossOutcome, Measured, Measurement
from livestream_operator.reconcile.plan import Plan, plan

from .test_plan import GONE_IN, LIVE_IN, SETTINGS, T0, children, ls, running, t, written

FILLED_OUT = {"available": True, "sourceId": "w1", "availableSince": t(1)}


def conditions(p: Plan) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in p.status.wire()["conditions"]}


def at(seconds: float) -> Any:
    return T0 + timedelta(seconds=seconds)


def reconcile(body: LiveStream, seconds: float) -> tuple[Plan, LiveStream]:
    worker = running(manifests.worker_pod(body, SETTINGS))
    p = plan(body, children(worker), SETTINGS, at(seconds))
    return p, written(body, p)


def live() -> LiveStream:
    body = ls(ingest=LIVE_IN, output=FILLED_OUT)
    return reconcile(body, 2)[1]


def lose(body: LiveStream, output: dict[str, Any] = FILLED_OUT) -> LiveStream:
    """The publisher's not-ready at t(10), as the receiver writes it; `out` unchanged."""
    status = body.status.model_validate({**body.status.wire(), "ingest": GONE_IN, "output": output})
    return body.model_copy(update={"status": status})


def back(body: LiveStream, since: str) -> LiveStream:
    ingest = {"available": True, "sourceId": "s2", "availableSince": since}
    status = body.status.model_validate({**body.status.wire(), "ingest": ingest})
    return body.model_copy(update={"status": status})


def test_a_filled_output_never_makes_a_stream_without_its_publisher_live() -> None:
    p, _ = reconcile(lose(live()), 12)
    assert p.status.wire()["phase"] == "Reconnecting"
    conds = conditions(p)
    assert (conds["Ready"]["status"], conds["IngestAvailable"]["status"]) == ("False", "False")
    assert (conds["OutputAvailable"]["status"], conds["OutputAvailable"]["reason"]) == (
        "True",
        "Filling",
    )
    loss = conds["InputLoss"]
    assert (loss["status"], loss["reason"]) == ("True", "PublisherGone")
    # Since the publisher went, not since the reconcile that saw it.
    assert loss["lastTransitionTime"] == t(10)
    assert loss["message"] == (
        f"publisher gone since {t(10)}; the stream ends at {t(40)} unless it returns"
    )


def test_a_loss_posts_one_warning_and_counts_once() -> None:
    p, body = reconcile(lose(live()), 12)
    assert [e for e in p.events if e.reason == "InputLost"] == [
        KubeEvent(EventType.WARNING, "InputLost", conditions(p)["InputLoss"]["message"])
    ]
    assert p.measurements == [Measurement(Measured.LOSS_STARTED)]
    again, _ = reconcile(body, 15)
    assert [e.reason for e in again.events] == []
    assert again.measurements == []


def test_the_publishers_return_posts_one_normal_event_with_the_loss_duration() -> None:
    _, body = reconcile(lose(live()), 12)
    p, body = reconcile(back(body, "2026-11-21T06:00:20.400000Z"), 21)
    loss = conditions(p)["InputLoss"]
    assert (loss["status"], loss["reason"], loss["lastTransitionTime"]) == (
        "False",
        "Publishing",
        t(21),
    )
    assert KubeEvent(EventType.NORMAL, "InputRecovered", "publisher back after 10s") in p.events
    assert p.measurements == [Measurement(Measured.LOSS_ENDED, 10.4, LossOutcome.RECOVERED)]
    assert p.status.wire()["phase"] == "Live"
    again, _ = reconcile(body, 25)
    assert (again.events, again.measurements) == ([], [])


def test_a_loss_that_outlives_the_grace_period_ends_expired() -> None:
    _, body = reconcile(lose(live()), 12)
    p = plan(body, {}, SETTINGS, at(40))
    assert p.delete_livestream
    assert p.measurements == [Measurement(Measured.LOSS_ENDED, 30.0, LossOutcome.EXPIRED)]


def test_a_persistent_stream_goes_idle_without_a_recovery_event() -> None:
    first = reconcile(ls("Persistent", ingest=LIVE_IN, output=FILLED_OUT), 2)[1]
    _, body = reconcile(lose(first, {"available": False}), 12)
    p = plan(body, children(), SETTINGS, at(41))
    assert conditions(p)["InputLoss"]["reason"] == "NotLive"
    assert "InputRecovered" not in [e.reason for e in p.events]
    assert p.measurements == [Measurement(Measured.LOSS_ENDED, 30.0, LossOutcome.EXPIRED)]


def test_a_returning_publisher_still_connecting_is_still_a_loss() -> None:
    _, body = reconcile(lose(live()), 12)
    ingest = {**GONE_IN, "sourceId": "s2", "connectingSince": t(14)}
    status = body.status.model_validate({**body.status.wire(), "ingest": ingest})
    p, _ = reconcile(body.model_copy(update={"status": status}), 15)
    loss = conditions(p)["InputLoss"]
    assert (loss["status"], loss["lastTransitionTime"]) == ("True", t(10))
    assert loss["message"].endswith("; a publisher is connecting")
    assert [e.reason for e in p.events] == ["PhaseConnecting"]
    assert p.measurements == []


def test_a_first_publish_is_no_loss() -> None:
    body = ls(ingest={"available": False, "sourceId": "s1", "connectingSince": t(0)})
    p = plan(body, {}, SETTINGS, at(1))
    assert (conditions(p)["InputLoss"]["status"], conditions(p)["InputLoss"]["reason"]) == (
        "False",
        "NotLive",
    )
    assert "InputLost" not in [e.reason for e in p.events]


def test_startup_is_measured_once_from_in_to_out_available() -> None:
    ingest = {**LIVE_IN, "availableSince": "2026-11-21T06:00:00.250000Z"}
    output = {"available": True, "availableSince": "2026-11-21T06:00:00.750000Z"}
    p, body = reconcile(ls(ingest=ingest, output=output), 1)
    assert p.measurements == [Measurement(Measured.STARTUP, 0.5)]
    assert reconcile(body, 2)[0].measurements == []


def test_an_output_that_outlived_a_loss_is_no_startup() -> None:
    _, body = reconcile(lose(live()), 12)
    p, _ = reconcile(back(body, t(20)), 21)  # out available since t(1), before the return
    assert Measured.STARTUP not in [m.kind for m in p.measurements]


def test_fill_seconds_wakes_the_operator_when_the_slate_ends_and_says_so() -> None:
    body = reconcile(ls(ingest=LIVE_IN, output=FILLED_OUT, inputLoss={"fillSeconds": 5}), 2)[1]
    p, body = reconcile(lose(body), 12)
    assert p.requeue_after == pytest.approx(3.05)  # t(15), not the grace deadline t(40)
    assert conditions(p)["InputLoss"]["message"].endswith(f"; the slate plays until {t(15)}")
    assert not fill_ended(body, at(14.9))
    assert fill_ended(body, at(15))  # out's entry goes then (mediamtx/path_config.py)

    p, body = reconcile(body, 15.05)
    loss = conditions(p)["InputLoss"]
    assert (loss["status"], loss["lastTransitionTime"]) == ("True", t(10))
    assert loss["message"].endswith(f"; the slate ended at {t(15)} (fillSeconds), and out with it")
    assert p.requeue_after == pytest.approx(40 - 15.05 + 0.05)  # the grace deadline again
    assert p.status.wire()["phase"] == "Reconnecting"  # the stream itself lives on


def test_without_fill_seconds_the_slate_has_no_deadline_of_its_own() -> None:
    p, body = reconcile(lose(live()), 12)
    assert p.requeue_after == pytest.approx(40 - 12 + 0.05)
    assert not fill_ended(body, at(39))


def test_the_reconcile_and_the_path_entries_find_the_same_fill_deadline() -> None:
    # The condition keeps the loss to the second; a sub-second not-ready changes nothing.
    body = reconcile(ls(ingest=LIVE_IN, output=FILLED_OUT, inputLoss={"fillSeconds": 5}), 2)[1]
    gone = {**GONE_IN, "unavailableSince": "2026-11-21T06:00:10.700000Z"}
    status = body.status.model_validate({**body.status.wire(), "ingest": gone})
    p, body = reconcile(body.model_copy(update={"status": status}), 12)
    assert p.requeue_after == pytest.approx(3.05)
    assert fill_ended(body, at(15))
