"""The slate renderer's files, looked at with ffprobe and ffmpeg: the shape
MediaMTX takes (a plain MP4 of H.264 constrained baseline 1920x1080 at 30 fps
from a keyframe, AAC in the worker's format), deterministic bytes, an image
scaled and padded, and an image that cannot be read rendered black."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from livestream_operator.api.slates import AUDIO_FORMATS, SLATES, file_name
from livestream_operator.worker.slates import render_all

pytestmark = pytest.mark.usefixtures("gstreamer")

DECLARED = {
    "square": {"image": {"configMap": "art", "key": "square.jpg"}, "audio": "tone"},
    "missing": {"image": {"configMap": "art", "key": "nope.png"}},
}


def white_square(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=white:size=400x400",
         "-frames:v", "1", "-y", str(path)],
        check=True, timeout=30,
    )  # fmt: skip


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, gstreamer: None) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("render")
    white_square(base / "images" / "art" / "square.jpg")
    slates = SLATES.validate_python(DECLARED)
    for out in (base / "a", base / "b"):
        render_all(slates, base / "images", out)
    return base / "a", base / "b"


def probe(file: Path) -> dict[str, dict[str, object]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(file)],
        capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def gray_row(file: Path) -> list[int]:
    """The middle row of the first frame, 16 pixels wide."""
    data = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(file), "-frames:v", "1",
         "-vf", "scale=16:9,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return list(data[4 * 16 : 5 * 16])


@pytest.mark.parametrize(("rate", "channels"), AUDIO_FORMATS)
def test_the_file_is_what_mediamtx_plays_and_takes_a_worker_after(
    rendered: tuple[Path, Path], rate: int, channels: int
) -> None:
    slate = SLATES.validate_python(DECLARED)["square"]
    file = rendered[0] / file_name("square", slate, rate, channels)
    streams = probe(file)
    video, audio = streams["video"], streams["audio"]
    assert (video["codec_name"], video["profile"]) == ("h264", "Constrained Baseline")
    assert (video["width"], video["height"], video["r_frame_rate"]) == (1920, 1080, "30/1")
    assert (audio["codec_name"], audio["profile"]) == ("aac", "LC")
    assert (int(str(audio["sample_rate"])), audio["channels"]) == (rate, channels)
    data = file.read_bytes()
    assert b"moof" not in data  # plain MP4: MediaMTX reads it with pmp4
    frames = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame",
         "-of", "csv=p=0", str(file)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()  # fmt: skip
    assert frames[0] == "1"  # decodable from the first frame of every loop
    assert len(frames) == 30


def test_rendering_is_deterministic(rendered: tuple[Path, Path]) -> None:
    first, second = rendered
    names = sorted(p.name for p in first.iterdir() if p.suffix == ".mp4")
    assert names == sorted(p.name for p in second.iterdir() if p.suffix == ".mp4")
    assert len(names) == len(DECLARED) * len(AUDIO_FORMATS)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_an_image_is_scaled_to_fit_and_padded_black(rendered: tuple[Path, Path]) -> None:
    slate = SLATES.validate_python(DECLARED)["square"]
    row = gray_row(rendered[0] / file_name("square", slate, *AUDIO_FORMATS[0]))
    # 400x400 in 1920x1080: 1080x1080 in the middle, 420 px black on each side.
    assert max(row[:3] + row[-3:]) < 30, row
    assert min(row[5:11]) > 220, row


def test_an_image_that_cannot_be_read_is_rendered_black(rendered: tuple[Path, Path]) -> None:
    slate = SLATES.validate_python(DECLARED)["missing"]
    row = gray_row(rendered[0] / file_name("missing", slate, *AUDIO_FORMATS[0]))
    assert max(row) < 30, row
