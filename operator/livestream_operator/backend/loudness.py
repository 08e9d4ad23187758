"""The loudness backend (`backend --kind loudness`): each stream brought to a
target loudness (ITU-R BS.1770-4 / EBU R128), numpy only.

Per fragment (feed-forward: the input's loudness is measured, never the output's,
so there is no loop to oscillate):

1. Measure. K-weighting (BS.1770's two biquads, derived for any rate by the
   bilinear transform, which gives the standard's 48 kHz coefficients), mean
   squares of 100 ms sub-blocks, 400 ms blocks every 100 ms (75 % overlap),
   channel weights. The loudness is gated (absolute -70 LUFS, relative -10 LU)
   over the blocks of the last WINDOW_S, a sliding version of the integrated
   loudness. 5 s spans several phrases of speech (the relative gate drops the
   pauses between them), so one loud word barely moves it, steadier than EBU's
   3 s short-term; and a new programme segment takes over within seconds.
2. Gain. target - loudness, clamped to +-MAX_GAIN_DB, smoothed: a time constant
   of ATTACK_S when the gain must fall (a louder input is not let through for
   long) and RELEASE_S when it may rise (it does not pump up in a pause).
   While no block of the window is above the absolute gate (silence), the gain
   stays as it is.
3. Apply. A per-sample linear ramp from the last fragment's gain to the new one
   (no step, hence no click, at fragment boundaries), then a peak limiter with
   instant attack and a short release that keeps every sample under CEILING.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..api.backend_protocol import Hello
from .processor import Pcm, float_param

Signal = npt.NDArray[np.float64]

DEFAULT_TARGET_LUFS = -16.0
TARGET_RANGE = (-60.0, -5.0)
TARGET_PARAM = "targetLufs"

BLOCK_S = 0.4  # BS.1770 gating block
HOP_S = 0.1  # 75 % overlap: one block per 100 ms sub-block
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
_OFFSET = -0.691  # BS.1770: makes a 997 Hz full-scale sine read -3.01 LKFS
_SUB_BLOCKS = round(BLOCK_S / HOP_S)

WINDOW_S = 5.0
MAX_GAIN_DB = 24.0
ATTACK_S = 0.5
RELEASE_S = 1.5
CEILING = 10 ** (-1.0 / 20)  # -1 dBFS: headroom for the encoder's overshoot
LIMITER_RELEASE_S = 0.05
_FULL_SCALE = 32768.0


@dataclass(frozen=True)
class Biquad:
    """y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]."""

    b0: float
    b1: float
    b2: float
    a1: float
    a2: float

    @property
    def numerator(self) -> Signal:
        return np.array([self.b0, self.b1, self.b2])

    @property
    def denominator(self) -> Signal:
        return np.array([1.0, self.a1, self.a2])


# The analog prototypes behind BS.1770's 48 kHz coefficients (the values that
# reproduce them through the bilinear transform with a pre-warped frequency).
_SHELF_HZ, _SHELF_DB, _SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
_SHELF_VB_EXP = 0.4996667741545416  # the band gain relative to the high gain, as an exponent
_HIGHPASS_HZ, _HIGHPASS_Q = 38.13547087602444, 0.5003270373238773


def k_weighting(rate: int) -> tuple[Biquad, Biquad]:
    """BS.1770's pre-filter (a high shelf, +4 dB above ~1.7 kHz: the head) and
    RLB filter (a high pass at ~38 Hz) for `rate`."""
    k = math.tan(math.pi * _SHELF_HZ / rate)
    vh = 10 ** (_SHELF_DB / 20)
    vb = vh**_SHELF_VB_EXP
    a0 = 1 + k / _SHELF_Q + k * k
    shelf = Biquad(
        b0=(vh + vb * k / _SHELF_Q + k * k) / a0,
        b1=2 * (k * k - vh) / a0,
        b2=(vh - vb * k / _SHELF_Q + k * k) / a0,
        a1=2 * (k * k - 1) / a0,
        a2=(1 - k / _SHELF_Q + k * k) / a0,
    )
    k = math.tan(math.pi * _HIGHPASS_HZ / rate)
    a0 = 1 + k / _HIGHPASS_Q + k * k
    # The standard's numerator is 1, -2, 1, not normalised by a0 (0.04 dB more
    # gain at 48 kHz); kept, as its -0.691 dB offset was calibrated with it.
    highpass = Biquad(1.0, -2.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / _HIGHPASS_Q + k * k) / a0)
    return shelf, highpass


# The recursion runs in blocks ("runs") of _RUN samples, all at once: within a
# run the output is the input times a triangular matrix of the impulse
# response (one BLAS call for the whole fragment) plus the response to the
# outputs the run before ended with; those carry-overs are a short linear
# recurrence across runs, solved by doubling. Exact (to rounding), unlike an FFT
# filter, and no Python loop over samples.
_RUN = 64


@dataclass(frozen=True)
class _RunTables:
    m: Signal  # (RUN, RUN): zero-state output = input @ m
    g: Signal  # (order, RUN): response to y[-1 - j] = 1, no input
    p: tuple[Signal, ...]  # transition of the carried outputs over 1, 2, 4... runs


@functools.lru_cache(maxsize=16)
def _run_tables(a: tuple[float, ...]) -> _RunTables:
    order = len(a) - 1

    def respond(x: list[float], y_past: list[float]) -> list[float]:
        """Direct recursion (once per filter, to build the tables)."""
        out = list(reversed(y_past))  # oldest first
        for n in range(_RUN):
            out.append(x[n] - sum(a[i] * out[-i] for i in range(1, order + 1)))
        return out[order:]

    h = np.array(respond([1.0] + [0.0] * (_RUN - 1), [0.0] * order))
    i, j = np.indices((_RUN, _RUN))
    m = np.where(j >= i, h[np.clip(j - i, 0, _RUN - 1)], 0.0)  # m[i, j] = h[j - i]
    zero = [0.0] * _RUN
    g = np.array([respond(zero, [float(k == j) for k in range(order)]) for j in range(order)])
    # Carried state s = (y[-1], ..., y[-order]); after a run s'[i] = y[RUN-1-i].
    step = g[:, ::-1][:, :order].T.copy()
    powers = [step]
    while len(powers) < 32:
        powers.append(powers[-1] @ powers[-1])
    return _RunTables(m, g, tuple(powers))


@dataclass(frozen=True)
class FilterState:
    """The last `order` inputs and outputs per channel, oldest first."""

    x: Signal  # (channels, order)
    y: Signal  # (channels, order)

    @classmethod
    def zero(cls, channels: int, order: int = 2) -> FilterState:
        return cls(np.zeros((channels, order)), np.zeros((channels, order)))


def iir(b: Signal, a: Signal, x: Signal, state: FilterState) -> tuple[Signal, FilterState]:
    """Filter x (channels, samples) by b/a (a[0] = 1) from `state`; the output
    and the new state."""
    channels, n = x.shape
    if not n:
        return x.copy(), state
    order = len(a) - 1
    xp = np.concatenate((state.x, x), axis=1)
    runs = -(-n // _RUN)
    w = np.zeros((channels, runs * _RUN))
    for k, coefficient in enumerate(b):  # the non-recursive part
        w[:, :n] += coefficient * xp[:, order - k : order - k + n]
    t = _run_tables(tuple(float(v) for v in a))
    zs = (w.reshape(channels * runs, _RUN) @ t.m).reshape(channels, runs, _RUN)
    # The state each run starts from: s[r] = P s[r-1] + tail[r-1], s[0] = the
    # state given; by doubling, s[r] = sum over k <= r of P^(r-k) c[k].
    carry = np.empty((channels, runs, order))
    carry[:, 0] = state.y[:, ::-1]
    carry[:, 1:] = zs[:, :-1, : -order - 1 : -1]
    span = 1
    for power in t.p:
        if span >= runs:
            break
        carry[:, span:] = carry[:, span:] + carry[:, :-span] @ power.T
        span *= 2
    y = (zs + carry @ t.g).reshape(channels, -1)[:, :n]
    return y, FilterState(xp[:, -order:], np.concatenate((state.y, y), axis=1)[:, -order:])


def channel_weights(channels: int) -> Signal:
    """BS.1770's G: 5.1 in its usual order (L R C LFE Ls Rs) weighs the
    surrounds 1.41 and leaves the LFE out; any other layout weighs all 1."""
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    return np.ones(channels)


def loudness_of(energy: float) -> float:
    return _OFFSET + 10 * math.log10(energy) if energy > 0 else -math.inf


def energy_of(lufs: float) -> float:
    return float(10 ** ((lufs - _OFFSET) / 10))


_ABSOLUTE_GATE = energy_of(ABSOLUTE_GATE_LUFS)


def gated_loudness(blocks: Signal) -> float | None:
    """BS.1770's gated loudness of block energies; None when no block is above
    the absolute gate (silence)."""
    loud = blocks[blocks > _ABSOLUTE_GATE]
    if not loud.size:
        return None
    relative = float(loud.mean()) * 10 ** (RELATIVE_GATE_LU / 10)
    return loudness_of(float(loud[loud > relative].mean()))


class LoudnessMeter:
    """K-weighted, gated loudness of what was pushed: over the last `window_s`,
    or over everything (integrated loudness) when it is None."""

    def __init__(self, rate: int, channels: int, window_s: float | None = WINDOW_S) -> None:
        # Two biquads in series, not one 4th-order filter: carried as past
        # outputs, the latter's state is ill-conditioned (poles near 1).
        self.sections = [(q.numerator, q.denominator) for q in k_weighting(rate)]
        self.states = [FilterState.zero(channels) for _ in self.sections]
        self.weights = channel_weights(channels)
        self.hop = max(1, round(rate * HOP_S))
        self.pending = np.zeros(channels)  # squares summed so far of the current sub-block
        self.pending_count = 0
        self.recent = np.zeros((channels, 0))  # the last sub-blocks, for the next blocks
        size = None if window_s is None else round((window_s - BLOCK_S) / HOP_S) + 1
        self.blocks: deque[float] = deque(maxlen=size)

    def push(self, x: Signal) -> None:
        """Add samples: x is (channels, samples), +-1 full scale."""
        for i, (b, a) in enumerate(self.sections):
            x, self.states[i] = iir(b, a, x, self.states[i])
        subs = np.concatenate((self.recent, self._sub_blocks(x * x)), axis=1)
        self.recent = subs[:, -(_SUB_BLOCKS - 1) :]
        count = subs.shape[1] - _SUB_BLOCKS + 1
        if count > 0:
            # Each 400 ms block: the mean of four consecutive 100 ms sub-blocks.
            blocks = sum(subs[:, k : k + count] for k in range(_SUB_BLOCKS)) / _SUB_BLOCKS
            self.blocks.extend(self.weights @ blocks)

    def _sub_blocks(self, squares: Signal) -> Signal:
        """(channels, sub-blocks): mean squares of the sub-blocks `squares` completes."""
        channels, n = squares.shape
        need = self.hop - self.pending_count
        if n < need:
            self.pending += squares.sum(axis=1)
            self.pending_count += n
            return np.zeros((channels, 0))
        first = (self.pending + squares[:, :need].sum(axis=1)) / self.hop
        rest = squares[:, need:]
        whole = rest.shape[1] // self.hop * self.hop
        full = rest[:, :whole].reshape(channels, -1, self.hop).mean(axis=2)
        self.pending = rest[:, whole:].sum(axis=1)
        self.pending_count = rest.shape[1] - whole
        return np.concatenate((first[:, None], full), axis=1)

    def loudness(self) -> float | None:
        return gated_loudness(np.fromiter(self.blocks, dtype=np.float64, count=len(self.blocks)))


def integrated_loudness(x: Signal, rate: int) -> float | None:
    """BS.1770-4 integrated loudness (LUFS) of x (channels, samples, +-1 full scale)."""
    meter = LoudnessMeter(rate, x.shape[0], window_s=None)
    meter.push(x)
    return meter.loudness()


def desired_gain_db(target_lufs: float, measured_lufs: float) -> float:
    return min(MAX_GAIN_DB, max(-MAX_GAIN_DB, target_lufs - measured_lufs))


def smooth_gain_db(current_db: float, desired_db: float, seconds: float) -> float:
    """One step of the gain's first-order approach to `desired_db` over `seconds`."""
    tau = ATTACK_S if desired_db < current_db else RELEASE_S
    return desired_db + (current_db - desired_db) * math.exp(-seconds / tau)


