"""Primary/backup ingest: failover after failoverAfterSeconds, failback after
failbackHoldSeconds, the manual override, and what the phase sees."""

from __future__ import annotations

from datetime import timedelta

import pytest

from livestream_operator.api.v1alpha1 import (
    FailoverStatus,
    IngestSpec,
    IngestStatus,
    InputChoice,
    InputRole,
    LiveStream,
    LiveStreamStatus,
    Phase,
    SwitchReason,
)
from livestream_operator.kube_events import EventType
from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile.failover import publishing, select_input
from livestream_operator.reconcile.plan import plan

from .test_plan import LIVE_IN, SETTINGS, T0, children, ls, running, t, written

SPEC = IngestSpec()  # failover after 3 s, failback after 30 s


def up(since: float) -> IngestStatus:
    return IngestStatus(available=True, source_id="s", available_since=t(since))


def down(since: float) -> IngestStatus:
    return IngestStatus(available=False, unavailable_since=t(since))


def on(role: InputRole, reason: SwitchReason | None = None) -> FailoverStatus:
    return FailoverStatus(active=role, reason=reason, last_switch_time=t(0) if reason else None)


def test_the_primary_is_read_while_it_is_live_whatever_the_backup_does() -> None:
    for backup in (up(0), down(0), None):
        chosen = select_input(SPEC, up(0), backup, None, T0 + timedelta(seconds=60))
        assert chosen.failover == FailoverStatus(active=InputRole.PRIMARY)
        assert chosen.wake_after is None


def test_failover_waits_failover_after_seconds_then_switches_once() -> None:
    primary, backup = down(10), up(0)
    early = select_input(SPEC, primary, backup, None, T0 + timedelta(seconds=11))
    assert early.failover.active is InputRole.PRIMARY
    assert early.wake_after == pytest.approx(2.0)
    due = select_input(SPEC, primary, backup, None, T0 + timedelta(seconds=13))
    assert due.failover.active is InputRole.BACKUP
    assert due.failover.reason is SwitchReason.PRIMARY_OFFLINE
    assert due.failover.last_switch_time == t(13)
    # Looked at again later: the same status, so no write and no second Event.
    again = select_input(SPEC, primary, backup, due.failover, T0 + timedelta(seconds=20))
    assert again.failover == due.failover


def test_no_failover_without_a_live_backup() -> None:
    chosen = select_input(SPEC, down(0), down(0), None, T0 + timedelta(seconds=60))
    assert chosen.failover.active is InputRole.PRIMARY
    assert chosen.wake_after is None


def test_a_primary_that_never_published_counts_as_offline_since_the_backup_went_live() -> None:
    chosen = select_input(SPEC, None, up(0), None, T0 + timedelta(seconds=1))
    assert chosen.failover.active is InputRole.PRIMARY
    assert chosen.wake_after == pytest.approx(2.0)
    later = select_input(SPEC, None, up(0), None, T0 + timedelta(seconds=3))
    assert later.failover.active is InputRole.BACKUP


def test_failback_once_the_primary_has_been_live_for_failback_hold_seconds() -> None:
    current = on(InputRole.BACKUP, SwitchReason.PRIMARY_OFFLINE)
    held = select_input(SPEC, up(100), up(0), current, T0 + timedelta(seconds=110))
    assert held.failover == current
    assert held.wake_after == pytest.approx(20.0)
    back = select_input(SPEC, up(100), up(0), current, T0 + timedelta(seconds=130))
    assert back.failover.active is InputRole.PRIMARY
    assert back.failover.reason is SwitchReason.PRIMARY_RECOVERED


def test_a_flapping_primary_restarts_the_hold() -> None:
    current = on(InputRole.BACKUP, SwitchReason.PRIMARY_OFFLINE)
    # Live again at 100, gone at 120, live again at 125: the hold counts from 125.
    chosen = select_input(SPEC, up(125), up(0), current, T0 + timedelta(seconds=140))
    assert chosen.failover.active is InputRole.BACKUP
    assert chosen.wake_after == pytest.approx(15.0)


