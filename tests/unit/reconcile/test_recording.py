"""The Recording condition and its StorageFull Event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from livestream_operator.api.v1alpha1 import (
    ConditionType,
    LiveStream,
    RecordingStatus,
)
from livestream_operator.kube_events import EventType
from livestream_operator.reconcile.plan import Plan, plan
from livestream_operator.reconcile.recording import (
    RECORDING_REFUSED,
    STORAGE_FULL,
    recording_condition,
)
from livestream_operator.settings import Settings
from tests.unit.reconcile.test_plan import LIVE_IN, SETTINGS, T0, ls, written

MIN_FREE = SETTINGS.recording_min_free_bytes


def recorded(
    recording: dict[str, Any] | None = None,
    free: int | None = None,
    applied: bool | None = True,
    message: str | None = None,
    **spec: Any,
) -> LiveStream:
    """A LiveStream whose spec.recording the operator's sync applied (by default)."""
    body = ls(ingest=LIVE_IN, recording=recording, **spec)
    if recording is None:
        return body
    stored = RecordingStatus(free_bytes=free, applied=applied, message=message)
    status = body.status.model_copy(update={"recording": stored})
    return body.model_copy(update={"status": status})


def recording_conditions(p: Plan) -> list[dict[str, Any]]:
    return [c.wire() for c in p.status.conditions or [] if c.type is ConditionType.RECORDING]


# ------------------------------------------------------------ recording_condition


def test_no_spec_recording_no_condition() -> None:
    assert recording_condition(recorded(), SETTINGS) is None
    assert recording_conditions(plan(recorded(), {}, SETTINGS, T0)) == []


def test_disabled_is_off() -> None:
    cond = recording_condition(recorded({"enabled": False}), SETTINGS)
    assert cond is not None
    assert (cond.type, cond.ok, cond.reason) == (ConditionType.RECORDING, False, "Off")
    assert "enabled is false" in cond.message


def test_enabled_is_recording_and_says_what() -> None:
    spec = {"enabled": True, "paths": ["in", "out"], "segmentDuration": "90s", "retention": "72h"}
    cond = recording_condition(recorded(spec), SETTINGS)
    assert cond is not None
    assert (cond.type, cond.ok, cond.reason) == (ConditionType.RECORDING, True, "Recording")
    assert cond.message == "recording in and out as fmp4 while live, 90s segments kept 72h"


@pytest.mark.parametrize(
    ("free", "ok", "reason"),
    [
        (0, False, STORAGE_FULL),
        (MIN_FREE - 1, False, STORAGE_FULL),
        (MIN_FREE, True, "Recording"),  # at the limit is not under it
        (MIN_FREE * 100, True, "Recording"),
        (None, True, "Recording"),  # no segment yet: nothing known
    ],
)
def test_free_space_under_the_minimum_is_storage_full(
    free: int | None, ok: bool, reason: str
) -> None:
    cond = recording_condition(recorded({"enabled": True}, free), SETTINGS)
    assert cond is not None
    assert (cond.ok, cond.reason) == (ok, reason)
    if not ok:
        assert f"{free} bytes free" in cond.message
        assert str(MIN_FREE) in cond.message


def test_the_minimum_is_the_settings() -> None:
    body = recorded({"enabled": True}, free=1000)
    cond = recording_condition(body, Settings(recording_min_free_bytes=1000))
    assert cond is not None
    assert cond.ok
    cond = recording_condition(body, Settings(recording_min_free_bytes=1001))
    assert cond is not None
    assert cond.reason == STORAGE_FULL


def test_not_applied_yet_is_pending() -> None:
    cond = recording_condition(recorded({"enabled": True}, applied=None), SETTINGS)
    assert cond is not None
    assert (cond.ok, cond.reason) == (False, "Pending")


def test_refused_by_mediamtx_says_why_and_warns_once() -> None:
    why = "add live/cam/in: HTTP 400 {'error': 'invalid configuration'}"
    body = recorded({"enabled": True}, applied=False, message=why)
    cond = recording_condition(body, SETTINGS)
    assert cond is not None
    assert (cond.ok, cond.reason, cond.message) == (False, RECORDING_REFUSED, why)
    first = plan(body, {}, SETTINGS, T0)
    assert [e.reason for e in first.events if e.type is EventType.WARNING] == [RECORDING_REFUSED]
    again = written(body, first)
    assert not [e for e in plan(again, {}, SETTINGS, T0).events if e.type is EventType.WARNING]


def test_a_retention_over_the_chart_cap_says_it_is_capped() -> None:
    spec = {"enabled": True, "retention": "720h"}
    cond = recording_condition(recorded(spec), Settings(recording_max_retention="168h"))
    assert cond is not None
    assert cond.ok
    assert "kept 168h (capped by the chart's recording.maxRetention)" in cond.message


def test_storage_full_is_not_reported_while_recording_is_off() -> None:
    cond = recording_condition(recorded({"enabled": False}, free=0), SETTINGS)
    assert cond is not None
    assert cond.reason == "Off"


# ---------------------------------------------------------------- plan and Events


def test_plan_reports_the_condition() -> None:
    (cond,) = recording_conditions(plan(recorded({"enabled": True}), {}, SETTINGS, T0))
    assert (cond["status"], cond["reason"]) == ("True", "Recording")
    (cond,) = recording_conditions(plan(recorded({"enabled": False}), {}, SETTINGS, T0))
    assert (cond["status"], cond["reason"]) == ("False", "Off")


def test_storage_full_posts_one_warning_across_reconciles() -> None:
    body = recorded({"enabled": True}, free=MIN_FREE // 2)
    first = plan(body, {}, SETTINGS, T0)
    warnings = [e for e in first.events if e.type is EventType.WARNING]
    assert [e.reason for e in warnings] == [STORAGE_FULL]
    assert "bytes free" in warnings[0].message
    (cond,) = recording_conditions(first)
    assert (cond["status"], cond["reason"]) == ("False", STORAGE_FULL)
    # The next reconcile sees the status the first one wrote: no second Event.
    again = written(body, first)
    second = plan(again, {}, SETTINGS, T0 + timedelta(seconds=30))
    assert STORAGE_FULL not in [e.reason for e in second.events]
    (cond2,) = recording_conditions(second)
    assert cond2["reason"] == STORAGE_FULL
    assert cond2["lastTransitionTime"] == cond["lastTransitionTime"]
    # status.recording is the receiver's and the sync's: the plan leaves it to them.
    assert second.status.recording is None
    assert written(again, second).status.recording == body.status.recording
    events = [e.reason for p in (first, second) for e in p.events]
    assert events.count(STORAGE_FULL) == 1


def test_storage_freed_turns_the_condition_back_without_an_event() -> None:
    full = recorded({"enabled": True}, free=0)
    first = plan(full, {}, SETTINGS, T0)
    freed_status = written(full, first).status.model_copy(
        update={"recording": RecordingStatus(free_bytes=MIN_FREE * 10, applied=True)}
    )
    freed = full.model_copy(update={"status": freed_status})
    second = plan(freed, {}, SETTINGS, T0 + timedelta(seconds=30))
    assert STORAGE_FULL not in [e.reason for e in second.events]
    (cond,) = recording_conditions(second)
    assert (cond["status"], cond["reason"]) == ("True", "Recording")
