from __future__ import annotations

import json
from typing import Any

from livestream_operator.api.pod_contract import WorkerProcessing
from livestream_operator.api.v1alpha1 import FailoverStatus, IngestStatus, InputRole
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


PROCESS: dict[str, Any] = {
    "mode": "process",
    "processing": {
        "backend": {
            "service": {"name": "loudness", "port": 8080, "path": "/v1/audio"},
            "credentialsSecretRef": {"name": "backend-token", "key": "token"},
            "params": {"targetLufs": "-16"},
        },
        "fragmentMs": 400,
        "mix": "replace",
    },
}


def _env(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}


def test_process_mode_tells_the_worker_its_resolved_backend() -> None:
    pod = manifests.worker_pod(ls(ingest=LIVE_IN, worker=PROCESS), SETTINGS)
    env = _env(pod)
    assert env["LSO_MODE"]["value"] == "process"
    told = WorkerProcessing.model_validate_json(env["LSO_PROCESSING"]["value"])
    assert told.backend_url == "ws://loudness.ns.svc:8080/v1/audio"
    assert (told.fragment_ms, told.deadline_ms, told.max_in_flight) == (400, 1000, 4)
    assert (told.mix, told.duck_db, told.params) == ("replace", -12.0, {"targetLufs": "-16"})
    assert json.loads(env["LSO_PROCESSING"]["value"])["backendUrl"]  # camelCase on the wire


def test_backend_token_comes_from_the_users_secret_by_reference_only() -> None:
    env = _env(manifests.worker_pod(ls(ingest=LIVE_IN, worker=PROCESS), SETTINGS))
    assert env["LSO_BACKEND_TOKEN"] == {
        "name": "LSO_BACKEND_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "backend-token", "key": "token"}},
    }
    no_token = {**PROCESS, "processing": {"backend": {"url": "wss://dsp.example/a"}}}
    env = _env(manifests.worker_pod(ls(ingest=LIVE_IN, worker=no_token), SETTINGS))
    assert "LSO_BACKEND_TOKEN" not in env
    assert "wss://dsp.example/a" in env["LSO_PROCESSING"]["value"]


def test_other_modes_have_no_processing_and_no_token() -> None:
    env = _env(manifests.worker_pod(ls(ingest=LIVE_IN, worker={"mode": "tone"}), SETTINGS))
    assert env["LSO_PROCESSING"]["value"] == ""
    assert "LSO_BACKEND_TOKEN" not in env


def test_the_internal_secret_is_never_the_backend_token() -> None:
    settings = Settings(internal_secret="lso-internal")
    ref = {"name": "lso-internal", "key": "pool-token"}
    worker = {**PROCESS, "processing": {"backend": {"url": "ws://x/", "credentialsSecretRef": ref}}}
    body = ls(ingest=LIVE_IN, worker=worker)
    assert manifests.credentials_refused(body, settings)
    assert not manifests.credentials_refused(ls(ingest=LIVE_IN, worker=PROCESS), settings)
    assert not manifests.credentials_refused(body, Settings())  # no internal Secret to guard
    env = _env(manifests.worker_pod(body, settings))
    assert "LSO_BACKEND_TOKEN" not in env


def test_a_stream_keys_secret_is_never_the_backend_token() -> None:
    ref = {"name": "lso-key-other", "key": "streamKey"}
    worker = {**PROCESS, "processing": {"backend": {"url": "ws://x/", "credentialsSecretRef": ref}}}
    refused = manifests.credentials_refused(ls(ingest=LIVE_IN, worker=worker), Settings())
    assert refused is not None
    assert "lso-key-other" in refused


def test_a_processing_change_changes_the_spec_hash() -> None:
    before = manifests.worker_pod(ls(ingest=LIVE_IN, worker=PROCESS), SETTINGS)
    edited = {**PROCESS, "processing": {**PROCESS["processing"], "deadlineMs": 700}}
    after = manifests.worker_pod(ls(ingest=LIVE_IN, worker=edited), SETTINGS)
    assert manifests.spec_hash(before) != manifests.spec_hash(after)
    again = manifests.worker_pod(ls(ingest=LIVE_IN, worker=PROCESS), SETTINGS)
    assert manifests.spec_hash(before) == manifests.spec_hash(again)


# Two MediaMTX instances behind a headless Service, as the chart names them.
TWO = SETTINGS.model_copy(
    update={"mediamtx_instances": ["mtx-0", "mtx-1"], "mediamtx_domain": "mtx.ns.svc"}
)


def _hash(pod: dict[str, Any] | None) -> str:
    assert pod is not None
    return str(pod["metadata"]["annotations"][manifests.SPEC_HASH_ANNOTATION])


def _urls(pod: dict[str, Any]) -> tuple[str, str]:
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    return env["LSO_INPUT_URL"], env["LSO_OUTPUT_URL"]


def test_the_worker_and_forwarder_follow_the_streams_instance() -> None:
    dest = {"destinations": [{"name": "yt", "urlSecretRef": {"name": "k", "key": "yt"}}]}
    on_1 = ls(ingest={**LIVE_IN, "instance": "mtx-1"}, forwarder=dest)
    assert _urls(manifests.worker_pod(on_1, TWO)) == (
        "rtsp://mtx-1.mtx.ns.svc:8554/live/cam/in",
        "rtsp://mtx-1.mtx.ns.svc:8554/live/cam/out",
    )
    forwarder = manifests.forwarder_pod(on_1, TWO)
    assert forwarder is not None
    env = {e["name"]: e.get("value") for e in forwarder["spec"]["containers"][0]["env"]}
    assert env["LSO_INPUT_URL"] == "rtsp://mtx-1.mtx.ns.svc:8554/live/cam/out"
    # The publisher moved to the other instance: new Pods there.
    on_0 = ls(ingest={**LIVE_IN, "instance": "mtx-0"}, forwarder=dest)
    assert _hash(manifests.worker_pod(on_0, TWO)) != _hash(manifests.worker_pod(on_1, TWO))
    assert _hash(manifests.forwarder_pod(on_0, TWO)) != _hash(forwarder)


def test_on_the_default_instance_the_pods_hash_as_with_one_mediamtx() -> None:
    """A single-instance release that starts naming its instance replaces nothing."""
    for ingest in ({**LIVE_IN, "instance": "mtx-0"}, LIVE_IN):
        body = ls(ingest=ingest)
        assert _hash(manifests.worker_pod(body, TWO)) == _hash(
            manifests.worker_pod(ls(ingest=LIVE_IN), SETTINGS)
        )


def test_a_backup_on_another_instance_is_read_there_and_out_stays_home() -> None:
    body = ls(ingest={**LIVE_IN, "available": False, "instance": "mtx-1"})
    status = body.status.model_copy(
        update={
            "backup": IngestStatus(available=True, source_id="b1", instance="mtx-0"),
            "failover": FailoverStatus(active=InputRole.BACKUP),
        }
    )
    body = body.model_copy(update={"status": status})
    assert _urls(manifests.worker_pod(body, TWO)) == (
        "rtsp://mtx-0.mtx.ns.svc:8554/live/cam/backup",
        "rtsp://mtx-1.mtx.ns.svc:8554/live/cam/out",
    )
