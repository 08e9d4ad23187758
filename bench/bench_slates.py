"""Benchmark of the slate renderer: what a slate costs the MediaMTX Pod's start
(its init container renders every slate in every audio format a worker publishes).

Prints figures; asserts nothing. Run: `.venv/bin/python bench/bench_slates.py`
(`--runs 1` for a short smoke run).

Each case is one slate, rendered by `livestream-operator render-slates` in a
process of its own (as the init container runs it: the interpreter, GStreamer's
start and both audio formats included), `--runs` times: the wall time (median and
max), the peak RSS of the process (what the init container's memory limit must
hold), and each file's size. Side by side: MediaMTX's built-in slate, which
costs no start-up and no file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from bench.report import line, pct  # noqa: E402
from livestream_operator.api.slates import AUDIO_FORMATS  # noqa: E402

CASES: dict[str, dict[str, object]] = {
    "black (the chart's default), silence": {"colour": "#000000"},
    "a colour with the tone": {"colour": "#3366cc", "audio": "tone"},
    "a 640x360 PNG (colour bars)": {"image": {"configMap": "art", "key": "bars.png"}},
    "a 3840x2160 JPEG (moving pattern)": {"image": {"configMap": "art", "key": "photo.jpg"}},
}


def images(directory: Path) -> Path:
    art = directory / "art"
    art.mkdir(parents=True)
    for name, source, size, encoder in (
        ("bars.png", "smpte", (640, 360), "pngenc"),
        ("photo.jpg", "ball", (3840, 2160), "jpegenc"),
    ):
        subprocess.run(
            ["gst-launch-1.0", "-q", "videotestsrc", f"pattern={source}", "num-buffers=1",
             "!", f"video/x-raw,width={size[0]},height={size[1]}", "!", encoder,
             "!", "filesink", f"location={art / name}"],
            check=True, timeout=60,
        )  # fmt: skip
    return directory


def render(config: Path, image_dir: Path, out: Path) -> tuple[float, int, list[float]]:
    """(seconds, peak RSS bytes, each file's own seconds from the renderer's log) of
    one render-slates process."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "operator"), "LSO_LOG_LEVEL": "INFO"}
    log = out.with_suffix(".log")
    started = time.monotonic()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "livestream_operator", "render-slates", "--config",
             str(config), "--images", str(image_dir), "--out", str(out)],
            env=env, stdout=sink, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"render-slates exited {os.waitstatus_to_exitcode(status)}")
    files = [
        float(entry["seconds"])
        for entry in map(json.loads, log.read_text().splitlines())
        if entry.get("msg") == "slate: rendered"
    ]
    return seconds, usage.ru_maxrss * 1024, files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    formats = ", ".join(f"{r / 1000:g} kHz {c} ch" for r, c in AUDIO_FORMATS)
    print(f"slate renderer: one process per slate, {len(AUDIO_FORMATS)} files each ({formats})")
    line("MediaMTX's built-in slate", "0 s, no file", "(the baseline)")
    with tempfile.TemporaryDirectory() as tmp:
        image_dir = images(Path(tmp) / "images")
        for index, (label, slate) in enumerate(CASES.items()):
            config = Path(tmp) / f"slate-{index}.json"
            config.write_text(json.dumps({"case": slate}))
            times, peaks, files = [], [], []
            for run in range(args.runs):
                out = Path(tmp) / f"out-{index}-{run}"
                seconds, peak, each = render(config, image_dir, out)
                times.append(seconds)
                peaks.append(peak)
                files.extend(each)
            sizes = sorted(f.stat().st_size for f in out.iterdir())
            print(f"{label}:")
            line("the process, median / max of runs", f"{pct(times, 50):.2f} / {max(times):.2f} s")
            line("one file in it, median / max", f"{pct(files, 50):.2f} / {max(files):.2f} s")
            line("peak RSS of the process", f"{max(peaks) / 2**20:.0f} MiB", "(limit 384Mi)")
            line("file sizes", " / ".join(f"{s / 1024:.0f} KiB" for s in sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
