"""The processing-backend protocol, `lso.audio.v1`: what a worker in process mode
and a backend say to each other over one WebSocket per stream.

README's "Writing a processing backend" is the prose version of this module; the
worker's client (worker/processing.py) and the reference backends (backend/)
both use these types, so the two sides cannot drift apart.

1. The worker connects with the subprotocol SUBPROTOCOL and, when the stream's
   spec names credentials, `Authorization: Bearer <token>`. A backend that wants
   a token and gets a wrong one answers the upgrade with 401.
2. The worker sends a Hello (text); the backend answers Ready, or Error and closes.
3. Then binary messages both ways: a 16-byte header (FrameHeader) and PCM,
   signed 16-bit little-endian, interleaved, at the Hello's rate and channels.
   Each worker frame is one fragment; the backend answers each with one frame
   that carries the same sequence number and exactly as many samples. Answers
   may come in any order; a fragment not answered within its deadline is played
   with its original audio, and a late answer is dropped.
4. Either side may send an Error (text) at any time; the worker logs it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .v1alpha1 import MAX_PARAMS, PARAM_KEY_PATTERN, STREAM_ID_PATTERN, camel

SUBPROTOCOL: Literal["lso.audio.v1"] = "lso.audio.v1"
SAMPLE_FORMAT: Literal["s16le"] = "s16le"
SAMPLE_WIDTH = 2  # bytes per sample and channel
# What the worker sends: the output's own format, so that the answer can be
# mixed and encoded without resampling.
SAMPLE_RATE = 48_000
CHANNELS = 2
MAX_FRAGMENT_MS = 5_000
# Close codes (RFC 6455 section 7.4): a backend refusing a Hello uses 1008.
CLOSE_POLICY = 1008

_HEADER = struct.Struct(">QQ")  # sequence number, running time of the first sample (ns)
HEADER_SIZE = _HEADER.size


class _Message(BaseModel):
    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )

    def wire(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class Hello(_Message):
    """The worker's first message."""

    type: Literal["hello"] = "hello"
    protocol: Literal["lso.audio.v1"] = SUBPROTOCOL
    stream_id: str = Field(pattern=STREAM_ID_PATTERN)
    format: Literal["s16le"] = SAMPLE_FORMAT
    sample_rate: int = Field(default=SAMPLE_RATE, ge=8_000, le=192_000)
    channels: int = Field(default=CHANNELS, ge=1, le=8)
    fragment_ms: int = Field(ge=10, le=MAX_FRAGMENT_MS)
    params: dict[
        Annotated[str, Field(pattern=PARAM_KEY_PATTERN)], Annotated[str, Field(max_length=256)]
    ] = Field(default_factory=dict, max_length=MAX_PARAMS)

    def frame_bytes(self, samples: int) -> int:
        return samples * self.channels * SAMPLE_WIDTH

    @property
    def max_payload(self) -> int:
        """The largest PCM payload of one fragment, in bytes."""
        return self.frame_bytes(self.sample_rate * self.fragment_ms // 1000)


class _FromBackend(_Message):
    # What a backend sends may carry fields a later version adds.
    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="ignore", frozen=True, strict=True
    )


class Ready(_FromBackend):
    """The backend accepts the Hello."""

    type: Literal["ready"] = "ready"
    name: str = Field(default="", max_length=128, description="The backend, for the worker's log.")


class Error(_FromBackend):
    type: Literal["error"] = "error"
    message: str = Field(max_length=1024)


class ProtocolError(ValueError):
    """A frame or message that breaks the protocol; the message says how."""


@dataclass(frozen=True)
class FrameHeader:
    seq: int
    pts_ns: int


def encode_frame(seq: int, pts_ns: int, pcm: bytes) -> bytes:
    return _HEADER.pack(seq, pts_ns) + pcm


def decode_frame(data: bytes, hello: Hello) -> tuple[FrameHeader, bytes]:
    """Split a binary message; ProtocolError for any that is not a whole frame."""
    if len(data) < HEADER_SIZE:
        raise ProtocolError(
            f"frame of {len(data)} bytes is shorter than its {HEADER_SIZE}-byte header"
        )
    seq, pts_ns = _HEADER.unpack_from(data)
    pcm = data[HEADER_SIZE:]
    unit = hello.channels * SAMPLE_WIDTH
    if len(pcm) % unit:
        raise ProtocolError(f"PCM of {len(pcm)} bytes is not a whole number of {unit}-byte samples")
    if len(pcm) > hello.max_payload:
        raise ProtocolError(
            f"PCM of {len(pcm)} bytes is longer than one fragment ({hello.max_payload})"
        )
    return FrameHeader(seq, pts_ns), pcm
