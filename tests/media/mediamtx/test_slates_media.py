"""Named slates on a real MediaMTX: the renderer's files as alwaysAvailableFile of
live/<id>/out. A reader that connects while no one publishes gets the slate's
colour and its tone (or silence); a worker-like publisher (H.264 + AAC in the
declared format, over RTSP) is taken, and its frames follow in the same reader
session; a publisher in another audio format is refused.
"""

from __future__ import annotations

import asyncio
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livestream_operator.api.pod_contract import OUTPUT_AUDIO
from livestream_operator.api.slates import SLATES, file_name
from livestream_operator.api.v1alpha1 import WorkerMode
from livestream_operator.mediamtx.control_api import MediaMTXClient
from livestream_operator.mediamtx.path_config import Fill, PathEntry, plan
from livestream_operator.worker.slates import render_all
from tests.support.waiting import wait_for

from ..conftest import Processes
from ..media_support import MediaMTX, Proc, audio_windows, publisher_args, runs

pytestmark = pytest.mark.usefixtures("gstreamer")

RATE, CHANNELS = OUTPUT_AUDIO[WorkerMode.BYPASS]
BLUE = (0x33, 0x66, 0xCC)
GREY = (0x80, 0x80, 0x80)
DECLARED = {"blue": {"colour": "#3366cc", "audio": "tone"}, "grey": {"colour": "#808080"}}
PUBLISHER_HZ = 440  # the publisher's tone: not the slate's 1 kHz


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, gstreamer: None) -> Path:
    out = tmp_path_factory.mktemp("slates")
    written = render_all(SLATES.validate_python(DECLARED), out / "images", out)
    assert len(written) == len(DECLARED) * len(set(OUTPUT_AUDIO.values()))
    return out


def slate_file(rendered: Path, name: str) -> Path:
    return rendered / file_name(name, SLATES.validate_python(DECLARED)[name], RATE, CHANNELS)


def apply(mtx: MediaMTX, want: dict[str, PathEntry]) -> None:
    """The operator's changes for `want`, through its Control API client."""

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            client = MediaMTXClient(f"http://127.0.0.1:{mtx.api_port}", session)
            for change in plan(want, await client.list_path_confs()):
                await client.change_path_conf(change.verb.value, change.name, change.body)

    asyncio.run(run())


def slated(mtx: MediaMTX, rendered: Path, stream: str, slate: str) -> str:
    path = f"live/{stream}/out"
    apply(mtx, {path: PathEntry(fill=Fill(RATE, CHANNELS, str(slate_file(rendered, slate))))})
    mtx.wait_available(path, 10)
    return path


def read(url: str, seconds: float, file: Path) -> subprocess.Popen[bytes]:
    """One reader session: `seconds` of the stream, copied into an MPEG-TS file."""
    return subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-rtsp_transport", "tcp", "-i", url,
         "-t", str(seconds), "-c", "copy", "-f", "mpegts", str(file)],
        stderr=subprocess.PIPE,
    )  # fmt: skip


