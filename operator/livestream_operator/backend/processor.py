"""The plug-in interface of the reference backends: a Processor opens one Session
per WebSocket (per stream), and the server (server.py) hands the session each
fragment's PCM in order. Everything protocol-shaped (headers, framing, the
Hello's validation) stays in the server, so a processor only sees audio."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..api.backend_protocol import Hello

# One fragment: int16 samples, shape (samples, channels), interleaved on the wire.
Pcm = npt.NDArray[np.int16]
_WIRE = np.dtype("<i2")  # s16le whatever the host's byte order


class Session(Protocol):
    async def process(self, pcm: Pcm) -> Pcm:
        """The processed fragment: int16, the same shape as `pcm`. `pcm` may be
        read-only (a view of the received message); never modify it in place."""
        ...

    async def close(self) -> None: ...


class Processor(Protocol):
    @property
    def name(self) -> str:
        """The backend, as Ready tells the worker."""
        ...

    def open(self, hello: Hello) -> Session:
        """A session for the stream the Hello describes; ValueError, with a
        message naming the offending param, refuses it (Error, close 1008)."""
        ...


def pcm_from_bytes(data: bytes, channels: int) -> Pcm:
    """A read-only (samples, channels) view of s16le interleaved bytes."""
    return np.frombuffer(data, dtype=_WIRE).astype(np.int16, copy=False).reshape(-1, channels)


def pcm_to_bytes(pcm: Pcm) -> bytes:
    return np.ascontiguousarray(pcm, dtype=_WIRE).tobytes()


def float_param(hello: Hello, key: str, default: float, low: float, high: float) -> float:
    """hello.params[key] as a number in [low, high], or `default` when absent."""
    raw = hello.params.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(
            f"params.{key} must be a number from {low:g} to {high:g}, not {raw[:32]!r}"
        )
    return value
