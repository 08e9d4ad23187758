"""Hook rules: the status change (the fields it sets; None clears one) each MediaMTX
event implies."""

from __future__ import annotations

from typing import Any

from livestream_operator.api.naming import parse_path
from livestream_operator.api.v1alpha1 import LiveStreamStatus
from livestream_operator.ingest.hook_event import HookEvent, HookKind
from livestream_operator.ingest.rules import Decision, Result, decide, new_livestream
from livestream_operator.settings import Settings

NOW = "2026-11-21T06:00:00.000000Z"
LATER = "2026-11-21T06:00:05.000000Z"


def _ev(
    path: str = "live/cam/in", source: str = "s1", query: str = "", instance: str = "mtx-0"
) -> HookEvent:
    return HookEvent(
        path=path, query=query, source_type="rtmpConn", source_id=source, instance=instance
    )


def st(wire: dict[str, Any] | None = None) -> LiveStreamStatus:
    return LiveStreamStatus.model_validate(wire or {})


def patch(decision: Decision) -> dict[str, Any] | None:
    if decision.change is None:
        return None
    return decision.change.model_dump(by_alias=True, exclude_unset=True, mode="json")


def test_first_ready_marks_ingest_available() -> None:
    d = decide(HookKind.READY, st(), parse_path("live/cam/in"), _ev(query="key=x"), NOW)
    assert d.result is Result.UPDATED
    assert patch(d) == {
        "ingest": {
            "path": "live/cam/in",
            "available": True,
            "sourceType": "rtmpConn",
            "sourceId": "s1",
            "query": "key=redacted",
            "availableSince": NOW,
            "connectingSince": None,
            "unavailableSince": None,
            "lastEventTime": NOW,
            "instance": "mtx-0",
        }
    }


def test_duplicate_ready_changes_nothing() -> None:
    status: dict[str, Any] = {
        "ingest": {"available": True, "sourceId": "s1", "availableSince": NOW}
    }
    d = decide(HookKind.READY, st(status), parse_path("live/cam/in"), _ev(), LATER)
    assert (d.result, patch(d)) == (Result.UNCHANGED, None)


def test_not_ready_of_current_source_starts_grace() -> None:
    status = {"ingest": {"available": True, "sourceId": "s1"}}
    d = decide(HookKind.NOT_READY, st(status), parse_path("live/cam/in"), _ev(), LATER)
    assert patch(d) == {
        "ingest": {
            "available": False,
            "connectingSince": None,
            "unavailableSince": LATER,
            "lastEventTime": LATER,
        }
    }


def test_not_ready_of_replaced_source_is_stale() -> None:
    status = {"ingest": {"available": True, "sourceId": "s2"}}
    d = decide(HookKind.NOT_READY, st(status), parse_path("live/cam/in"), _ev(source="s1"), LATER)
    assert (d.result, patch(d)) == (Result.STALE, None)


def test_reconnect_clears_grace_and_keeps_nothing_stale() -> None:
    status = {
        "ingest": {
            "available": False,
            "sourceId": "s1",
            "unavailableSince": NOW,
            "availableSince": NOW,
        }
    }
    d = decide(HookKind.READY, st(status), parse_path("live/cam/in"), _ev(source="s2"), LATER)
    wire = patch(d)
    assert wire is not None
    assert wire["ingest"]["unavailableSince"] is None  # a JSON null clears the grace period
    assert wire["ingest"]["availableSince"] == LATER


def test_output_events() -> None:
    where = parse_path("live/cam/out")
    d = decide(HookKind.READY, st(), where, _ev("live/cam/out", "w"), NOW)
    assert patch(d) == {
        "output": {
            "path": "live/cam/out",
            "available": True,
            "sourceId": "w",
            "availableSince": NOW,
            "instance": "mtx-0",
        }
    }
    status = {"output": {"available": True, "sourceId": "w"}}
    gone = decide(HookKind.NOT_READY, st(status), where, _ev("live/cam/out", "w"), NOW)
    assert patch(gone) == {"output": {"available": False}}
    assert (
        decide(HookKind.NOT_READY, st(status), where, _ev("live/cam/out", "old"), NOW).result
        is Result.STALE
    )


