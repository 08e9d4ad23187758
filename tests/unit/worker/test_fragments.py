"""Process mode's pure core: breaker, admission, ordering, mixing, reported state."""

from __future__ import annotations

import numpy as np
import pytest

from livestream_operator.api.pod_contract import FallbackReason
from livestream_operator.api.v1alpha1 import MixMode, ProcessingState
from livestream_operator.worker.fragments import (
    FALLBACK_LEAVE,
    Breaker,
    BreakerState,
    Health,
    Mixer,
    Reorder,
    admit,
    answer_pcm,
    rms_dbfs,
)

RATE = 48_000


def _sine(freq: float, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    mono = (np.sin(2 * np.pi * freq * t) * amp * 32767).astype(np.int16)
    return np.repeat(mono[:, None], 2, axis=1)


def test_breaker_opens_after_consecutive_failures_and_costs_nothing_while_open() -> None:
    b = Breaker(threshold=3, cooldown_s=1.0)
    for now in (0.0, 0.1):
        b.failure(now)
        assert b.allow(now)
    b.failure(0.2)
    assert b.state is BreakerState.OPEN
    assert not b.allow(0.5)
    assert b.retry_in(0.5) == pytest.approx(0.7)


def test_breaker_half_open_lets_one_trial_through_then_closes_on_success() -> None:
    b = Breaker(threshold=1, cooldown_s=1.0)
    b.failure(0.0)
    assert b.allow(1.0)  # the trial
    assert not b.allow(1.0)  # only one
    b.success()
    assert b.state is BreakerState.CLOSED
    assert b.allow(1.1)


def test_breaker_failed_trial_doubles_the_cooldown_up_to_its_cap() -> None:
    b = Breaker(threshold=1, cooldown_s=1.0, max_cooldown_s=3.0)
    b.failure(0.0)
    cooldowns = []
    now = 0.0
    for _ in range(4):
        now = b.until
        assert b.allow(now)
        b.failure(now)
        cooldowns.append(b.until - now)
    assert cooldowns == [2.0, 3.0, 3.0, 3.0]


def test_admit_falls_back_at_once_when_disconnected_or_open() -> None:
    closed = Breaker()
    assert admit(True, closed, 0.0) is None
    assert admit(False, closed, 0.0) is FallbackReason.BACKEND_UNAVAILABLE
    opened = Breaker(threshold=1)
    opened.failure(0.0)
    assert admit(False, opened, 0.1) is FallbackReason.BREAKER_OPEN
    assert admit(True, opened, 0.1) is FallbackReason.BREAKER_OPEN


def test_reorder_releases_in_sequence_and_drops_late_duplicates() -> None:
    r: Reorder[str] = Reorder()
    assert r.decide(1, "b") == []
    assert r.decide(0, "a") == ["a", "b"]
    assert r.decide(0, "late") == []
    r.restart(10)
    assert r.decide(10, "k") == ["k"]


def test_replace_mix_is_the_backend_audio() -> None:
    m = Mixer(MixMode.REPLACE, -12, RATE)
    processed = _sine(440)
    assert np.array_equal(m.mix(_sine(1000), processed), processed)


def test_fallback_is_the_original_audio() -> None:
    m = Mixer(MixMode.REPLACE, -12, RATE)
    original = _sine(1000)
    out = m.mix(original, None)
    # After a replaced fragment the original ramps back in over a few ms.
    assert np.array_equal(out[RATE // 10 :], original[RATE // 10 :])
    assert np.array_equal(m.mix(original, None), original)


def test_duck_lowers_the_original_under_speech_and_not_under_silence() -> None:
    m = Mixer(MixMode.DUCK, -12, RATE)
    original = _sine(1000, amp=0.25)
    silent = np.zeros_like(original)
    assert np.array_equal(m.mix(original, silent), original)
    out = m.mix(original, _sine(440, amp=0.25))
    tail = slice(RATE // 10, None)
    spectrum = np.abs(np.fft.rfft(out[tail, 0].astype(float)))
    freqs = np.fft.rfftfreq(len(out[tail, 0]), 1 / RATE)
    at = {f: spectrum[np.argmin(np.abs(freqs - f))] for f in (440, 1000)}
    assert at[1000] / at[440] == pytest.approx(10 ** (-12 / 20), rel=0.05)


def test_duck_gain_ramps_instead_of_stepping() -> None:
    m = Mixer(MixMode.DUCK, -24, RATE)
    original = np.full((RATE // 2, 2), 10_000, dtype=np.int16)
    out = m.mix(original, np.full_like(original, 100))
    steps = np.abs(np.diff(out[:, 0].astype(int)))
    assert steps.max() < 100  # no click: at most a few LSBs per sample


def test_mix_never_wraps_around() -> None:
    m = Mixer(MixMode.DUCK, 0, RATE)
    loud = np.full((1000, 2), 30_000, dtype=np.int16)
    assert m.mix(loud, loud).max() == 32767


def test_answer_must_have_the_fragments_shape() -> None:
    like = _sine(440, seconds=0.1)
    assert answer_pcm(like.tobytes(), like) is not None
    assert answer_pcm(like.tobytes()[:-4], like) is None
    assert rms_dbfs(np.zeros((10, 2), dtype=np.int16)) == -120.0


def test_health_enters_fallback_on_repeated_fallbacks_and_leaves_after_a_run() -> None:
    h = Health()
    assert h.record(1.0, None)  # Starting -> Processing
    assert not h.record(2.0, FallbackReason.DEADLINE)  # one late fragment: no flip
    assert h.record(3.0, FallbackReason.DEADLINE)
    assert h.state is ProcessingState.FALLBACK
    assert h.reason is FallbackReason.DEADLINE
    assert h.since == 3.0
    for i in range(FALLBACK_LEAVE - 1):
        assert not h.record(4.0 + i, None)
    assert h.record(10.0, None)
    assert h.state.value == "Processing"  # (mypy narrowed h.state above)
    assert (h.fragments, h.fallback_fragments) == (FALLBACK_LEAVE + 3, 2)


def test_health_breaker_open_is_fallback_at_once() -> None:
    h = Health()
    h.record(0.0, None)
    assert h.record(1.0, FallbackReason.BREAKER_OPEN)
    assert h.state is ProcessingState.FALLBACK


def test_breaker_failures_while_open_do_not_extend_the_cooldown() -> None:
    b = Breaker(threshold=1, cooldown_s=1.0)
    b.failure(0.0)
    for now in (0.1, 0.2, 0.3):  # fragments that were in flight when it opened
        b.failure(now)
    assert b.until == 1.0
    assert b.allow(1.0)


def test_breaker_a_connection_is_not_a_success() -> None:
    """A backend that accepts and then drops every connection must still open it."""
    b = Breaker(threshold=3, cooldown_s=1.0)
    for now in (0.0, 0.1, 0.2):
        assert b.allow(now)
        b.connected()
        b.failure(now)  # dropped before any answer
    assert b.state is BreakerState.OPEN
    assert b.allow(1.2)  # the trial connection
    b.connected()
    assert b.allow(1.2)  # then one fragment may try
    assert not b.allow(1.2)
