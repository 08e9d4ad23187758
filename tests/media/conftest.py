"""Fixtures for the media tests: real MediaMTX, ffmpeg, GStreamer; no cluster.

A missing prerequisite skips with the reason, except with CI=true, where it
fails: CI must never pass by skipping the media plane.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import require

from .media_support import (
    HookReceiver,
    MediaMTX,
    Proc,
    ProjectProc,
    build_mediamtx,
    forwarder_proc,
    publisher_args,
    worker_proc,
)


@pytest.fixture(scope="session")
def media_tools() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        require(shutil.which(tool) is not None, f"{tool} is not installed (apt install ffmpeg)")


@pytest.fixture(scope="session")
def gstreamer(media_tools: None) -> None:
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as exc:
        require(
            False,
            f"PyGObject/GStreamer bindings unavailable: {exc} "
            "(pip install -e '.[media]'; apt install gir1.2-gstreamer-1.0)",
        )
        return
    Gst.init(None)
    from livestream_operator.api.v1alpha1 import WorkerMode
    from livestream_operator.worker.pipeline import required_factories

    missing = [
        "|".join(alts)
        for mode in WorkerMode
        for alts in required_factories(mode)
        if not any(Gst.ElementFactory.find(f) for f in alts)
    ]
    require(
        not missing,
        f"GStreamer elements missing: {missing} "
        "(apt install gstreamer1.0-plugins-{good,bad} gstreamer1.0-libav)",
    )


@pytest.fixture(scope="session")
def mediamtx_bin() -> Path:
    try:
        return build_mediamtx()
    except Exception as exc:  # build failures are a missing prerequisite too
        require(False, f"MediaMTX is not available: {exc}")
        raise


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def mediamtx_factory(
    mediamtx_bin: Path, tmp_path: Path, hooks: HookReceiver, media_tools: None
) -> Iterator[Callable[[], MediaMTX]]:
    started: list[MediaMTX] = []

    def start() -> MediaMTX:
        mtx = MediaMTX(mediamtx_bin, tmp_path / f"mediamtx{len(started)}", hook_url=hooks.url)
        started.append(mtx)
        return mtx.start()

    yield start
    for mtx in started:
        mtx.stop()


@pytest.fixture
def mediamtx(mediamtx_factory: Callable[[], MediaMTX]) -> MediaMTX:
    """MediaMTX with charts/livestream-operator/files/mediamtx.yml on free ports."""
    return mediamtx_factory()


class Processes:
    """Starts publishers, workers and forwarders; kills every one at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Proc] = []

    def publisher(self, url: str, **kwargs: object) -> Proc:
        """ffmpeg testsrc 1280x720@30 + sine, libx264 veryfast zerolatency g=30 + AAC."""
        proc = Proc(
            publisher_args(url, **kwargs),  # type: ignore[arg-type]
            self.log_dir / f"publisher-{len(self.started)}.log",
        )
        self.started.append(proc)
        return proc.start()

    def worker(
        self, input_url: str, output_url: str, mode: str = "bypass", **env: str
    ) -> ProjectProc:
        proc = worker_proc(self.log_dir, input_url, output_url, mode, extra_env=env)
        self.started.append(proc)
        return proc.start()

    def forwarder(self, input_url: str, destination: str, name: str) -> ProjectProc:
        proc = forwarder_proc(self.log_dir, input_url, destination, name)
        self.started.append(proc)
        return proc.start()

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop(timeout=5)


@pytest.fixture
def procs(tmp_path: Path, media_tools: None) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture
def publisher(procs: Processes) -> Callable[..., Proc]:
    """Factory: publisher(url, sine_hz=1000, video='h264', audio='aac', fmt='flv')."""
    return procs.publisher


def dump_logs(*procs: Proc) -> str:
    return "\n".join(f"--- {p.log_path.name}\n{p.output()[-3000:]}" for p in procs)
