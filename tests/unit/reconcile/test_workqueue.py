from __future__ import annotations

import asyncio

from livestream_operator.reconcile.workqueue import WorkQueue


async def test_dedup_and_dirty_requeue() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("a")
    assert len(q) == 1
    key = await q.get()
    q.add("a")  # changed while being handled
    assert len(q) == 0
    q.done(key)
    assert len(q) == 1


async def test_add_after_keeps_the_earliest_wakeup() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0.05)
    q.add_after("a", 10)
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_rate_limit_backs_off_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.04)
    assert [q.add_rate_limited("a") for _ in range(4)] == [0.01, 0.02, 0.04, 0.04]
    q.forget("a")
    assert q.add_rate_limited("a") == 0.01
    q.shutdown()
