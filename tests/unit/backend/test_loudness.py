"""The loudness backend's DSP against known values: BS.1770-4's K-weighting
coefficients, EBU Tech 3341's synthetic test signals, then the normaliser end
to end (convergence to the target, no clipping, no steps in the gain)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from livestream_operator.api.backend_protocol import Hello
from livestream_operator.backend.loudness import (
    ATTACK_S,
    CEILING,
    MAX_GAIN_DB,
    RELEASE_S,
    Biquad,
    FilterState,
    LoudnessProcessor,
    LoudnessSession,
    channel_weights,
    gain_ramp,
    gated_loudness,
    iir,
    integrated_loudness,
    k_weighting,
    limit,
    smooth_gain_db,
    to_pcm,
)

RATE = 48_000
FRAGMENT = RATE // 2  # 500 ms
Signal = np.ndarray


def sine(dbfs: float, seconds: float, rate: int = RATE, hz: float = 1000.0) -> Signal:
    """A sine whose peak is at `dbfs` (full scale 1)."""
    t = np.arange(round(seconds * rate)) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)


def stereo(*parts: Signal) -> Signal:
    mono = np.concatenate(parts)
    return np.stack([mono, mono])


def at_loudness(x: Signal, lufs: float, rate: int = RATE) -> Signal:
    measured = integrated_loudness(x, rate)
    assert measured is not None
    return x * 10 ** ((lufs - measured) / 20)


def reference_biquad(q: Biquad, x: Signal) -> Signal:
    """The difference equation, one sample at a time."""
    y = np.zeros_like(x)
    x1 = x2 = y1 = y2 = 0.0
    for n, v in enumerate(x):
        out = q.b0 * v + q.b1 * x1 + q.b2 * x2 - q.a1 * y1 - q.a2 * y2
        x2, x1, y2, y1 = x1, v, y1, out
        y[n] = out
    return y


def normalise(x: Signal, target: float = -16.0, fragment: int = FRAGMENT) -> Signal:
    """x (channels, samples, +-1) through a session, fragment by fragment; int16 out."""
    pcm = to_pcm(x)
    session = LoudnessSession(RATE, x.shape[0], target)
    return np.concatenate(
        [session.step(pcm[i : i + fragment]) for i in range(0, len(pcm), fragment)]
    )


def loudness_of_pcm(pcm: np.ndarray) -> float:
    measured = integrated_loudness(pcm.T.astype(np.float64) / 32768, RATE)
    assert measured is not None
    return measured


# -- K-weighting


def test_k_weighting_at_48_khz_is_the_standards() -> None:
    shelf, highpass = k_weighting(48_000)
    # ITU-R BS.1770-4, tables 1 and 2.
    assert (shelf.b0, shelf.b1, shelf.b2) == pytest.approx(
        (1.53512485958697, -2.69169618940638, 1.19839281085285), abs=1e-10
    )
    assert (shelf.a1, shelf.a2) == pytest.approx((-1.69065929318241, 0.73248077421585), abs=1e-10)
    assert (highpass.b0, highpass.b1, highpass.b2) == (1.0, -2.0, 1.0)
    assert (highpass.a1, highpass.a2) == pytest.approx(
        (-1.99004745483398, 0.99007225036621), abs=1e-10
    )


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_the_vectorised_filter_is_the_difference_equation(rate: int) -> None:
    x = np.random.default_rng(7).standard_normal((2, 5_000))
    for q in k_weighting(rate):
        state, parts = FilterState.zero(2), []
        for lo, hi in [(0, 1_000), (1_000, 1_001), (1_001, 1_003), (1_003, 1_003), (1_003, 5_000)]:
            y, state = iir(q.numerator, q.denominator, x[:, lo:hi], state)
            parts.append(y)
        out = np.concatenate(parts, axis=1)
        for channel in range(2):
            expected = reference_biquad(q, x[channel])
            assert np.abs(out[channel] - expected).max() < 1e-8 * np.abs(expected).max()


# -- measurement: BS.1770 and EBU Tech 3341's synthetic cases


def test_a_997_hz_sine_at_minus_20_dbfs_on_one_channel_reads_minus_23() -> None:
    x = sine(-20.0, 10.0, hz=997.0)[None, :]
    assert integrated_loudness(x, RATE) == pytest.approx(-23.0, abs=0.05)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([(-23.0, 20.0)], -23.0),  # case 1
        ([(-33.0, 20.0)], -33.0),  # case 2
        ([(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),  # case 3: relative gate
        ([(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)], -23.0),
        ([(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], -23.0),  # case 5
    ],
    ids=["case1", "case2", "case3", "case4", "case5"],
)
def test_ebu_tech_3341_stereo_sine_cases(parts: list[tuple[float, float]], expected: float) -> None:
    x = stereo(*(sine(dbfs, seconds) for dbfs, seconds in parts))
    assert integrated_loudness(x, RATE) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("rate", [8_000, 32_000, 44_100, 96_000, 192_000])
def test_other_rates_measure_the_same(rate: int) -> None:
    x = stereo(sine(-23.0, 5.0, rate=rate))
    assert integrated_loudness(x, rate) == pytest.approx(-23.0, abs=0.1)


def test_5_1_weighs_the_surrounds_and_ignores_the_lfe() -> None:
    assert list(channel_weights(6)) == [1.0, 1.0, 1.0, 0.0, 1.41, 1.41]
    assert list(channel_weights(2)) == [1.0, 1.0]
    tone = sine(-20.0, 5.0)
    on = {c: np.zeros((6, len(tone))) for c in (0, 3, 4)}
    for channel, x in on.items():
        x[channel] = tone
    front, lfe, surround = (integrated_loudness(on[c], RATE) for c in (0, 3, 4))
    assert front is not None
    assert surround == pytest.approx(front + 10 * np.log10(1.41), abs=0.01)
    assert lfe is None


def test_silence_and_near_silence_have_no_loudness() -> None:
    assert integrated_loudness(np.zeros((2, RATE)), RATE) is None
    assert integrated_loudness(stereo(sine(-75.0, 2.0)), RATE) is None  # under -70 LUFS
    assert gated_loudness(np.array([])) is None


# -- the normaliser


@pytest.mark.parametrize("kind", ["sine", "noise"])
@pytest.mark.parametrize("level", [-30.0, -10.0, -40.0])
@pytest.mark.parametrize("target", [-16.0, -23.0])
def test_steady_input_converges_to_the_target(kind: str, level: float, target: float) -> None:
    if kind == "sine":
        x = stereo(sine(0.0, 15.0))
    else:
        x = np.random.default_rng(1).uniform(-1.0, 1.0, (2, 15 * RATE))
    out = normalise(at_loudness(x, level), target)
    assert loudness_of_pcm(out[6 * RATE :]) == pytest.approx(target, abs=0.5)
    # The whole output, convergence included, is already within 1 LU.
    assert loudness_of_pcm(out) == pytest.approx(target, abs=1.0)


def test_the_gain_is_clamped() -> None:
    out = normalise(at_loudness(stereo(sine(0.0, 10.0)), -55.0), -16.0)
    assert loudness_of_pcm(out[6 * RATE :]) == pytest.approx(-55.0 + MAX_GAIN_DB, abs=0.5)


def test_nothing_clips() -> None:
    # A full-scale square wave pushed towards a loud target, and clicks in a quiet
    # background that the gain lifts by up to 24 dB: the limiter holds both.
    square = np.sign(sine(0.0, 10.0, hz=200.0))
    clicks = stereo(sine(-50.0, 10.0))
    clicks[:, :: RATE // 3] = 0.99
    for x in (stereo(square[0 : 10 * RATE]), clicks):
        out = normalise(x, -5.0)
        assert np.abs(out.astype(np.int32)).max() <= CEILING * 32768 + 1


def test_the_limiter_carries_its_envelope_across_fragments() -> None:
    loud = np.full((1, 100), 2.0)
    quiet = np.full((1, 100), 0.5)
    limited, envelope = limit(loud, 0.0, RATE)
    assert np.abs(limited).max() == pytest.approx(CEILING)
    after, _ = limit(quiet, envelope, RATE)
    assert after[0, 0] < 0.5  # still released from the loud fragment
    fresh, envelope = limit(quiet, 0.0, RATE)
    assert np.array_equal(fresh, quiet)
    assert envelope == 0.0


def test_gain_ramps_join_without_a_step() -> None:
    first, second = gain_ramp(0.0, 6.0, 100), gain_ramp(6.0, -3.0, 50)
    assert first[-1] == pytest.approx(10 ** (6 / 20))
    assert second[-1] == pytest.approx(10 ** (-3 / 20))
    joined = np.concatenate(([1.0], first, second))
    steps = np.abs(np.diff(joined))
    assert steps.max() <= max(abs(10 ** (6 / 20) - 1) / 100, abs(10 ** (-3 / 20) - 2) / 50) + 1e-12


def test_the_applied_gain_has_no_steps_at_fragment_boundaries() -> None:
    # Level changes make the gain move by 10 dB; sample by sample, output over
    # input (where the input is large enough to measure it) moves only a little.
    # (Levels the limiter leaves alone: it is a safety net with instant attack.)
    x = stereo(sine(-20.0, 4.0), sine(-30.0, 8.0), sine(-20.0, 4.0))
    pcm = to_pcm(x)
    out = normalise(x, -16.0, fragment=4_800)
    assert np.abs(out).max() < CEILING * 32768
    mask = np.abs(pcm[:, 0].astype(np.float64)) > 900
    ratio = out[mask, 0] / pcm[mask, 0].astype(np.float64)
    assert ratio.max() / ratio.min() > 3  # the gain did move by more than 10 dB
    assert np.abs(np.diff(ratio)).max() < 0.005


def test_silence_keeps_the_gain() -> None:
    session = LoudnessSession(RATE, 2, -16.0)
    loud = to_pcm(at_loudness(stereo(sine(0.0, 0.5)), -30.0))
    for _ in range(20):
        session.step(loud)
    assert session.gain_db > 10
    silence = np.zeros((FRAGMENT, 2), dtype=np.int16)
    for _ in range(12):  # the window's last audible blocks leave it
        session.step(silence)
    gain = session.gain_db
    for _ in range(20):
        assert not session.step(silence).any()
    assert session.gain_db == gain


def test_attack_is_faster_than_release() -> None:
    assert ATTACK_S < RELEASE_S
    down = smooth_gain_db(0.0, -10.0, 0.5)
    up = smooth_gain_db(0.0, 10.0, 0.5)
    assert -down > up > 0
    assert smooth_gain_db(3.0, 3.0, 0.5) == 3.0


def test_an_empty_fragment_gets_an_empty_answer() -> None:
    session = LoudnessSession(RATE, 2, -16.0)
    assert session.step(np.zeros((0, 2), dtype=np.int16)).shape == (0, 2)


def test_the_target_comes_from_the_hello_or_the_flag() -> None:
    def hello(params: dict[str, str]) -> Hello:
        return Hello(stream_id="cam", fragment_ms=500, params=params)

    assert LoudnessProcessor().open(hello({})).target == -16.0
    assert LoudnessProcessor(target_lufs=-20.0).open(hello({})).target == -20.0
    assert LoudnessProcessor().open(hello({"targetLufs": "-23"})).target == -23.0
    for bad in ["loud", "nan", "inf", "-100", "0", ""]:
        with pytest.raises(ValueError, match=r"params\.targetLufs"):
            LoudnessProcessor().open(hello({"targetLufs": bad}))


def test_a_fragment_costs_little_cpu() -> None:
    session = LoudnessSession(RATE, 2, -16.0)
    noise = np.random.default_rng(3).standard_normal((FRAGMENT, 2)) * 3_000
    pcm = noise.astype(np.int16)
    session.step(pcm)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        session.step(pcm)
        timings.append(time.perf_counter() - started)
    # Typically ~2 ms; the bound only catches a loop over samples (~100x that).
    assert min(timings) < 0.02
