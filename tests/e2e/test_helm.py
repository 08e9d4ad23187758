"""`helm test` publishes for real; `helm uninstall` leaves no project Pods behind."""

from __future__ import annotations

import json
import tempfile
from typing import Any

import pytest

from tests.support.waiting import wait_for

from .e2e_support import REPO, Config, Kube, fullname, lavfi_args, pod_running, unique_id

pytestmark = pytest.mark.e2e

CHART = REPO / "charts" / "livestream-operator"


def test_helm_test_publishes_a_real_stream(kube: Kube, cfg: Config, helm_bin: str) -> None:
    proc = kube.helm("test", cfg.release, "--timeout", "5m", "--logs", check=False, timeout=400)
    assert proc.returncode == 0, f"helm test failed:\n{proc.stdout}\n{proc.stderr}"
    assert "PASS" in proc.stdout


def _publisher_pod(name: str, image: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "ffmpeg",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": [
                        "ffmpeg",
                        "-hide_banner",
                        "-loglevel",
                        "error",
                        *lavfi_args(),
                        "-t",
                        "600",
                        "-f",
                        "flv",
                        url,
                    ],
                }
            ],
        },
    }


def test_helm_uninstall_leaves_no_project_pods(kube: Kube, cfg: Config, helm_bin: str) -> None:
    """A second release in its own namespace, with a live stream, is uninstalled."""
    ns = unique_id("e2e-uninstall")
    release = "livestream-operator-u"
    other = kube.in_namespace(ns)
    # The same images and settings as the installed release, without the NodePort.
    values = json.loads(kube.helm("get", "values", cfg.release, "--all", "-o", "json").stdout)
    values.setdefault("mediamtx", {}).setdefault("rtmp", {})["service"] = {
        "type": "ClusterIP",
        "port": 1935,
        "nodePort": None,
        "annotations": {},
    }
    # The RTSP and SRT NodePorts are the installed release's too.
    for protocol in ("rtsp", "srt"):
        values["mediamtx"].setdefault(protocol, {}).setdefault("service", {})["enabled"] = False
    # So are the playback (and HLS) NodePorts; recordings need no volume here.
    playback = values.setdefault("playback", {})
    playback.setdefault("service", {})["enabled"] = False
    playback.setdefault("hls", {})["enabled"] = False
    values.setdefault("recording", {}).setdefault("persistence", {})["enabled"] = False
    values.setdefault("hooks", {})["replicas"] = 1
    values.setdefault("tests", {})["enabled"] = False
    values.setdefault("uninstall", {})["timeoutSeconds"] = 60
    # The CRD is cluster-wide and belongs to the installed release.
    values["crds"] = {"enabled": False, "keep": True}
    try:  # a failed install is cleaned up too
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(values, f)
            f.flush()
            other.helm(
                "install",
                release,
                str(CHART),
                "--create-namespace",
                "-f",
                f.name,
                "--wait",
                "--timeout",
                "5m",
                timeout=400,
            )
        forwarder = values["images"]["forwarder"]
        tag = forwarder.get("tag") or values["image"].get("tag") or "0.1.0"
        reg = values["image"].get("registry")
        image = f"{reg + '/' if reg else ''}{forwarder['repository']}:{tag}"
        sid = unique_id("e2e-u")
        key = other.stream_key(sid)
        url = f"rtmp://{fullname(release)}-mediamtx.{ns}.svc:1935/live/{sid}/in?key={key}"
        other.apply(_publisher_pod("publisher", image, url))
        wait_for(lambda: pod_running(other.worker(sid)), 180, f"{sid}-worker running in {ns}")
        other.helm("uninstall", release, "--wait", "--timeout", "5m", timeout=400)
        other.delete("pod", "publisher", wait=True)

        def leftovers() -> list[str]:
            pods = other.get_json("pods")["items"]
            return [
                p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")
            ]

        wait_for(lambda: not leftovers(), 120, f"no Pods left in {ns} (left: {leftovers()})")
        assert not other.managed_pods()
        assert other.livestreams() == []
    finally:
        other.helm("uninstall", release, "--wait", check=False, timeout=400)
        left = other.get_json("livestreams")["items"] if other.get_or_none("namespace", ns) else []
        for ls in left:
            other.kubectl(
                "patch",
                "livestream",
                ls["metadata"]["name"],
                "--type=merge",
                "-p",
                '{"metadata":{"finalizers":null}}',
                check=False,
            )
        kube.kubectl(
            "delete", "namespace", ns, "--ignore-not-found", "--wait=false", namespaced=False
        )
