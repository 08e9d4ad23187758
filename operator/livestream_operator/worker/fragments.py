"""Process mode's decisions, pure: which fragments go to the backend, when the
backend counts as down, what goes out for each fragment, and what the worker
reports. worker/processing.py is the shell that runs them against a socket and
a clock; nothing here does I/O or reads the time.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from ..api.pod_contract import FallbackReason
from ..api.v1alpha1 import MixMode, ProcessingState

Pcm = npt.NDArray[np.int16]  # (samples, channels)
T = TypeVar("T")

# Below this RMS the backend's audio counts as silent: duck mode leaves the
# original at full level, so a backend with nothing to say costs no background.
SILENCE_DBFS = -50.0
# Duck-gain changes are ramped over this long: a step would click.
DUCK_RAMP_S = 0.02


# --- circuit breaker ---------------------------------------------------------


class BreakerState(enum.StrEnum):
    CLOSED = "closed"  # fragments go to the backend
    OPEN = "open"  # the backend failed repeatedly: nothing is sent until `until`
    HALF_OPEN = "half_open"  # one fragment (or connection) tries it again


@dataclass
class Breaker:
    """Consecutive failures open it; after a cooldown one trial may pass; a
    success closes it, a failed trial reopens it with a doubled cooldown.

    While open a dead backend costs nothing per fragment: no send, no timer.
    """

    threshold: int = 3
    cooldown_s: float = 1.0
    max_cooldown_s: float = 30.0
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    until: float = 0.0
    _cooldown: float = field(default=0.0, repr=False)
    _trial_out: bool = field(default=False, repr=False)

    def allow(self, now: float) -> bool:
        """May one more fragment (or a connection attempt) go to the backend now?"""
        if self.state is BreakerState.OPEN and now >= self.until:
            self.state, self._trial_out = BreakerState.HALF_OPEN, False
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and not self._trial_out:
            self._trial_out = True
            return True
        return False

    def success(self) -> None:
        self.state, self.failures, self._cooldown, self._trial_out = (
            BreakerState.CLOSED,
            0,
            0.0,
            False,
        )

    def connected(self) -> None:
        """A trial connection got through: one fragment may now try the backend.

        Not a success: a backend that accepts and then fails (or drops every
        connection before answering) must still open the breaker.
        """
        if self.state is BreakerState.HALF_OPEN:
            self._trial_out = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.state is BreakerState.OPEN:
            return  # fragments still out when it opened: the cooldown runs already
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self._cooldown = (
                self.cooldown_s
                if self._cooldown == 0
                else min(self._cooldown * 2, self.max_cooldown_s)
            )
            self.state, self.until, self._trial_out = BreakerState.OPEN, now + self._cooldown, False

    def retry_in(self, now: float) -> float:
        """Seconds until a trial may pass (0 when it may now)."""
        return max(self.until - now, 0.0) if self.state is BreakerState.OPEN else 0.0


# --- admission -----------------------------------------------------------------


def admit(connected: bool, breaker: Breaker, now: float) -> FallbackReason | None:
    """Offer this fragment to the backend (None), or why its original audio goes
    out at once instead: no connection, or a breaker that is open."""
    if not connected:
        return (
            FallbackReason.BREAKER_OPEN
            if breaker.state is BreakerState.OPEN
            else FallbackReason.BACKEND_UNAVAILABLE
        )
    if not breaker.allow(now):
        return FallbackReason.BREAKER_OPEN
    return None


# --- ordering ----------------------------------------------------------------


@dataclass
class Reorder(Generic[T]):
    """Fragments leave in sequence order, each once it is decided.

    Answers may come in any order, and deadlines fire in sequence order, so a
    fragment waits for its predecessors at most until their deadlines.
    """

    next_seq: int = 0
    _ready: dict[int, T] = field(default_factory=dict)

    def decide(self, seq: int, outcome: T) -> list[T]:
        """Record fragment `seq`'s outcome; return the outcomes now due, in order."""
        if seq < self.next_seq or seq in self._ready:
            return []  # decided already (a late answer after its deadline)
        self._ready[seq] = outcome
        due = []
        while self.next_seq in self._ready:
            due.append(self._ready.pop(self.next_seq))
            self.next_seq += 1
        return due

    def restart(self, next_seq: int) -> None:
        """A new input (the pipeline restarted): forget what the old one left."""
        self._ready.clear()
        self.next_seq = next_seq


