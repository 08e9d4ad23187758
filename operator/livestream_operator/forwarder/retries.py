"""One destination's retry state (pure): what each ffmpeg attempt's end means,
how long to wait before the next, when to give up, and what retry-now does.

The supervisor feeds it events with the time; it answers with delays and keeps
the DestinationReport the operator reads. Only the destination's own failures
count: an attempt that ended because live/<id>/out was not there (the publisher
is gone, the worker restarts) waits for the input without using a retry, so a
long reconnect of the publisher never exhausts a destination.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..api.pod_contract import MAX_ERROR_LENGTH, DestinationReport
from ..api.v1alpha1 import DestinationState, format_time
from ..backoff import exponential

# An attempt that delivered this long was healthy: its failure starts the count over.
STABLE_AFTER = 10.0
# Waiting for the input to come back is not a retry: a short fixed wait.
INPUT_WAIT = 1.0


@dataclass(frozen=True)
class Policy:
    max_retries: int = 0  # 0: forever
    backoff_seconds: float = 1.0
    backoff_cap_seconds: float = 30.0

    def delay(self, retry: int) -> float:
        """The wait before retry number `retry` (1-based): base, 2 base, ... cap."""
        cap = max(self.backoff_cap_seconds, self.backoff_seconds)
        return exponential(retry - 1, base=self.backoff_seconds, cap=cap)


@dataclass(frozen=True)
class Ended:
    """How one ffmpeg attempt ended."""

    error: str  # redacted
    delivered_for: float = 0.0  # seconds it delivered bytes (0: never did)
    input_lost: bool = False  # its error was about live/<id>/out, not the destination


class Retries:
    def __init__(self, policy: Policy, now: datetime) -> None:
        self.policy = policy
        self.state = DestinationState.CONNECTING
        self.since = now
        self.retries = 0
        self.last_error: str | None = None
        self.last_retry_time: datetime | None = None
        self.next_retry_time: datetime | None = None

    def _enter(self, state: DestinationState, now: datetime) -> None:
        if state is not self.state:
            self.state, self.since = state, now

    def attempt_started(self, now: datetime) -> None:
        """An ffmpeg starts: a retry if one was due."""
        if self.next_retry_time is not None:
            self.last_retry_time, self.next_retry_time = now, None

    def delivering(self, now: datetime) -> None:
        self._enter(DestinationState.ACTIVE, now)
        self.next_retry_time = None

    def attempt_ended(self, ended: Ended, now: datetime) -> float | None:
        """Seconds to wait before the next attempt; None: Exhausted, wait for retry-now."""
        self.last_error = ended.error[:MAX_ERROR_LENGTH] or None
        if ended.delivered_for >= STABLE_AFTER or (ended.input_lost and ended.delivered_for):
            self.retries = 0  # it worked for a while: the count starts over
        if ended.input_lost:
            # Not the destination's fault: connect again once the input is back.
            if self.retries == 0:
                self._enter(DestinationState.CONNECTING, now)
            self.next_retry_time = None
            return INPUT_WAIT
        if self.policy.max_retries and self.retries >= self.policy.max_retries:
            self._enter(DestinationState.EXHAUSTED, now)
            self.next_retry_time = None
            return None
        self.retries += 1
        delay = self.policy.delay(self.retries)
        self._enter(DestinationState.RETRYING, now)
        self.next_retry_time = now + timedelta(seconds=delay)
        return delay

    def retry_now(self, now: datetime) -> bool:
        """Start over at once, with every retry again (the retry-now annotation).
        False when there is nothing to retry: the destination is Active or on its
        first attempt."""
        if self.state in (DestinationState.ACTIVE, DestinationState.CONNECTING):
            return False
        self.retries = 0
        self.next_retry_time = None
        self._enter(DestinationState.CONNECTING, now)
        return True

    def report(self) -> DestinationReport:
        return DestinationReport(
            state=self.state,
            retries=self.retries,
            max_retries=self.policy.max_retries,
            last_error=self.last_error,
            last_retry_time=_time(self.last_retry_time),
            next_retry_time=_time(self.next_retry_time),
            since=format_time(self.since),
        )


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None