def gain_ramp(start_db: float, end_db: float, count: int) -> Signal:
    """Linear gains that step from `start_db` (the previous fragment's last
    sample) to exactly `end_db` on the last of `count` samples."""
    g0, g1 = 10 ** (start_db / 20), 10 ** (end_db / 20)
    return g0 + (g1 - g0) * (np.arange(1, count + 1, dtype=np.float64) / count)


def limit(x: Signal, envelope: float, rate: int) -> tuple[Signal, float]:
    """x (channels, samples) with every sample kept within CEILING, and the
    envelope to start the next fragment from.

    The envelope of the peaks (linked across channels, so the image does not
    shift) rises at once and decays with LIMITER_RELEASE_S: env[n] =
    max(peak[n], env[n-1] d). Unrolled, env[n] = d^n max(env[-1] d,
    max_{k<=n} peak[k] d^-k): a running maximum, vectorised in the log domain.
    """
    peak = np.abs(x).max(axis=0)
    if envelope <= CEILING and float(peak.max()) <= CEILING:
        # Nothing to limit, now or from this fragment's tail: an envelope under
        # the ceiling never reduces, so its value no longer matters.
        return x, 0.0
    n = x.shape[1]
    log_d = -1.0 / (LIMITER_RELEASE_S * rate)
    k = np.arange(n, dtype=np.float64)
    peaks = np.log(np.maximum(peak, _TINY))
    running = np.maximum.accumulate(peaks - k * log_d)
    env = np.exp(k * log_d + np.maximum(running, math.log(max(envelope, _TINY)) + log_d))
    return x * np.minimum(1.0, CEILING / env), float(env[-1])