def test_new_livestream_uses_defaults() -> None:
    settings = Settings.model_validate(
        {
            "default_grace_seconds": 7,
            "default_worker_mode": "tone",
            "default_input_loss_fill": "None",
            "default_destinations": [{"name": "yt", "urlSecretRef": {"name": "s", "key": "k"}}],
        }
    )
    body = new_livestream("Cam_1", "media", settings).manifest()
    assert body["metadata"]["name"].startswith("cam-1-")
    assert body["metadata"]["namespace"] == "media"
    assert "status" not in body
    assert body["spec"] == {
        "streamId": "Cam_1",
        "lifecycle": "Ephemeral",
        "gracePeriodSeconds": 7,
        "ingest": {
            "allowTakeover": False,
            "input": "Auto",
            "failoverAfterSeconds": 3,
            "failbackHoldSeconds": 30,
        },
        "worker": {"mode": "tone", "output": "rtsp"},
        "forwarder": {"destinations": [{"name": "yt", "urlSecretRef": {"name": "s", "key": "k"}}]},
        "inputLoss": {"fill": "None", "holdLastFrameSeconds": 1},
    }


PROCESSING = {"backend": {"url": "wss://dsp.example/v1/audio"}, "deadlineMs": 800}


def test_new_livestream_in_process_mode_gets_the_default_processing() -> None:
    settings = Settings.model_validate(
        {"default_worker_mode": "process", "default_processing": PROCESSING}
    )
    worker = new_livestream("cam", "media", settings).manifest()["spec"]["worker"]
    assert worker["mode"] == "process"
    assert worker["processing"]["backend"] == {"url": "wss://dsp.example/v1/audio"}
    assert worker["processing"]["deadlineMs"] == 800
    assert worker["processing"]["fragmentMs"] == 500


def test_default_processing_is_left_out_in_other_modes() -> None:
    settings = Settings.model_validate(
        {"default_worker_mode": "tone", "default_processing": PROCESSING}
    )
    worker = new_livestream("cam", "media", settings).manifest()["spec"]["worker"]
    assert worker == {"mode": "tone", "output": "rtsp"}


# ------------------------------------------------------------ the early signal

IN = parse_path("live/cam/in")


def test_admitted_publish_is_connecting_with_the_source_the_hook_will_name() -> None:
    d = decide(HookKind.CONNECTING, st(), IN, _ev(query="key=sk_secret"), NOW)
    assert d.result is Result.UPDATED
    assert patch(d) == {
        "ingest": {
            "path": "live/cam/in",
            "available": False,
            "sourceType": "rtmpConn",
            "sourceId": "s1",
            "query": "key=redacted",
            "connectingSince": NOW,
            "availableSince": None,
            "lastEventTime": NOW,
            "instance": "mtx-0",
        }
    }


def test_the_instance_is_the_events_or_what_the_same_source_said_before() -> None:
    connecting = decide(HookKind.CONNECTING, st(), IN, _ev(instance="mtx-1"), NOW)
    status = _apply(st(), connecting)
    # A resync's ready (no instance) of the same source keeps the auth call's word.
    ready = decide(HookKind.READY, status, IN, _ev(instance=""), LATER)
    assert ready.change is not None
    assert ready.change.ingest is not None
    assert ready.change.ingest.instance == "mtx-1"
    # Another source, unnamed: where it is is not known.
    other = decide(HookKind.READY, status, IN, _ev(source="s2", instance=""), LATER)
    assert other.change is not None
    assert other.change.ingest is not None
    assert other.change.ingest.instance is None
    # The worker's output says where it publishes.
    out = decide(HookKind.READY, st(), parse_path("live/cam/out"), _ev("live/cam/out"), NOW)
    assert out.change is not None
    assert out.change.output is not None
    assert out.change.output.instance == "mtx-0"


def _apply(status: LiveStreamStatus, d: Decision) -> LiveStreamStatus:
    """What the API server stores after the merge patch (ingest only)."""
    if d.change is None or d.change.ingest is None:
        return status
    merged = (status.ingest.model_dump() if status.ingest else {}) | d.change.ingest.model_dump(
        exclude_unset=True
    )
    return LiveStreamStatus(ingest=merged)


def _run(order: list[HookKind], source: str = "s1") -> LiveStreamStatus:
    status = st()
    for i, kind in enumerate(order):
        status = _apply(status, decide(kind, status, IN, _ev(source=source), f"t{i}"))
    return status


