"""A Persistent LiveStream restreams to two destinations: one reachable, one not."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.waiting import wait_for

from .e2e_support import (
    Config,
    Kube,
    MediaMTXApi,
    livestream_manifest,
    pod_running,
    publishing,
    unique_id,
)

pytestmark = pytest.mark.e2e

SINK_CONFIG = """\
logLevel: info
rtmp: true
rtmpAddress: :1935
rtsp: false
hls: false
webrtc: false
srt: false
api: true
apiAddress: :9997
authInternalUsers:
  - user: any
    pass:
    ips: []
    permissions:
      - action: publish
      - action: read
      - action: api
paths:
  all_others: {}
"""


def _sink(kube: Kube, cfg: Config, name: str) -> list[dict[str, Any]]:
    image = kube.get_json("deployment", cfg.component("mediamtx"))["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    labels = {"app.kubernetes.io/name": name}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"mediamtx.yml": SINK_CONFIG},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "mediamtx",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["/etc/sink/mediamtx.yml"],
                        "ports": [{"containerPort": 1935}, {"containerPort": 9997}],
                        "readinessProbe": {"tcpSocket": {"port": 1935}, "periodSeconds": 2},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/sink"}],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": name}}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "selector": labels,
                "ports": [{"name": "rtmp", "port": 1935}, {"name": "api", "port": 9997}],
            },
        },
    ]


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
    objs = _sink(kube, cfg, sink)
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret},
            "type": "Opaque",
            "stringData": {
                "sink": f"rtmp://{sink}.{ns}.svc:1935/restream/{sid}",
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
    sink_api = MediaMTXApi(kube, f"pod/{sink}", 9997)
    try:
        kube.apply(objs)
        wait_for(lambda: pod_running(kube.pod(sink)), 120, "sink ready")
        with publishing(kube.publish_url(sid)) as pub:
            kube.wait_phase(name, "Live", 120, pub)
            wait_for(
                lambda: pod_running(kube.pod(f"{name}-forwarder")), 120, f"{name}-forwarder running"
            )
            wait_for(
                lambda: sink_api.available(f"restream/{sid}"), 120, "the sink receives the stream"
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
            before = (sink_api.get(f"restream/{sid}") or {}).get("inboundBytes", 0)
            # For a while the failing destination keeps failing; the other keeps flowing.
            for _ in range(10):
                time.sleep(1.5)
                assert sink_api.available(f"restream/{sid}"), "sink lost the stream"
            d = _destinations(kube.livestream(name))
            assert d["sink"]["state"] == "Active"
            assert d["sink"].get("restarts", 0) == sink_restarts
            # Its forwarder reports its retries (maxRetries 0 by default: forever).
            assert d["nowhere"]["state"] == "Retrying"
            assert d["nowhere"]["retries"] >= 1
            assert d["nowhere"]["nextRetryTime"]
            assert d["nowhere"].get("lastError")  # redacted by the forwarder
            after = (sink_api.get(f"restream/{sid}") or {}).get("inboundBytes", 0)
            assert after > before, "no bytes reached the sink meanwhile"
            assert pub.running(), pub.output()
    finally:
        sink_api.close()
        kube.delete("livestream", name)
        for kind, obj in (
            ("pod", sink),
            ("service", sink),
            ("configmap", sink),
            ("secret", secret),
        ):
            kube.delete(kind, obj)
