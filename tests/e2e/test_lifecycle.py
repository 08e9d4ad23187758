"""Grace period: a reconnect within it keeps the worker; after it, everything is gone."""

from __future__ import annotations

import json
import time

import pytest

from livestream_operator.api.naming import resource_name
from tests.support.waiting import wait_for

from .e2e_support import Config, Kube, pod_running, publishing, unique_id

pytestmark = pytest.mark.e2e


def test_reconnect_within_grace_keeps_the_worker_then_grace_ends_the_stream(
    kube: Kube, cfg: Config, ffmpeg: str, streams: list[str]
) -> None:
    sid = unique_id("e2e-grace")
    name = resource_name(sid)
    streams.append(name)
    url = kube.publish_url(sid)
    with publishing(url) as pub:
        kube.wait_phase(name, "Live", 120, pub)
        worker = kube.worker(name)
        assert pod_running(worker)
        assert worker is not None
        uid = worker["metadata"]["uid"]
        grace = kube.livestream(name)["spec"]["gracePeriodSeconds"]  # type: ignore[index]
        assert grace >= 10, "the default grace period is too short for this test"
    # The publisher is gone: the stream waits for it.
    wait_for(
        lambda: ((kube.livestream(name) or {}).get("status") or {}).get("graceDeadline"),
        30,
        "the grace period to start",
    )
    time.sleep(2)
    with publishing(url) as pub:
        kube.wait_phase(name, "Live", 60, pub)
        worker = kube.worker(name)
        assert worker is not None
        assert worker["metadata"]["uid"] == uid, "worker was replaced"
        ls = kube.livestream(name)
        assert ls is not None
        assert not (ls.get("status") or {}).get("graceDeadline")
        # Shorten the grace period for the rest of the test.
        kube.kubectl(
            "patch",
            "livestream",
            name,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"gracePeriodSeconds": 5}}),
        )
    t0 = time.monotonic()
    kube.wait_gone("livestream", name, 5 + 60)
    wait_for(
        lambda: (
            not [p for p in kube.managed_pods() if p["metadata"]["name"].startswith(f"{name}-")]
        ),
        60,
        "no Pods of the stream",
    )
    gone = time.monotonic() - t0
    assert gone >= 4, f"the stream ended {gone:.1f}s after the publisher left, before its grace"
