"""Stream keys and a locked-down control plane on kind, with real ffmpeg publishers
through the NodePort: what a platform engineer checks before going live."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from livestream_operator.api import stream_keys
from tests.support.waiting import wait_for

from .e2e_support import Config, Kube, Publisher, pod_running, publishing, unique_id

pytestmark = pytest.mark.e2e


def _refused(pub: Publisher, seconds: float = 10) -> bool:
    """Whether MediaMTX refused the publisher (ffmpeg exits) within `seconds`."""
    try:
        wait_for(lambda: not pub.running(), seconds, "the publisher to be refused", 0.2)
    except AssertionError:
        return False
    return True


def _events(kube: Kube, name: str) -> list[str]:
    events = kube.get_json("events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [str(e.get("reason")) for e in events]


def test_no_key_or_a_wrong_key_is_refused_and_leaves_nothing(kube: Kube, cfg: Config) -> None:
    sid = unique_id("e2e-nokey")
    kube.stream_key(sid)
    for url in (
        f"{cfg.rtmp_url}/live/{sid}/in",
        f"{cfg.rtmp_url}/live/{sid}/in?key={stream_keys.generate_key()}",
    ):
        with publishing(url) as pub:
            assert _refused(pub), pub.output()
    time.sleep(3)  # what a hook or the resync would have created by now
    assert kube.livestream(sid) is None
    assert kube.worker(sid) is None


def test_both_key_forms_reach_live(kube: Kube, cfg: Config) -> None:
    obs, userpass = unique_id("e2e-obs"), unique_id("e2e-userpass")
    key = kube.stream_key(userpass)
    with (
        publishing(kube.publish_url(obs)) as pub1,
        publishing(f"{cfg.rtmp_url}/live/{userpass}/in?user=publisher&pass={key}") as pub2,
    ):
        kube.wait_phase(obs, "Live", 120, pub1)
        kube.wait_phase(userpass, "Live", 120, pub2)
    for sid in (obs, userpass):
        kube.delete("livestream", sid)


def test_a_second_publisher_with_the_same_key_is_refused(kube: Kube, cfg: Config) -> None:
    sid = unique_id("e2e-inuse")
    url = kube.publish_url(sid)
    with publishing(url) as first:
        kube.wait_phase(sid, "Live", 120, first)
        with publishing(url) as second:
            assert _refused(second), second.output()
        assert first.running()
        wait_for(lambda: "StreamKeyInUse" in _events(kube, sid), 30, "a StreamKeyInUse Event")
        ls = kube.livestream(sid) or {}
        assert ls["status"]["phase"] == "Live"  # the first publisher kept its stream
    kube.delete("livestream", sid)


def test_rotation_and_revocation_disconnect_and_refuse(kube: Kube, cfg: Config) -> None:
    sid = unique_id("e2e-rotate")
    old_url = kube.publish_url(sid)
    with publishing(old_url) as pub:
        kube.wait_phase(sid, "Live", 120, pub)
        new_key = kube.stream_key(sid)  # rotate: the Secret gets a new key
        wait_for(lambda: not pub.running(), 30, "the old key's publisher to be disconnected")
    with publishing(old_url) as stale:
        assert _refused(stale), stale.output()
    new_url = f"{cfg.rtmp_url}/live/{sid}/in?key={new_key}"
    with publishing(new_url) as pub:
        kube.wait_phase(sid, "Live", 120, pub)
        kube.delete("secret", stream_keys.secret_name(sid))  # revoke
        wait_for(lambda: not pub.running(), 30, "the revoked key's publisher to be disconnected")
    assert "StreamKeyRevoked" in _events(kube, sid)
    kube.delete("livestream", sid)


@pytest.fixture
def stream_limit(kube: Kube, cfg: Config) -> Iterator[None]:
    """The receivers with LSO_MAX_STREAMS=1 for one test, then as the chart set them."""
    deployment = f"deployment/{cfg.component('hooks')}"
    spec = kube.get_json("deployment", cfg.component("hooks"))
    env = spec["spec"]["template"]["spec"]["containers"][0]["env"]
    original = next(e["value"] for e in env if e["name"] == "LSO_MAX_STREAMS")
    kube.kubectl("set", "env", deployment, "LSO_MAX_STREAMS=1")
    kube.kubectl("rollout", "status", deployment, "--timeout=180s", timeout=200)
    yield
    kube.kubectl("set", "env", deployment, f"LSO_MAX_STREAMS={original}")
    kube.kubectl("rollout", "status", deployment, "--timeout=180s", timeout=200)


def test_a_publish_over_the_stream_limit_is_refused(
    kube: Kube, cfg: Config, stream_limit: None
) -> None:
    first, second = unique_id("e2e-limit"), unique_id("e2e-limit")
    with publishing(kube.publish_url(first)) as pub:
        kube.wait_phase(first, "Live", 120, pub)
        with publishing(kube.publish_url(second)) as over:
            assert _refused(over), over.output()
        assert kube.livestream(second) is None
        assert kube.worker(second) is None
    kube.delete("livestream", first)


def _probe_pod(image: str, checks: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "no-credentials", "labels": {"app": "e2e-no-credentials"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/sh", "-c", "; ".join(checks)],
                }
            ],
        },
    }


def test_a_pod_without_credentials_cannot_read_in_call_the_api_or_post_hooks(
    kube: Kube, cfg: Config
) -> None:
    sid = unique_id("e2e-outsider")
    mtx = f"{cfg.component('mediamtx')}.{cfg.namespace}.svc"
    hooks = f"{cfg.component('hooks')}.{cfg.namespace}.svc:8080"
    event = json.dumps({"path": f"live/{sid}/in", "sourceType": "rtmpConn", "sourceId": "x"})
    status = "import sys,urllib.request as u;r=u.Request(sys.argv[1],data=sys.argv[2].encode() or None,headers={'Content-Type':'application/json'})\ntry: print(u.urlopen(r,timeout=5).status)\nexcept Exception as e: print(getattr(e,'code',e))"  # noqa: E501
    checks = [
        f"ffprobe -v error -rtsp_transport tcp -timeout 5000000 rtsp://{mtx}:8554/live/{sid}/in"
        " >/dev/null 2>&1; echo read-in=$?",
        f"echo api=$(python3 -c \"{status}\" http://{mtx}:9997/v3/paths/list '')",
        f"echo hook=$(python3 -c \"{status}\" http://{hooks}/v1/mediamtx/events/ready '{event}')",
    ]
    with publishing(kube.publish_url(sid)) as pub:
        kube.wait_phase(sid, "Live", 120, pub)
        kube.apply(_probe_pod(kube.chart_image("forwarder"), checks))
        try:
            wait_for(
                lambda: (
                    (kube.pod("no-credentials") or {}).get("status", {}).get("phase")
                    in ("Succeeded", "Failed")
                ),
                120,
                "the probe Pod to finish",
            )
            out = kube.kubectl("logs", "no-credentials").stdout
            # The worker, with its credentials, reads on.
            assert pod_running(kube.worker(sid))
        finally:
            kube.delete("pod", "no-credentials")
    results = dict(line.split("=", 1) for line in out.split() if "=" in line)
    assert results["read-in"] != "0", out  # MediaMTX refused the RTSP read
    assert results["api"] == "401", out
    assert results["hook"] == "401", out
    kube.delete("livestream", sid)
