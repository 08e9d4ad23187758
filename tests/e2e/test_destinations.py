"""A Persistent LiveStream restreams to two destinations: one reachable, one not."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.waiting import wait_for

from .e2e_support import (
    Config,
    Kube,
    Sink,
    livestream_manifest,
    pod_running,
    publishing,
    unique_id,
)

pytestmark = pytest.mark.e2e


def _destinations(ls: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    fwd = ((ls or {}).get("status") or {}).get("forwarder") or {}
    return {d["name"]: d for d in fwd.get("destinations") or []}


def test_one_failing_destination_does_not_disturb_the_other(
    kube: Kube, cfg: Config, ffmpeg: str, streams: list[str]
) -> None:
    sid = unique_id("e2e-dest")
    name = sid
    sink = f"{sid}-sink"
    secret = f"{sid}-urls"
    ns = kube.ns
    objs: list[dict[str, Any]] = []
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret},
            "type": "Opaque",
            "stringData": {
                "sink": Sink(kube, sink).url(f"restream/{sid}"),
                # Resolves nowhere: the forwarder for it can only fail.
                "nowhere": f"rtmp://{sid}-nowhere.{ns}.svc:1935/restream/{sid}",
            },
        }
    )
    objs.append(
        livestream_manifest(
            name,
            sid,
            ns,
            lifecycle="Persistent",
            gracePeriodSeconds=10,
            forwarder={
                "destinations": [
                    {"name": "sink", "urlSecretRef": {"name": secret, "key": "sink"}},
                    {"name": "nowhere", "urlSecretRef": {"name": secret, "key": "nowhere"}},
                ]
            },
        )
    )
    streams.append(name)
    sink_mtx = Sink(kube, sink)
    try:
        sink_mtx.start()
        kube.apply(objs)
        with publishing(kube.publish_url(sid)) as pub:
            kube.wait_phase(name, "Live", 120, pub)
            wait_for(
                lambda: pod_running(kube.pod(f"{name}-forwarder")), 120, f"{name}-forwarder running"
            )
            wait_for(
                lambda: sink_mtx.session(f"restream/{sid}"), 120, "the sink receives the stream"
            )

            def states() -> dict[str, dict[str, Any]] | None:
                d = _destinations(kube.livestream(name))
                ok = (
                    d.get("sink", {}).get("state") == "Active"
                    and d.get("nowhere", {}).get("state") == "Retrying"
                )
                return d if ok else None

            try:
                dests = wait_for(states, 120, "status: sink Active, nowhere Retrying")
            except AssertionError as exc:
                current = kube.livestream(name) or {}
                fwd = kube.pod(f"{name}-forwarder") or {}
                raise AssertionError(
                    f"{exc}\nstatus: {current.get('status')}\n"
                    f"forwarder containers: {(fwd.get('status') or {}).get('containerStatuses')}"
                ) from None
            ls = kube.livestream(name)
            assert ls is not None
            assert ls["status"]["forwarder"].get("ready") == "1/2"
            sink_restarts = dests["sink"].get("restarts", 0)
            before = sink_mtx.inbound_bytes(f"restream/{sid}")
            # For a while the failing destination keeps failing; the other keeps flowing.
            for _ in range(10):
                time.sleep(1.5)
                assert sink_mtx.session(f"restream/{sid}"), "sink lost the stream"
            d = _destinations(kube.livestream(name))
            assert d["sink"]["state"] == "Active"
            assert d["sink"].get("restarts", 0) == sink_restarts
            # Its forwarder reports its retries (maxRetries 0 by default: forever).
            assert d["nowhere"]["state"] == "Retrying"
            assert d["nowhere"]["retries"] >= 1
            # Waiting for its next retry, or making it (then the next is not set yet).
            assert d["nowhere"].get("nextRetryTime") or d["nowhere"].get("lastRetryTime")
            assert d["nowhere"].get("lastError")  # redacted by the forwarder
            after = sink_mtx.inbound_bytes(f"restream/{sid}")
            assert after > before, "no bytes reached the sink meanwhile"
            assert pub.running(), pub.output()
    finally:
        kube.delete("livestream", name)
        sink_mtx.delete()
        kube.delete("secret", secret)
