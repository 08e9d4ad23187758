"""The slate renderer: `livestream-operator render-slates`, run by the MediaMTX
Pod's init container (worker image: GStreamer) into the directory MediaMTX reads
its alwaysAvailableFile from.

One MP4 per slate and audio format (api/slates.py names it). MediaMTX plays
such a file on repeat, each track looping on its own (v1.20,
stream/offline_sub_stream_track.go runFile: a plain, not fragmented, MP4 read
with mediacommon's pmp4), and takes a publisher only if its tracks match the
file's: so H.264 and AAC at exactly the worker's rate and channels. The file is
what MediaMTX's built-in slate is: 1920x1080, 30 fps, constrained baseline
(openh264), here one second with a keyframe first, so a reader that joins
during a loss decodes within a second.

A tone that loops must end where it starts, or it clicks once a loop: the loop
is a whole number of AAC frames holding a whole number of cycles (so "1 kHz" is
999.5 Hz at 44.1 kHz), and its frames are cut from the middle of three encoded
loops, so that the first one carries the encoder's overlap from the last
(AAC frames overlap; a freshly started encoder's first frame is a ramp).

The output is deterministic (openh264 single-threaded; the MP4's creation
times zeroed), so a file is a function of its declaration and its image.
"""

from __future__ import annotations

import argparse
import logging
import os
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..api.slates import (
    AUDIO_FORMATS,
    FPS,
    HEIGHT,
    SLATES,
    WIDTH,
    SlateAudio,
    Slates,
    SlateSpec,
    file_name,
    rgb,
)
from .pipeline import AAC_ENCODERS

log = logging.getLogger(__name__)

AAC_FRAME = 1024  # samples per AAC-LC frame
TONE_HZ = 1000.0
TONE_VOLUME = 0.1  # peak -20 dBFS
AAC_BITRATE = 128_000
LOOP_FRAMES = FPS  # one second of video
RENDER_TIMEOUT_S = 60.0
FALLBACK = SlateSpec(colour="#000000")
# MP4 boxes whose version-0 body starts with creation and modification times.
_TIMED = {b"mvhd", b"tkhd", b"mdhd"}
_CONTAINERS = {b"moov", b"trak", b"mdia"}
# What a render may raise (GLib.Error, a parse_launch refusal, is a RuntimeError).
RENDER_ERRORS = (RuntimeError, OSError, ValueError, ImportError)


@dataclass(frozen=True)
class AudioLoop:
    """A loop of whole AAC frames, and the tone that fits it a whole number of times."""

    frames: int
    tone_hz: float


def audio_loop(sample_rate: int) -> AudioLoop:
    frames = max(1, round(sample_rate / AAC_FRAME))  # about a second, like the video
    cycle_hz = sample_rate / (frames * AAC_FRAME)  # one cycle per loop
    return AudioLoop(frames, round(TONE_HZ / cycle_hz) * cycle_hz)