def colours(file: Path, rate: float = 4.0) -> list[tuple[int, int, int]]:
    """The mean colour of the recording's frames, `rate` per second."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(file), "-an",
         "-vf", f"fps={rate},scale=16:9", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    size = 16 * 9 * 3
    out: list[tuple[int, int, int]] = []
    for i in range(0, len(proc.stdout) - size + 1, size):
        frame = struct.unpack(f"{size}B", proc.stdout[i : i + size])
        r, g, b = (sum(frame[c::3]) // (size // 3) for c in range(3))
        out.append((r, g, b))
    return out


def close(colour: tuple[int, ...], want: tuple[int, int, int], within: int = 12) -> bool:
    return all(abs(a - b) <= within for a, b in zip(colour, want, strict=True))


def worker_like(url: str, rate: int = RATE, channels: int = CHANNELS) -> list[str]:
    """An RTSP publisher of H.264 and AAC in a given format, as a worker publishes out."""
    args = publisher_args(url, sine_hz=PUBLISHER_HZ, fmt="rtsp")
    at = args.index("-f", args.index("aac"))
    return [*args[:at], "-ar", str(rate), "-ac", str(channels), *args[at:]]


def tones(file: Path) -> list[str]:
    """Per half second of audio: silence, the slate's tone or the publisher's."""
    labels = []
    for rms, share_1k in audio_windows(file):
        labels.append("silence" if rms < 50 else "1k" if share_1k > 0.5 else "other")
    return labels


def test_the_slate_plays_its_colour_and_tone_then_the_worker_follows_in_one_session(
    mediamtx: MediaMTX, rendered: Path, procs: Processes
) -> None:
    path = slated(mediamtx, rendered, "cam", "blue")
    recording = procs.log_dir / "reader.ts"
    reader = read(mediamtx.rtsp(path), 10, recording)
    time.sleep(3.5)  # the slate, alone
    publisher = Proc(worker_like(mediamtx.rtsp(path)), procs.log_dir / "worker-like.log")
    procs.started.append(publisher)
    publisher.start()
    wait_for(lambda: bool((mediamtx.path(path) or {}).get("online")), 15, "the publisher")
    _, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err.decode(errors="replace")[-2000:]

    seen = colours(recording)
    pictures = runs(["blue" if close(c, BLUE) else "picture" for c in seen])
    detail: dict[str, Any] = {"pictures": pictures, "first": seen[:2], "last": seen[-2:]}
    # The slate's colour first, then the publisher's frames, in the one session
    # (one reader process, one file, no end in between).
    assert [label for label, _ in pictures] == ["blue", "picture"], detail
    assert pictures[0][1] >= 10, detail  # >= 2.5 s of slate at 4 frames a second
    assert pictures[1][1] >= 8, detail  # >= 2 s of the publisher's frames

    sounds = runs(tones(recording))
    assert [label for label, _ in sounds][:1] == ["1k"], sounds  # the slate's tone
    assert sounds[0][1] >= 5, sounds  # >= 2.5 s of it
    assert sounds[-1][0] == "other", sounds  # the publisher's 440 Hz


def test_a_silent_slate_is_its_colour_and_silence(
    mediamtx: MediaMTX, rendered: Path, procs: Processes
) -> None:
    path = slated(mediamtx, rendered, "quiet", "grey")
    recording = procs.log_dir / "quiet.ts"
    reader = read(mediamtx.rtsp(path), 3, recording)
    _, err = reader.communicate(timeout=30)
    assert reader.returncode == 0, err.decode(errors="replace")[-2000:]
    seen = colours(recording)
    assert seen
    assert all(close(c, GREY) for c in seen), seen
    assert set(tones(recording)) == {"silence"}


def test_a_publisher_in_another_audio_format_is_refused(
    mediamtx: MediaMTX, rendered: Path, procs: Processes
) -> None:
    path = slated(mediamtx, rendered, "cam", "blue")
    other = 48000 if RATE != 48000 else 44100
    refused = subprocess.run(
        [*worker_like(mediamtx.rtsp(path), rate=other), "-t", "5"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert not (mediamtx.path(path) or {}).get("online")
    # MediaMTX says why: the file declares the worker's AAC, and only that.
    assert f"is type=2, sampleRate={other}" in mediamtx.log(), mediamtx.log()[-1500:]


def pending(mtx: MediaMTX, want: dict[str, PathEntry]) -> list[str]:
    async def run() -> list[str]:
        async with aiohttp.ClientSession() as session:
            client = MediaMTXClient(f"http://127.0.0.1:{mtx.api_port}", session)
            return [c.verb.value for c in plan(want, await client.list_path_confs())]

    return asyncio.run(run())


def test_built_in_and_named_slates_replace_each_other_and_then_hold(
    mediamtx: MediaMTX, rendered: Path
) -> None:
    path = "live/cam/out"
    built_in = {path: PathEntry(fill=Fill(RATE, CHANNELS))}
    named = {path: PathEntry(fill=Fill(RATE, CHANNELS, str(slate_file(rendered, "blue"))))}
    for want, verb in ((built_in, "add"), (named, "replace"), (built_in, "replace")):
        # What MediaMTX lists afterwards is what was asked: nothing to do next pass.
        assert pending(mediamtx, want) == [verb]
        apply(mediamtx, want)
        assert pending(mediamtx, want) == []
        mediamtx.wait_available(path, 10)
