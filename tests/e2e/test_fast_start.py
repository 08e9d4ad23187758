"""The fast start on kind: the LiveStream exists while MediaMTX still analyses the
publish, a warm worker takes the stream, and the pool is refilled."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import pytest

from livestream_operator.api.naming import resource_name
from tests.support.waiting import wait_for

from .e2e_support import Config, Kube, MediaMTXApi, publishing, unique_id

pytestmark = pytest.mark.e2e


def _phase(ls: dict[str, Any] | None) -> str | None:
    return ((ls or {}).get("status") or {}).get("phase")


def _readable(url: str) -> bool:
    """ffprobe finds a video and an audio stream at `url` (as a viewer would)."""
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None, "ffprobe not found (apt install ffmpeg)"
    proc = subprocess.run(
        [
            *(ffprobe, "-v", "error", "-rw_timeout", "10000000"),
            *("-show_entries", "stream=codec_type", "-of", "csv=p=0", url),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return sorted(proc.stdout.split()) == ["audio", "video"]


def test_livestream_appears_before_its_path_is_available(
    kube: Kube, cfg: Config, mtx: MediaMTXApi, ffmpeg: str, streams: list[str]
) -> None:
    sid = unique_id("e2e-early")
    name = resource_name(sid)
    streams.append(name)
    url = kube.publish_url(sid)
    key = url.rsplit("key=", 1)[1]
    before_available: list[str | None] = []
    with publishing(url) as pub:

        def seen() -> dict[str, Any] | None:
            ls = kube.livestream(name)
            available = mtx.available(f"live/{sid}/in")
            if ls is not None and not available:
                before_available.append(_phase(ls))
            return ls if ls is not None and available else None

        wait_for(seen, 30, f"LiveStream {name} and live/{sid}/in available", 0.05)
        # It existed, phase Connecting, while MediaMTX was still analysing the publish.
        assert before_available, "the LiveStream appeared only once the path was available"
        assert "Connecting" in before_available, before_available
        ls = kube.wait_phase(name, "Live", 60, pub)
        assert ls["status"]["ingest"]["available"] is True
        assert "connectingSince" not in ls["status"]["ingest"]
        # The worker publishes out over RTSP; viewers read it over RTMP as before.
        assert ls["spec"]["worker"]["output"] == "rtsp"
        out = f"{cfg.rtmp_url}/live/{sid}/out?key={key}"
        wait_for(lambda: _readable(out), 30, f"live/{sid}/out readable over RTMP")
        assert pub.running(), pub.output()


def _pool_size(kube: Kube, cfg: Config) -> int:
    deployment = kube.get_json("deployment", cfg.component("operator"))
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    return int(env.get("LSO_WORKER_POOL_SIZE") or 0)


def _ready_idle(kube: Kube, size: int) -> set[str] | None:
    idle = kube.ready_idle_workers()
    return idle if len(idle) >= size else None


def test_a_new_stream_takes_a_warm_worker_and_the_pool_refills(
    kube: Kube, cfg: Config, mtx: MediaMTXApi, ffmpeg: str, streams: list[str]
) -> None:
    size = _pool_size(kube, cfg)
    assert size >= 1, "the chart's default keeps a warm pool on kind"
    warm = wait_for(lambda: _ready_idle(kube, size), 120, f"{size} ready warm workers")
    sid = unique_id("e2e-warm")
    name = resource_name(sid)
    streams.append(name)
    with publishing(kube.publish_url(sid)) as pub:
        t0 = time.monotonic()
        worker = wait_for(lambda: kube.worker(name), 30, f"a worker for {name}", 0.1)
        took = time.monotonic() - t0
        assert worker["metadata"]["name"] in warm, "the stream got a new Pod, not a warm one"
        (owner,) = worker["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("LiveStream", name)
        assert worker["metadata"]["labels"]["media.livestream-operator.dev/pool"] == "claimed"
        # It learnt its stream without a restart: same container, no restarts.
        kube.wait_phase(name, "Live", 60, pub)
        now = kube.worker(name)
        assert now is not None
        assert now["metadata"]["uid"] == worker["metadata"]["uid"]
        assert now["status"]["containerStatuses"][0]["restartCount"] == 0
        assert mtx.available(f"live/{sid}/out")
        # The pool is refilled with new Pods.
        refilled = wait_for(lambda: _ready_idle(kube, size), 120, "the pool refilled")
        assert worker["metadata"]["name"] not in refilled
        print(f"warm worker claimed {took:.2f}s after the publish started")