_TINY = 1e-12  # the log of a silent sample's peak


def to_pcm(x: Signal) -> Pcm:
    """(channels, samples) +-1 full scale -> int16 (samples, channels)."""
    return np.clip(np.rint(x * _FULL_SCALE), -32768, 32767).astype(np.int16).T


class LoudnessSession:
    def __init__(self, rate: int, channels: int, target_lufs: float) -> None:
        self.rate, self.target = rate, target_lufs
        self.meter = LoudnessMeter(rate, channels)
        self.gain_db = 0.0
        self.envelope = 0.0

    def step(self, pcm: Pcm) -> Pcm:
        """The synchronous DSP of one fragment (a few ms: run on the event loop)."""
        count = pcm.shape[0]
        if not count:
            return pcm.copy()
        x = np.ascontiguousarray(pcm.T, dtype=np.float64) / _FULL_SCALE
        self.meter.push(x)
        measured = self.meter.loudness()
        new_db = self.gain_db
        if measured is not None:
            desired = desired_gain_db(self.target, measured)
            new_db = smooth_gain_db(self.gain_db, desired, count / self.rate)
        ramp = gain_ramp(self.gain_db, new_db, count)
        self.gain_db = new_db
        y, self.envelope = limit(x * ramp, self.envelope, self.rate)
        return to_pcm(y)

    async def process(self, pcm: Pcm) -> Pcm:
        return self.step(pcm)

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class LoudnessProcessor:
    target_lufs: float = DEFAULT_TARGET_LUFS
    name: str = "loudness"

    def open(self, hello: Hello) -> LoudnessSession:
        target = float_param(hello, TARGET_PARAM, self.target_lufs, *TARGET_RANGE)
        return LoudnessSession(hello.sample_rate, hello.channels, target)