# --- mixing ------------------------------------------------------------------


def rms_dbfs(pcm: Pcm) -> float:
    if pcm.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(pcm.astype(np.float64))))) / 32768.0
    return 20.0 * float(np.log10(rms)) if rms > 1e-6 else -120.0


@dataclass
class Mixer:
    """What goes out for one fragment: the backend's audio, the original, or both.

    `last_gain` (the original's gain at the end of the previous fragment) makes
    duck-gain changes ramp instead of step across fragment boundaries.
    """

    mode: MixMode
    duck_db: float
    sample_rate: int
    last_gain: float = 1.0

    def mix(self, original: Pcm, processed: Pcm | None) -> Pcm:
        if processed is None:  # fallback: the original, back at full level
            return self._with_gain(original, None, 1.0)
        if self.mode is MixMode.REPLACE:
            self.last_gain = 0.0
            return processed
        silent = rms_dbfs(processed) < SILENCE_DBFS
        target = 1.0 if silent else 10.0 ** (self.duck_db / 20.0)
        return self._with_gain(original, processed, target)

    def _with_gain(self, original: Pcm, processed: Pcm | None, target: float) -> Pcm:
        start, self.last_gain = self.last_gain, target
        if start == target and processed is None:
            return original
        n = original.shape[0]
        ramp = min(n, max(1, int(self.sample_rate * DUCK_RAMP_S)))
        gain = np.full(n, target, dtype=np.float32)
        gain[:ramp] = np.linspace(start, target, ramp, dtype=np.float32)
        out = original.astype(np.float32) * gain[:, None]
        if processed is not None:
            out += processed.astype(np.float32)
        mixed: Pcm = np.clip(out, -32768, 32767).astype(np.int16)
        return mixed


def answer_pcm(data: bytes, like: Pcm) -> Pcm | None:
    """The backend's answer as samples shaped like the fragment, None if it is not."""
    if len(data) != like.nbytes:
        return None
    return np.frombuffer(data, dtype="<i2").reshape(like.shape).astype(np.int16)


# --- what the worker reports --------------------------------------------------

# Hysteresis, so that one late fragment does not flip the stream's status: this
# many fallbacks in the window enter Fallback, this many processed in a row leave it.
FALLBACK_ENTER = 2
FALLBACK_WINDOW = 4
FALLBACK_LEAVE = 4


@dataclass
class Health:
    """The worker's processing state, from the outcome of each fragment."""

    state: ProcessingState = ProcessingState.STARTING
    since: float = 0.0
    reason: FallbackReason | None = None
    message: str = ""
    fragments: int = 0
    fallback_fragments: int = 0
    _recent: deque[bool] = field(default_factory=lambda: deque(maxlen=FALLBACK_WINDOW))
    _processed_run: int = 0

    def record(self, now: float, fallback: FallbackReason | None, message: str = "") -> bool:
        """Record one decided fragment; True when the state changed."""
        self.fragments += 1
        self._recent.append(fallback is not None)
        if fallback is not None:
            self.fallback_fragments += 1
            self._processed_run = 0
            self.reason, self.message = fallback, message
            entering = (
                sum(self._recent) >= FALLBACK_ENTER or fallback is FallbackReason.BREAKER_OPEN
            )
            if self.state is not ProcessingState.FALLBACK and (
                entering or self.state is ProcessingState.STARTING
            ):
                return self._enter(ProcessingState.FALLBACK, now)
            return False
        self._processed_run += 1
        if self.state is ProcessingState.STARTING or (
            self.state is ProcessingState.FALLBACK and self._processed_run >= FALLBACK_LEAVE
        ):
            self.reason, self.message = None, ""
            return self._enter(ProcessingState.PROCESSING, now)
        return False

    def _enter(self, state: ProcessingState, now: float) -> bool:
        self.state, self.since = state, now
        return True
