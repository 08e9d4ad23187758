"""The one way every tier and bench waits: poll a check until it returns something
truthy, and say what was awaited (and the last error) when time runs out.

wait_for() polls from plain code, wait_for_async() from a coroutine (its check may
be sync or async); both share the same rules and messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class GiveUp(AssertionError):
    """Raised by a check when waiting any longer cannot help (it is not retried)."""


class WaitTimeout(AssertionError, TimeoutError):
    """Time ran out; a failed assertion to pytest, a TimeoutError to code that retries."""


class _Deadline:
    def __init__(self, timeout: float, what: str) -> None:
        self.timeout, self.what = timeout, what
        self.end = time.monotonic() + timeout
        self.last_error: Exception | None = None

    def check(self) -> None:
        if time.monotonic() > self.end:
            detail = f" (last error: {self.last_error})" if self.last_error else ""
            raise WaitTimeout(
                f"timed out after {self.timeout:.0f}s waiting for {self.what}{detail}"
            )


def wait_for(
    check: Callable[[], T | None],
    timeout: float = 20.0,
    what: str = "condition",
    interval: float = 0.25,
) -> T:
    """Poll `check` until it returns something truthy, and return that.

    An exception from `check` counts as "not yet" (and is reported on timeout),
    except GiveUp, which ends the wait at once.
    """
    deadline = _Deadline(timeout, what)
    while True:
        try:
            value = check()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as exc:
            deadline.last_error = exc
        deadline.check()
        time.sleep(interval)


async def wait_for_async(
    check: Callable[[], Any],
    timeout: float = 20.0,
    what: str = "condition",
    interval: float = 0.1,
) -> Any:
    """wait_for() for coroutines: `check` may return a value or an awaitable."""
    deadline = _Deadline(timeout, what)
    while True:
        try:
            value = check()
            if isinstance(value, Awaitable):
                value = await value
            if value:
                return value
        except GiveUp:
            raise
        except Exception as exc:
            deadline.last_error = exc
        deadline.check()
        await asyncio.sleep(interval)
