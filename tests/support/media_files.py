"""Pre-encoded test media, shared by the media and end-to-end tiers and the benches.

Publishers send these files with `-c copy`, so that their own encoding does not
eat the CPU being measured.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def encode_test_file(
    path: Path,
    seconds: int = 60,
    size: str = "1280x720",
    fps: int = 30,
    sine_hz: int = 1000,
    pattern: str = "testsrc",
) -> Path:
    """A pre-encoded H.264 + AAC FLV at `path`, made once (written whole, then renamed)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.flv")
        subprocess.run(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"{pattern}=size={size}:rate={fps}",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency={sine_hz}:sample_rate=44100",
                "-t",
                str(seconds),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-g",
                str(fps),
                "-pix_fmt",
                "yuv420p",
                "-b:v",
                "2500k",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                str(tmp),
            ],
            check=True,
            timeout=900,
        )
        tmp.rename(path)
    return path


MEDIA_CACHE = Path.home() / ".cache" / "livestream-operator" / "media"


def primary_file() -> Path:
    """720p30 testsrc + 1 kHz AAC: a publisher's picture (or a primary's)."""
    return encode_test_file(MEDIA_CACHE / "720p30-testsrc-h264-aac1k-60s.flv")


def backup_file() -> Path:
    """720p30 SMPTE bars + 1 kHz AAC: a backup publisher's picture, told apart
    from the primary's at a viewer (tests/media/viewer.py)."""
    return encode_test_file(
        MEDIA_CACHE / "720p30-smptebars-h264-aac1k-60s.flv", pattern="smptebars"
    )


def copy_input_args(file: Path) -> list[str]:
    """ffmpeg input arguments that send `file` in a loop, in real time, unchanged."""
    return ["-re", "-stream_loop", "-1", "-i", str(file), "-c", "copy"]
