"""The shared exponential backoff, and that every retry loop keeps its own schedule."""

from __future__ import annotations

import ast
import inspect
import random
import time

import pytest

from livestream_operator import backoff
from livestream_operator.backend.gemini import Backoff
from livestream_operator.backoff import exponential
from livestream_operator.forwarder.retries import Policy
from livestream_operator.ingest import mtx_hook
from livestream_operator.reconcile.workqueue import WorkQueue
from livestream_operator.worker import pipeline


def test_the_module_imports_nothing() -> None:
    """The MediaMTX image runs it beside the hook wrapper, without the package."""
    tree = ast.parse(inspect.getsource(backoff))
    assert [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)] == []


def test_doubles_from_base_up_to_the_cap() -> None:
    assert [exponential(n, base=0.5, cap=5.0) for n in range(7)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        5.0,
        5.0,
        5.0,
    ]
    assert [exponential(n, base=1.0, cap=100.0, factor=3.0) for n in range(6)] == [
        1.0,
        3.0,
        9.0,
        27.0,
        81.0,
        100.0,
    ]


def test_a_long_run_of_failures_stays_at_the_cap() -> None:
    # 2.0 ** 2000 is past a float's range: still the cap, not an OverflowError.
    assert exponential(2000, base=0.1, cap=30.0) == 30.0
    assert exponential(10**9, base=0.1, cap=30.0) == 30.0
    assert exponential(2000, base=0.0, cap=30.0) == 0.0


def test_jitter_takes_up_to_its_share_off_the_delay() -> None:
    assert exponential(3, base=1.0, cap=60.0, jitter=0.5, draw=0.0) == 4.0
    assert exponential(3, base=1.0, cap=60.0, jitter=0.5, draw=0.5) == 6.0
    assert exponential(3, base=1.0, cap=60.0, jitter=0.25, draw=0.999) < 8.0
    assert exponential(3, base=1.0, cap=60.0, jitter=1.0, draw=0.0) == 0.0


def test_jitter_draws_as_random_uniform_did() -> None:
    """The Gemini adapter's delays, before the shared helper:
    min(maximum, initial * 2 ** attempt) * random.uniform(0.5, 1.0)."""
    before, after = random.Random(7), random.Random(7)
    for n in range(40):
        old = min(30.0, 0.5 * 2.0**n) * before.uniform(0.5, 1.0)
        new = exponential(n, base=0.5, cap=30.0, jitter=0.5, draw=after.random())
        assert new == old


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"attempt": -1}, "attempt"),
        ({"base": -0.1}, "base"),
        ({"base": 2.0, "cap": 1.0}, "cap"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": 1.5, "draw": 0.1}, "jitter"),
        ({"jitter": 0.5}, "draw"),
        ({"jitter": 0.5, "draw": 1.0}, "draw"),
    ],
)
def test_figures_out_of_range_are_refused_by_name(kwargs: dict[str, float], field: str) -> None:
    args: dict[str, float] = {"attempt": 1, "base": 0.5, "cap": 5.0, **kwargs}
    attempt = int(args.pop("attempt"))
    with pytest.raises(ValueError, match=field):
        exponential(attempt, **args)


def test_each_retry_loop_keeps_its_schedule() -> None:
    assert [pipeline.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert [Policy(0, 1, 30).delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    gemini = Backoff()
    for n, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]):
        assert ceiling / 2 <= gemini.delay(n) <= ceiling


def test_the_hook_wrapper_sleeps_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with pytest.raises(mtx_hook.HookError, match="after 6 attempt"):
        # Port 1 on loopback refuses at once: every attempt fails.
        mtx_hook.deliver(
            "http://127.0.0.1:1/v1/mediamtx/events/ready",
            b"{}",
            timeout=1.0,
            attempts=6,
            request_id="r",
            bearer="t",
        )
    assert slept == [0.2, 0.4, 0.8, 1.6, 2.0]


async def test_the_work_queue_requeues_as_before() -> None:
    q: WorkQueue[str] = WorkQueue()
    assert [q.add_rate_limited("a") for _ in range(11)] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.6,
        3.2,
        6.4,
        12.8,
        25.6,
        30.0,
        30.0,
    ]
    q.shutdown()
