from __future__ import annotations

from livestream_operator.ingest.mediamtx_api import BreakerState, CircuitBreaker, PathInfo


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state(b: CircuitBreaker) -> BreakerState:
    # A function call, so that mypy does not keep the property narrowed across calls.
    return b.state


def test_breaker_opens_after_5_failures_in_10s_and_half_opens_after_30s() -> None:
    clock = Clock()
    b = CircuitBreaker(clock=clock)
    for _ in range(4):
        b.record_failure()
        clock.now += 2
    assert state(b) is BreakerState.CLOSED
    assert b.allow()
    b.record_failure()
    assert state(b) is BreakerState.OPEN
    assert not b.allow()
    clock.now += 30
    assert b.allow()  # the single trial call
    assert not b.allow()
    b.record_failure()
    assert state(b) is BreakerState.OPEN
    clock.now += 30
    assert b.allow()
    b.record_success()
    assert state(b) is BreakerState.CLOSED


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    b = CircuitBreaker(clock=clock)
    for _ in range(10):
        b.record_failure()
        clock.now += 3
    assert state(b) is BreakerState.CLOSED


def test_path_info_reads_1_20_and_older_fields() -> None:
    new = PathInfo.from_api(
        {"name": "live/a/in", "available": True, "source": {"type": "rtmpConn", "id": "x"}}
    )
    old = PathInfo.from_api({"name": "live/a/in", "ready": True, "source": None})
    assert new == PathInfo("live/a/in", True, "rtmpConn", "x")
    assert old.available
