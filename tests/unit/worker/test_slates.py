"""The slate renderer's pure parts: the tone loop, the ADTS cut, the zeroed MP4 times."""

from __future__ import annotations

import struct

import pytest

from livestream_operator.worker.slates import (
    AAC_FRAME,
    adts_frames,
    audio_loop,
    middle_loop,
    zero_times,
)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_the_tone_is_about_1_khz_and_a_whole_number_of_cycles_per_loop(rate: int) -> None:
    loop = audio_loop(rate)
    seconds = loop.frames * AAC_FRAME / rate
    assert abs(seconds - 1.0) < 0.02  # about the video's one second
    assert abs(loop.tone_hz - 1000) < 1.1
    cycles = loop.tone_hz * seconds
    assert abs(cycles - round(cycles)) < 1e-9


def adts(payload: bytes) -> bytes:
    length = 7 + len(payload)
    header = bytes(
        [
            0xFF,
            0xF1,
            0x50,
            0x80 | (length >> 11),
            (length >> 3) & 0xFF,
            (length & 7) << 5 | 0x1F,
            0xFC,
        ]
    )
    return header + payload


def test_the_middle_loop_is_cut_on_frame_boundaries() -> None:
    frames = [adts(bytes([i]) * (i + 1)) for i in range(9)]
    assert list(adts_frames(b"".join(frames))) == frames
    assert middle_loop(b"".join(frames), 3) == b"".join(frames[3:6])


def test_a_stream_that_is_not_adts_is_refused() -> None:
    with pytest.raises(ValueError, match="sync"):
        list(adts_frames(b"\x00" * 16))
    with pytest.raises(ValueError, match="truncated"):
        list(adts_frames(adts(b"abc")[:-1]))
    with pytest.raises(ValueError, match="AAC frames"):
        middle_loop(adts(b"a") * 3, 2)


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def movie(created: int, modified: int) -> bytes:
    """An MP4 skeleton: times in mvhd, tkhd (version 0) and mdhd (version 1), and an
    mdat whose payload looks like times but is media."""
    v0 = struct.pack(">BxxxII", 0, created, modified) + b"rest"
    v1 = struct.pack(">BxxxQQ", 1, created, modified) + b"rest"
    media = struct.pack(">BxxxII", 0, 3_900_000_000, 3_900_000_001)
    trak = box(b"trak", box(b"tkhd", v0) + box(b"mdia", box(b"mdhd", v1)))
    return (
        box(b"ftyp", b"isom\x00\x00\x00\x00")
        + box(b"moov", box(b"mvhd", v0) + trak)
        + box(b"mdat", media)
    )


def test_creation_and_modification_times_are_zeroed_in_every_timed_box() -> None:
    mp4 = bytearray(movie(3_900_000_000, 3_900_000_001))
    zero_times(mp4)
    assert bytes(mp4) == movie(0, 0)
