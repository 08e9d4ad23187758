"""Process mode on kind: a LiveStream whose worker sends its audio through the
chart's reference backend, and one whose backend is not there."""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
from typing import Any

import pytest

from tests.support.waiting import wait_for

from .e2e_support import (
    Config,
    Kube,
    lavfi_args,
    livestream_manifest,
    publishing,
    unique_id,
)

pytestmark = pytest.mark.e2e

RATE = 8000


def _processing(cfg: Config, service: str, **extra: Any) -> dict[str, Any]:
    return {
        "backend": {
            "service": {"name": cfg.component(service), "port": 8080, "path": "/v1/audio"},
            "credentialsSecretRef": {"name": cfg.component("backend-token"), "key": "token"},
        },
        "mix": "replace",
        **extra,
    }


def _dominant(url: str, seconds: float = 2.0) -> float:
    """The strongest frequency (10 Hz grid, 100-3000 Hz) of the stream's audio."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    proc = subprocess.run(
        [ffmpeg, "-v", "error", "-rw_timeout", "10000000", "-i", url, "-t", str(seconds),
         "-vn", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
        capture_output=True, timeout=40, check=False,
    )  # fmt: skip
    data = proc.stdout[: len(proc.stdout) // 2 * 2]
    samples = struct.unpack(f"<{len(data) // 2}h", data)[RATE // 2 : RATE // 2 + RATE]
    assert len(samples) == RATE, f"only {len(samples)} samples decoded from {url}"

    def power(freq: int) -> float:
        coeff = 2 * math.cos(2 * math.pi * freq / RATE)
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x + coeff * s1 - s2, s1
        return s1 * s1 + s2 * s2 - coeff * s1 * s2

    return float(max(range(100, 3001, 10), key=power))


def _processing_status(ls: dict[str, Any] | None) -> dict[str, Any]:
    return ((ls or {}).get("status") or {}).get("processing") or {}


def _condition(ls: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in ((ls or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return {}


def test_process_mode_with_the_tone_backend_reaches_live_with_processed_audio(
    kube: Kube, cfg: Config, ffmpeg: str, streams: list[str]
) -> None:
    sid = unique_id("e2e-proc")
    streams.append(sid)
    kube.apply(
        livestream_manifest(
            sid,
            sid,
            kube.ns,
            lifecycle="Persistent",
            worker={"mode": "process", "processing": _processing(cfg, "backend-tone")},
        )
    )
    url = kube.publish_url(sid)
    key = url.rsplit("key=", 1)[1]
    with publishing(url, input_args=lavfi_args(sine_hz=1000)) as pub:
        kube.wait_phase(sid, "Live", 90, pub)
        wait_for(
            lambda: _processing_status(kube.livestream(sid)).get("state") == "Processing",
            30,
            "status.processing.state Processing",
        )
        out = f"{cfg.rtmp_url}/live/{sid}/out?key={key}"
        assert _dominant(out) == pytest.approx(440, abs=10)  # the input is a 1 kHz sine
        assert _condition(kube.livestream(sid), "Processing")["status"] == "True"
        worker = kube.worker(sid)
        assert worker is not None
        env = {e["name"]: e for e in worker["spec"]["containers"][0]["env"]}
        # The token reaches the worker from the Secret, never as a value.
        assert "value" not in env["LSO_BACKEND_TOKEN"]
        assert env["LSO_BACKEND_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "token"
        assert pub.running(), pub.output()


def test_process_mode_without_its_backend_stays_live_on_the_original_audio(
    kube: Kube, cfg: Config, ffmpeg: str, streams: list[str]
) -> None:
    """The backend Service does not exist: the stream still goes Live, its output
    carries the original audio, and status and an Event say why."""
    sid = unique_id("e2e-nobackend")
    streams.append(sid)
    processing = {
        "backend": {"service": {"name": "no-such-backend", "port": 8080}},
        "mix": "replace",
    }
    kube.apply(
        livestream_manifest(
            sid,
            sid,
            kube.ns,
            lifecycle="Persistent",
            worker={"mode": "process", "processing": processing},
        )
    )
    url = kube.publish_url(sid)
    key = url.rsplit("key=", 1)[1]
    with publishing(url, input_args=lavfi_args(sine_hz=1000)) as pub:
        kube.wait_phase(sid, "Live", 90, pub)
        status = wait_for(
            lambda: (
                _processing_status(kube.livestream(sid)).get("state") == "Fallback"
                and _processing_status(kube.livestream(sid))
            ),
            40,
            "status.processing.state Fallback",
        )
        assert status["reason"] in ("BackendUnavailable", "BreakerOpen"), status
        cond = _condition(kube.livestream(sid), "Processing")
        assert cond["status"] == "False"
        assert cond["reason"] in ("BackendUnavailable", "BreakerOpen"), cond
        out = f"{cfg.rtmp_url}/live/{sid}/out?key={key}"
        assert _dominant(out) == pytest.approx(1000, abs=10)
        events = kube.get_json(
            "events", "--field-selector", f"involvedObject.name={sid},reason=ProcessingFallback"
        )["items"]
        assert events, "no ProcessingFallback Event"
        assert events[0]["type"] == "Warning"
        assert pub.running(), pub.output()


def test_bad_backend_config_is_refused_naming_the_field(kube: Kube) -> None:
    sid = unique_id("e2e-badproc")
    manifest = livestream_manifest(
        sid,
        sid,
        kube.ns,
        worker={
            "mode": "process",
            "processing": {"backend": {"url": "http://user:pw@backend/"}, "fragmentMs": 5},
        },
    )
    proc = kube.kubectl("apply", "-f", "-", input=json.dumps(manifest), check=False)
    assert proc.returncode != 0
    assert "spec.worker.processing.backend.url" in proc.stderr
    assert "spec.worker.processing.fragmentMs" in proc.stderr
    assert kube.livestream(sid) is None
