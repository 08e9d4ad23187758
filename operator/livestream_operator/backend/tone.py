"""The tone backend (`backend --kind tone`): every fragment is answered with a
sine, the same on all channels. The phase comes from the fragment's position in
the session (samples answered so far), so the tone runs on unbroken across
fragments and two runs over the same fragment sizes answer the same samples."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..api.backend_protocol import Hello
from .processor import Pcm

DEFAULT_HZ = 440.0
AMPLITUDE = 0.5  # of full scale: -6 dBFS
_FULL_SCALE = 32767


def tone(start: int, count: int, rate: int, hz: float, channels: int) -> Pcm:
    """Samples start..start+count of a sine at `hz` that is at phase 0 on sample 0."""
    # The phase at `start`, in cycles, reduced exactly (Fraction of a float is
    # exact): after hours of samples a float product would lose the low bits.
    offset = float((start * Fraction(hz)) % rate) / rate
    cycles = offset + np.arange(count, dtype=np.float64) * (hz / rate)
    wave = np.rint(AMPLITUDE * _FULL_SCALE * np.sin(2 * np.pi * cycles)).astype(np.int16)
    return np.repeat(wave[:, None], channels, axis=1)


class ToneSession:
    def __init__(self, rate: int, channels: int, hz: float) -> None:
        self.rate, self.channels, self.hz = rate, channels, hz
        self.position = 0  # samples answered so far

    def take(self, count: int) -> Pcm:
        """The tone's next `count` samples."""
        out = tone(self.position, count, self.rate, self.hz, self.channels)
        self.position += count
        return out

    async def process(self, pcm: Pcm) -> Pcm:
        return self.take(pcm.shape[0])

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class ToneProcessor:
    hz: float = DEFAULT_HZ
    name: str = "tone"

    def open(self, hello: Hello) -> ToneSession:
        if not 0 < self.hz < hello.sample_rate / 2:
            raise ValueError(
                f"sampleRate {hello.sample_rate} cannot carry the backend's {self.hz:g} Hz tone "
                f"(it must be below half the rate)"
            )
        return ToneSession(hello.sample_rate, hello.channels, self.hz)
