"""The chart is installed; an RTMP publish through the NodePort goes Live."""

from __future__ import annotations

import time
from functools import partial

import pytest

from livestream_operator.api.naming import resource_name
from tests.support.waiting import wait_for

from .e2e_support import (
    WORKLOADS,
    Config,
    Kube,
    MediaMTXApi,
    livestream_manifest,
    pod_running,
    publishing,
    unique_id,
)

pytestmark = pytest.mark.e2e


def test_chart_is_installed(kube: Kube, cfg: Config) -> None:
    for comp, kind in WORKLOADS.items():
        name = cfg.component(comp)
        wait_for(partial(kube.rolled_out, kind, name), 120, f"{kind} {name} ready")
    hooks = kube.get_json("deployment", cfg.component("hooks"))
    assert hooks["spec"]["replicas"] == 2
    operator = kube.get_json("deployment", cfg.component("operator"))
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"]["type"] == "Recreate"
    rtmp = kube.get_json("service", cfg.component("mediamtx-rtmp"))
    assert rtmp["spec"]["type"] == "NodePort"


def test_mediamtx_is_one_named_instance_behind_a_headless_service(kube: Kube, cfg: Config) -> None:
    name = cfg.component("mediamtx")
    # An upgrade from the chart's Deployment leaves none behind.
    assert kube.get_or_none("deployment", name) is None
    mtx = kube.get_json("statefulset", name)
    assert mtx["spec"]["replicas"] == 1
    headless = cfg.component("mediamtx-headless")
    assert mtx["spec"]["serviceName"] == headless
    assert kube.get_json("service", headless)["spec"]["clusterIP"] == "None"
    # The instance's stable name: its hooks and auth calls give it.
    assert pod_running(kube.get_json("pod", f"{name}-0"))
    # ... and its address by that name: <name>-0.<headless>.<namespace>.svc.
    slices = kube.get_json("endpointslices", "-l", f"kubernetes.io/service-name={headless}")
    hostnames = {e.get("hostname") for s in slices["items"] for e in s.get("endpoints") or []}
    assert hostnames == {f"{name}-0"}


def test_get_livestreams_prints_the_columns(kube: Kube, streams: list[str]) -> None:
    sid = unique_id("e2e-cols")
    streams.append(sid)
    kube.apply(livestream_manifest(sid, sid, kube.ns, lifecycle="Persistent"))
    table = kube.kubectl("get", "livestreams", sid).stdout.splitlines()
    assert len(table) == 2, table
    header = table[0].split()
    assert header[:6] == ["NAME", "STREAM", "PHASE", "WORKER", "FORWARDER", "AGE"], header
    assert sid in table[1]
    wide = kube.kubectl("get", "livestreams", sid, "-o", "wide").stdout.splitlines()[0].split()
    for col in ("LIFECYCLE", "MODE", "OUTPUT", "MESSAGE"):
        assert col in wide, wide


def test_publish_goes_live(
    kube: Kube, cfg: Config, mtx: MediaMTXApi, ffmpeg: str, streams: list[str]
) -> None:
    sid = unique_id("e2e-live")
    name = resource_name(sid)
    streams.append(name)
    with publishing(kube.publish_url(sid)) as pub:
        t0 = time.monotonic()
        ls = wait_for(lambda: kube.livestream(name), 30, f"LiveStream {name} created", 0.2)
        created = time.monotonic() - t0
        assert ls["spec"]["streamId"] == sid
        wait_for(
            lambda: pod_running(kube.worker(name)),
            120,
            f"worker Pod {name}-worker running",
        )
        wait_for(lambda: mtx.available(f"live/{sid}/out"), 120, f"live/{sid}/out available")
        out = time.monotonic() - t0
        ls = kube.wait_phase(name, "Live", 60, pub)
        assert pub.running(), pub.output()
        assert (ls["status"].get("ingest") or {}).get("available") is True
        assert (ls["status"].get("output") or {}).get("available") is True
        pod = kube.worker(name)
        assert pod is not None
        labels = pod["metadata"]["labels"]
        assert labels.get("app.kubernetes.io/managed-by") == "livestream-operator"
        print(f"LiveStream created after {created:.2f}s, out available after {out:.2f}s")
        # The printed table shows the stream.
        table = kube.kubectl("get", "livestreams", name).stdout
        assert sid in table
        assert "Live" in table
