"""One destination's retry state machine: retries with a capped backoff, Exhausted
after maxRetries, a lost input that uses no retry, and retry-now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from livestream_operator.api.v1alpha1 import DestinationState
from livestream_operator.forwarder.retries import INPUT_WAIT, STABLE_AFTER, Ended, Policy, Retries

T0 = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
REFUSED = Ended("rtmp://host/app/****: Connection refused")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [Policy(0, 1, 10).delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert Policy(0, 5, 2).delay(3) == 5  # a cap below the backoff is the backoff


def test_retries_grow_then_exhausted_after_max_retries() -> None:
    r = Retries(Policy(max_retries=3, backoff_seconds=1, backoff_cap_seconds=3), T0)
    assert r.report().state is DestinationState.CONNECTING
    now, delays, nexts = 0.0, [], []
    for _ in range(3):
        r.attempt_started(at(now))
        delay = r.attempt_ended(REFUSED, at(now))
        assert delay is not None
        report = r.report()
        assert report.state is DestinationState.RETRYING
        assert report.last_error == REFUSED.error
        delays.append(delay)
        nexts.append(report.next_retry_time)
        now += delay
    assert delays == [1, 2, 3]
    assert nexts == ["2026-12-07T12:00:01Z", "2026-12-07T12:00:03Z", "2026-12-07T12:00:06Z"]
    r.attempt_started(at(now))
    assert r.report().last_retry_time == "2026-12-07T12:00:06Z"
    assert r.report().next_retry_time is None  # the retry runs
    assert r.attempt_ended(REFUSED, at(now)) is None
    report = r.report()
    assert (report.state, report.retries, report.next_retry_time) == (
        DestinationState.EXHAUSTED,
        3,
        None,
    )
    assert report.since == "2026-12-07T12:00:06Z"


def test_zero_retries_forever() -> None:
    r = Retries(Policy(max_retries=0, backoff_seconds=1, backoff_cap_seconds=2), T0)
    for n in range(50):
        assert r.attempt_ended(REFUSED, at(n)) is not None
    assert (r.state, r.retries) == (DestinationState.RETRYING, 50)


def test_retry_now_starts_over_with_every_retry() -> None:
    r = Retries(Policy(max_retries=1), T0)
    r.attempt_ended(REFUSED, at(0))
    assert r.attempt_ended(REFUSED, at(1)) is None
    assert r.retry_now(at(5))
    assert (r.state, r.retries, r.since) == (DestinationState.CONNECTING, 0, at(5))
    assert not r.retry_now(at(6))  # on its first attempt already: nothing to do
    assert r.attempt_ended(REFUSED, at(7)) == 1.0  # a whole budget again
    r.delivering(at(8))
    assert not r.retry_now(at(9))  # Active: nothing to retry


def test_a_lost_input_uses_no_retry() -> None:
    r = Retries(Policy(max_retries=1), T0)
    lost = Ended("rtsp://mediamtx:8554/live/a/out: 404 Not Found", input_lost=True)
    for n in range(10):
        assert r.attempt_ended(lost, at(n)) == INPUT_WAIT
    assert (r.state, r.retries) == (DestinationState.CONNECTING, 0)


def test_a_long_healthy_run_starts_the_count_over_a_short_one_does_not() -> None:
    r = Retries(Policy(max_retries=2), T0)
    r.attempt_ended(REFUSED, at(0))
    r.delivering(at(1))
    assert r.report().state is DestinationState.ACTIVE
    short = Ended("broken pipe", delivered_for=1.0)
    r.attempt_ended(short, at(2))
    assert r.retries == 2
    r.delivering(at(3))
    long = Ended("broken pipe", delivered_for=STABLE_AFTER)
    r.attempt_ended(long, at(20))
    assert (r.state, r.retries) == (DestinationState.RETRYING, 1)