def test_auth_first_or_ready_first_end_the_same() -> None:
    for order in (
        [HookKind.CONNECTING, HookKind.READY],
        [HookKind.READY, HookKind.CONNECTING],
        [HookKind.READY, HookKind.CONNECTING, HookKind.READY],
    ):
        ingest = _run(order).ingest
        assert ingest is not None
        assert (ingest.available, ingest.source_id, ingest.connecting_since) == (True, "s1", None)
        assert ingest.unavailable_since is None


def test_late_auth_of_a_publish_that_already_ended_is_stale() -> None:
    status = _run([HookKind.READY, HookKind.NOT_READY])
    d = decide(HookKind.CONNECTING, status, IN, _ev(), LATER)
    assert (d.result, d.change) == (Result.STALE, None)


def test_takeover_does_not_mark_the_live_stream_connecting() -> None:
    status = _run([HookKind.CONNECTING, HookKind.READY])
    d = decide(HookKind.CONNECTING, status, IN, _ev(source="s2"), LATER)
    assert (d.result, d.change) == (Result.UNCHANGED, None)


def test_reconnect_keeps_the_grace_clock_and_then_takes_the_new_source() -> None:
    status = _run([HookKind.READY, HookKind.NOT_READY])
    back = decide(HookKind.CONNECTING, status, IN, _ev(source="s2"), LATER)
    status = _apply(status, back)
    ingest = status.ingest
    assert ingest is not None
    assert (ingest.source_id, ingest.connecting_since, ingest.unavailable_since) == (
        "s2",
        LATER,
        "t1",
    )
    ready = decide(HookKind.READY, status, IN, _ev(source="s2"), "t9")
    ingest = _apply(status, ready).ingest
    assert ingest is not None
    assert (ingest.available, ingest.available_since, ingest.unavailable_since) == (
        True,
        "t9",
        None,
    )


def test_not_ready_of_the_old_source_never_ends_a_connecting_new_one() -> None:
    status = _run([HookKind.READY])
    status = _apply(status, decide(HookKind.NOT_READY, status, IN, _ev(), "t5"))
    status = _apply(status, decide(HookKind.CONNECTING, status, IN, _ev(source="s2"), "t6"))
    d = decide(HookKind.NOT_READY, status, IN, _ev(), "t7")  # a duplicate, late
    assert d.result is Result.STALE


def test_output_paths_are_never_announced() -> None:
    d = decide(HookKind.CONNECTING, st(), parse_path("live/cam/out"), _ev("live/cam/out"), NOW)
    assert d.result is Result.IGNORED


def test_the_backup_publish_point_follows_the_ingest_rules_into_status_backup() -> None:
    where = parse_path("live/cam/backup")
    ready = decide(HookKind.READY, st(), where, _ev("live/cam/backup", "b1"), NOW)
    assert ready.result is Result.UPDATED
    change = patch(ready)
    assert change is not None
    assert set(change) == {"backup"}
    assert change["backup"]["path"] == "live/cam/backup"
    assert (change["backup"]["available"], change["backup"]["sourceId"]) == (True, "b1")
    live = {"ingest": {"available": True, "sourceId": "s1"}, "backup": change["backup"]}
    gone = decide(HookKind.NOT_READY, st(live), where, _ev("live/cam/backup", "b1"), LATER)
    assert patch(gone) == {
        "backup": {
            "available": False,
            "connectingSince": None,
            "unavailableSince": LATER,
            "lastEventTime": LATER,
        }
    }
    # Another source's not-ready never ends it; no early signal for a backup.
    stale = decide(HookKind.NOT_READY, st(live), where, _ev("live/cam/backup", "b0"), LATER)
    assert stale.result is Result.STALE
    early = decide(HookKind.CONNECTING, st(), where, _ev("live/cam/backup"), NOW)
    assert early.result is Result.IGNORED


def test_new_livestream_gets_the_default_slate_and_none_without_one() -> None:
    slates = {"bars": {"colour": "#3366cc"}}
    with_slate = Settings.model_validate({"slates": slates, "default_input_loss_slate": "bars"})
    spec = new_livestream("cam", "media", with_slate).spec.input_loss
    assert (spec.fill.value, spec.slate) == ("Slate", "bars")
    body = new_livestream("cam", "media", Settings()).manifest()
    # No slate named: the built-in one, as before (and the spec's 1 s hold first).
    assert body["spec"]["inputLoss"] == {"fill": "Slate", "holdLastFrameSeconds": 1}
