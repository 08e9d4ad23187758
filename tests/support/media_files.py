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


def copy_input_args(file: Path) -> list[str]:
    """ffmpeg input arguments that send `file` in a loop, in real time, unchanged."""
    return ["-re", "-stream_loop", "-1", "-i", str(file), "-c", "copy"]
