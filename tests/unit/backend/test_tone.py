"""The tone backend: a 440 Hz sine at -6 dBFS on every channel, continuous across
fragments of any size, the same on every run."""

from __future__ import annotations

import numpy as np
import pytest

from livestream_operator.api.backend_protocol import Hello
from livestream_operator.backend.tone import AMPLITUDE, ToneProcessor, ToneSession, tone

RATE = 48_000


def hello(**fields: object) -> Hello:
    return Hello.model_validate({"streamId": "cam", "fragmentMs": 500, **fields})


async def run(session: ToneSession, sizes: list[int], channels: int = 2) -> np.ndarray:
    silence = [np.zeros((n, channels), dtype=np.int16) for n in sizes]
    return np.concatenate([await session.process(pcm) for pcm in silence])


async def test_the_spectrum_peaks_at_the_tone() -> None:
    session = ToneProcessor().open(hello())
    out = await run(session, [RATE // 2] * 2)  # 1 s: 1 Hz bins
    spectrum = np.abs(np.fft.rfft(out[:, 0].astype(np.float64)))
    assert int(np.argmax(spectrum)) == 440
    # Nearly all the energy in that bin: a clean sine, not a distorted one.
    assert spectrum[440] ** 2 / np.sum(spectrum**2) > 0.999


async def test_minus_6_dbfs_on_every_channel() -> None:
    out = await run(ToneProcessor().open(hello(channels=6)), [4800], channels=6)
    assert out.shape == (4800, 6)
    assert all(np.array_equal(out[:, 0], out[:, c]) for c in range(6))
    assert abs(int(np.abs(out).max()) - round(AMPLITUDE * 32767)) <= 1
    rms = np.sqrt(np.mean(out[:, 0].astype(np.float64) ** 2)) / 32768
    assert 20 * np.log10(rms * np.sqrt(2)) == pytest.approx(-6.02, abs=0.05)


async def test_phase_is_continuous_across_fragments_of_any_size() -> None:
    sizes = [480, 1, 7, 24_000, 333, 4_410]
    out = await run(ToneProcessor().open(hello()), sizes)
    assert np.array_equal(out, tone(0, sum(sizes), RATE, 440.0, 2))
    # No step anywhere: no two samples further apart than the sine's slope allows.
    slope = 2 * np.pi * 440 / RATE * AMPLITUDE * 32767
    assert np.abs(np.diff(out[:, 0].astype(np.int32))).max() <= slope + 1


async def test_the_same_fragments_give_the_same_tone() -> None:
    first = await run(ToneProcessor(hz=1000.0).open(hello()), [960] * 5)
    second = await run(ToneProcessor(hz=1000.0).open(hello()), [960] * 5)
    assert np.array_equal(first, second)
    spectrum = np.abs(np.fft.rfft(first[:, 1].astype(np.float64)))
    assert np.argmax(spectrum) * RATE / len(first) == pytest.approx(1000.0, abs=10)


def test_the_phase_stays_exact_after_days_of_samples() -> None:
    week = RATE * 86_400 * 7  # a whole number of seconds: 440 Hz is back at phase 0
    assert np.array_equal(tone(week, 1000, RATE, 440.0, 1), tone(0, 1000, RATE, 440.0, 1))
    assert np.array_equal(tone(week + 37, 10, RATE, 440.0, 1), tone(37, 10, RATE, 440.0, 1))


async def test_an_empty_fragment_gets_an_empty_answer() -> None:
    out = await run(ToneProcessor().open(hello(channels=1)), [0], channels=1)
    assert out.shape == (0, 1)


def test_a_rate_that_cannot_carry_the_tone_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="sampleRate 8000"):
        ToneProcessor(hz=5000.0).open(hello(sampleRate=8000))
