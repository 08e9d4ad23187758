from __future__ import annotations

from livestream_operator.reconcile import pods as manifests
from livestream_operator.settings import Settings

from .test_plan import LIVE_IN, ls

SETTINGS = Settings(mediamtx_rtsp_url="rtsp://m:8554", mediamtx_rtmp_url="rtmp://m:1935")


def test_worker_pod() -> None:
    pod = manifests.worker_pod(
        ls(ingest=LIVE_IN, worker={"mode": "tone", "image": "w:1"}), SETTINGS
    )
    assert pod["metadata"]["name"] == "cam-worker"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "livestream-operator"
    c = pod["spec"]["containers"][0]
    assert c["image"] == "w:1"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["LSO_INPUT_URL"] == "rtsp://m:8554/live/cam/in"
    assert env["LSO_OUTPUT_URL"] == "rtsp://m:8554/live/cam/out"  # no second analysis
    assert env["LSO_MODE"] == "tone"
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_worker_output_over_rtmp_when_asked() -> None:
    pod = manifests.worker_pod(ls(ingest=LIVE_IN, worker={"output": "rtmp"}), SETTINGS)
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["LSO_OUTPUT_URL"] == "rtmp://m:1935/live/cam/out"


def test_forwarder_pod_reads_urls_from_secrets_only() -> None:
    body = ls(
        forwarder={
            "destinations": [{"name": "yt", "urlSecretRef": {"name": "keys", "key": "youtube"}}]
        }
    )
    pod = manifests.forwarder_pod(body, SETTINGS)
    assert pod is not None
    (c,) = pod["spec"]["containers"]
    assert c["name"] == "dest-yt"
    url = next(e for e in c["env"] if e["name"] == "LSO_DESTINATION_URL")
    assert url == {
        "name": "LSO_DESTINATION_URL",
        "valueFrom": {"secretKeyRef": {"name": "keys", "key": "youtube"}},
    }
    assert manifests.forwarder_pod(ls(), SETTINGS) is None


def test_manifests_are_deterministic() -> None:
    body = ls(ingest=LIVE_IN)
    assert manifests.worker_pod(body, SETTINGS) == manifests.worker_pod(body, SETTINGS)