def adts_frames(data: bytes) -> Iterator[bytes]:
    """ADTS frames of an AAC stream (each header says its frame's length)."""
    pos = 0
    while pos + 7 <= len(data):
        if data[pos] != 0xFF or data[pos + 1] & 0xF0 != 0xF0:
            raise ValueError(f"no ADTS sync word at byte {pos}")
        length = ((data[pos + 3] & 0x03) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        if length < 7 or pos + length > len(data):
            raise ValueError(f"truncated ADTS frame at byte {pos}")
        yield data[pos : pos + length]
        pos += length


def middle_loop(adts: bytes, frames: int) -> bytes:
    """Frames [frames, 2*frames) of three encoded loops."""
    all_frames = list(adts_frames(adts))
    if len(all_frames) < 2 * frames:
        raise ValueError(f"the encoder gave {len(all_frames)} AAC frames, not {3 * frames}")
    return b"".join(all_frames[frames : 2 * frames])


def zero_times(mp4: bytearray) -> None:
    """Zero the creation and modification times MP4 muxers stamp (in place)."""

    def walk(start: int, end: int) -> None:
        pos = start
        while pos + 8 <= end:
            size, kind = struct.unpack_from(">I4s", mp4, pos)
            if size < 8 or pos + size > end:
                return
            if kind in _CONTAINERS:
                walk(pos + 8, pos + size)
            elif kind in _TIMED:
                version = mp4[pos + 8]
                width = 8 if version == 1 else 4
                mp4[pos + 12 : pos + 12 + 2 * width] = bytes(2 * width)
            pos += size

    walk(0, len(mp4))


def _audio_source(slate: SlateSpec, rate: int, channels: int, loop: AudioLoop) -> str:
    wave = (
        f"wave=sine freq={loop.tone_hz!r} volume={TONE_VOLUME}"
        if slate.audio is SlateAudio.TONE
        else "wave=silence"
    )
    return (
        f"audiotestsrc {wave} samplesperbuffer={AAC_FRAME} num-buffers={3 * loop.frames} "
        f"! audio/x-raw,format=S16LE,rate={rate},channels={channels},layout=interleaved"
    )


def _video_source(slate: SlateSpec, image: Path | None) -> str:
    # bt601 in the caps and the VUI: what decoders assume without one, so the
    # colour decodes as declared.
    raw = (
        f"video/x-raw,format=I420,width={WIDTH},height={HEIGHT},"
        f"framerate={FPS}/1,pixel-aspect-ratio=1/1,colorimetry=bt601"
    )
    if image is not None:
        # Scaled to fit and padded black (videoscale add-borders), held for the loop.
        return (
            f'filesrc location="{image}" ! decodebin ! videoconvert ! videoscale add-borders=true '
            f"! video/x-raw,width={WIDTH},height={HEIGHT},pixel-aspect-ratio=1/1 "
            f"! imagefreeze num-buffers={LOOP_FRAMES} ! videoconvert ! {raw}"
        )
    r, g, b = rgb(slate.colour or "#000000")
    argb = 0xFF000000 | (r << 16) | (g << 8) | b
    return (
        f"videotestsrc pattern=solid-color foreground-color={argb} "
        f"num-buffers={LOOP_FRAMES} ! {raw}"
    )


def _gst() -> Any:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    return Gst


def _run(description: str) -> None:
    Gst = _gst()
    pipeline = Gst.parse_launch(description)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    try:
        msg = bus.timed_pop_filtered(
            int(RENDER_TIMEOUT_S * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR
        )
        if msg is None:
            raise RuntimeError(f"rendering took over {RENDER_TIMEOUT_S:.0f} s")
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            raise RuntimeError(f"{err.message} ({debug})")
    finally:
        pipeline.set_state(Gst.State.NULL)


def _aac_encoder() -> str:
    _gst()
    from .graph import installed

    return installed(AAC_ENCODERS)


def render(slate: SlateSpec, rate: int, channels: int, out: Path, image: Path | None) -> None:
    """Write one slate in one audio format to `out` (atomically)."""
    loop = audio_loop(rate)
    encoder = _aac_encoder()
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        adts, cut, mp4 = Path(tmp, "three.aac"), Path(tmp, "loop.aac"), Path(tmp, "slate.mp4")
        _run(
            f"{_audio_source(slate, rate, channels, loop)} ! {encoder} bitrate={AAC_BITRATE} "
            f'! aacparse ! audio/mpeg,stream-format=adts ! filesink location="{adts}"'
        )
        cut.write_bytes(middle_loop(adts.read_bytes(), loop.frames))
        _run(
            f"{_video_source(slate, image)} "
            f"! openh264enc gop-size={LOOP_FRAMES} multi-thread=1 complexity=0 bitrate=2000000 "
            "! h264parse ! video/x-h264,stream-format=avc,alignment=au "
            f'! mp4mux name=mux faststart=true ! filesink location="{mp4}" '
            f'filesrc location="{cut}" ! aacparse ! mux.'
        )
        data = bytearray(mp4.read_bytes())
        zero_times(data)
        mp4.write_bytes(bytes(data))
        os.replace(mp4, out)


def image_path(images: Path, slate: SlateSpec) -> Path | None:
    if slate.image is None:
        return None
    return images / slate.image.config_map / slate.image.key


def render_all(slates: Slates, images: Path, out: Path) -> list[str]:
    """Every slate in every audio format; returns the files written.

    Nothing here fails the init container: a slate is never worth keeping
    MediaMTX (every stream's ingest) from starting. An image that cannot be
    rendered (a missing key or ConfigMap, not a PNG or JPEG) is logged and its
    slate rendered black; a slate that cannot be rendered at all (GStreamer
    broken) is logged and left out, and MediaMTX refuses the entries that name
    its file, so those streams' out goes without a fill."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, slate in sorted(slates.items()):
        for rate, channels in AUDIO_FORMATS:
            target = out / file_name(name, slate, rate, channels)
            started = time.monotonic()
            try:
                render(slate, rate, channels, target, image_path(images, slate))
            except RENDER_ERRORS as exc:
                log.error(
                    "slate: cannot render; rendering it black instead",
                    extra={"slate": name, "reason": str(exc)},
                )
                fallback = FALLBACK.model_copy(update={"audio": slate.audio})
                try:
                    render(fallback, rate, channels, target, None)
                except RENDER_ERRORS as again:
                    log.error(
                        "slate: cannot render it black either; left out",
                        extra={"slate": name, "reason": str(again)},
                    )
                    continue
            log.info(
                "slate: rendered",
                extra={
                    "slate": name,
                    "file": target.name,
                    "bytes": target.stat().st_size,
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
            written.append(target.name)
    return written


def main(argv: list[str]) -> int:
    from .. import logs

    parser = argparse.ArgumentParser(
        prog="livestream-operator render-slates",
        description="Render the chart's slates to MP4 files MediaMTX plays while no worker "
        "publishes (alwaysAvailableFile).",
    )
    parser.add_argument("--config", type=Path, required=True, help="the slates, as JSON")
    parser.add_argument(
        "--images", type=Path, default=Path("/etc/lso-slates/images"),
        help="image ConfigMaps, one directory each: <images>/<configMap>/<key>",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="where the MP4 files go")
    args = parser.parse_args(argv)
    logs.setup("render-slates", os.environ.get("LSO_LOG_LEVEL", "INFO"))
    try:
        slates = SLATES.validate_json(args.config.read_bytes())
    except (OSError, ValidationError) as exc:
        print(f"render-slates: {args.config}: {exc}", file=sys.stderr)
        return 2
    render_all(slates, args.images, args.out)
    return 0
