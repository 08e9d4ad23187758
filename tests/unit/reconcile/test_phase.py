"""Where a stream stands against the clock: connecting, in grace, expired, and
when it is looked at again."""

from __future__ import annotations

from datetime import timedelta

from livestream_operator.reconcile.phase import activity_of

from .test_plan import GONE_IN, LIVE_IN, SETTINGS, T0, ls, t

CONNECT = SETTINGS.connect_timeout_seconds


def test_available_is_active_with_no_deadline_to_wait_for() -> None:
    act = activity_of(ls(ingest=LIVE_IN), SETTINGS, T0)
    assert (act.active, act.available) == (True, True)
    assert act.grace_deadline is None
    assert act.wake_after(T0) is None


def test_gone_waits_for_the_grace_deadline_then_expires() -> None:
    body = ls(ingest=GONE_IN, grace=30)  # unavailable since t(10)
    during = activity_of(body, SETTINGS, T0 + timedelta(seconds=20))
    assert (during.in_grace, during.active, during.expired) == (True, True, False)
    assert during.grace_deadline == T0 + timedelta(seconds=40)
    assert during.wake_after(T0 + timedelta(seconds=20)) == 20.05
    after = activity_of(body, SETTINGS, T0 + timedelta(seconds=40))
    assert (after.active, after.expired, after.idle) == (False, True, True)
    assert after.wake_after(T0 + timedelta(seconds=40)) is None


def test_connecting_wakes_at_its_connect_deadline_before_the_grace_one() -> None:
    body = ls(ingest={"available": False, "sourceId": "s1", "connectingSince": t(0)})
    act = activity_of(body, SETTINGS, T0 + timedelta(seconds=1))
    assert (act.connecting, act.active) == (True, True)
    assert act.wake_after(T0 + timedelta(seconds=1)) == CONNECT - 1 + 0.05


def test_never_published_expires_from_creation_without_being_idle() -> None:
    body = ls(ingest={}, grace=30)
    act = activity_of(body, SETTINGS, T0 + timedelta(seconds=31))
    assert (act.expired, act.idle, act.active) == (True, False, False)