def test_the_backup_going_away_returns_to_a_live_primary_at_once() -> None:
    current = on(InputRole.BACKUP, SwitchReason.PRIMARY_OFFLINE)
    chosen = select_input(SPEC, up(100), down(101), current, T0 + timedelta(seconds=102))
    assert chosen.failover.active is InputRole.PRIMARY
    assert chosen.failover.reason is SwitchReason.BACKUP_OFFLINE
    # Both gone: stay where the worker is (the grace period decides the rest).
    stays = select_input(SPEC, down(100), down(101), current, T0 + timedelta(seconds=102))
    assert stays.failover == current


@pytest.mark.parametrize(
    ("choice", "role"),
    [(InputChoice.BACKUP, InputRole.BACKUP), (InputChoice.PRIMARY, InputRole.PRIMARY)],
)
def test_the_override_holds_whatever_the_inputs_do(choice: InputChoice, role: InputRole) -> None:
    spec = IngestSpec(input=choice)
    current = on(InputRole.BACKUP if role is InputRole.PRIMARY else InputRole.PRIMARY)
    for primary, backup in ((up(0), up(0)), (down(0), down(0)), (up(0), down(0))):
        chosen = select_input(spec, primary, backup, current, T0 + timedelta(seconds=60))
        assert chosen.failover.active is role
        assert chosen.failover.reason is SwitchReason.OVERRIDE


def test_the_stream_is_live_while_either_input_is() -> None:
    assert publishing(LiveStreamStatus(ingest=down(0), backup=up(0))).available
    assert publishing(LiveStreamStatus(ingest=up(0), backup=down(0))).available
    gone = publishing(LiveStreamStatus(ingest=down(10), backup=down(20)))
    # The grace period runs from when the last of them went away.
    assert (gone.available, gone.unavailable_since) == (False, t(20))


def streaming(primary: IngestStatus, backup: IngestStatus) -> LiveStream:
    body = ls(output={"available": True})
    status = body.status.model_copy(update={"ingest": primary, "backup": backup})
    return body.model_copy(update={"status": status})


def test_plan_fails_over_with_one_event_and_keeps_the_stream_live() -> None:
    body = streaming(down(10), up(0))
    pods = children(running(manifests.worker_pod(body, SETTINGS)))
    first = plan(body, pods, SETTINGS, T0 + timedelta(seconds=11))
    assert first.status.failover is not None
    assert first.status.failover.active is InputRole.PRIMARY
    assert first.requeue_after == pytest.approx(2.0)
    assert first.status.phase is Phase.LIVE  # the backup publishes: no grace period
    assert first.status.grace_deadline is None
    due = plan(written(body, first), pods, SETTINGS, T0 + timedelta(seconds=13))
    assert due.status.failover is not None
    assert due.status.failover.active is InputRole.BACKUP
    switched = [e for e in due.events if e.reason == "InputSwitched"]
    assert len(switched) == 1
    assert switched[0].type is EventType.NORMAL
    assert "backup" in switched[0].message
    later = plan(written(written(body, first), due), pods, SETTINGS, T0 + timedelta(seconds=20))
    assert "InputSwitched" not in [e.reason for e in later.events]


def test_a_stream_without_a_backup_shows_no_input_status() -> None:
    body = ls(ingest=LIVE_IN)
    pods = children(running(manifests.worker_pod(body, SETTINGS)))
    assert plan(body, pods, SETTINGS, T0).status.failover is None


def test_the_worker_reads_the_chosen_input_and_is_replaced_on_a_switch() -> None:
    body = streaming(down(10), up(0))
    primary_worker = manifests.worker_pod(body, SETTINGS)
    assert "/live/cam/in" in str(primary_worker["spec"]["containers"][0]["env"])
    due = plan(body, children(running(primary_worker)), SETTINGS, T0 + timedelta(seconds=13))
    # Decided and acted on in the same reconcile: the old worker goes at once.
    assert [d.reason for d in due.delete] == ["SpecChanged"]
    # Once it is gone (a watch event), its successor reads the backup.
    after = written(body, due)
    successor = plan(after, {}, SETTINGS, T0 + timedelta(seconds=14))
    env = {e["name"]: e.get("value") for e in successor.create[0]["spec"]["containers"][0]["env"]}
    assert env["LSO_INPUT_URL"].endswith("/live/cam/backup")
    again = plan(
        after, children(running(successor.create[0])), SETTINGS, T0 + timedelta(seconds=15)
    )
    assert (again.create, again.delete) == ([], [])
