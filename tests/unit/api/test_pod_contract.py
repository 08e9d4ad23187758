"""The Pod contract: what the operator writes into a container's environment is
exactly what the worker and the forwarder read back."""

from __future__ import annotations

import pytest

from livestream_operator.api.pod_contract import (
    RUNTIME_ENV,
    ContractError,
    ForwarderEnv,
    WorkerAssignment,
    WorkerEnv,
)
from livestream_operator.api.v1alpha1 import InputLossFill, LiveStream, WorkerMode
from livestream_operator.forwarder.config import parse_args as forwarder_args
from livestream_operator.reconcile import pods
from livestream_operator.settings import Settings
from livestream_operator.worker.config import assigned
from livestream_operator.worker.config import parse_args as worker_args

SETTINGS = Settings(mediamtx_rtsp_url="rtsp://m:8554", mediamtx_rtmp_url="rtmp://m:1935")
CAM = LiveStream.model_validate(
    {
        "metadata": {"name": "cam", "namespace": "ns", "uid": "u"},
        "spec": {
            "streamId": "Cam.1",
            "worker": {"mode": "tone"},
            "forwarder": {
                "destinations": [
                    {"name": "a", "urlSecretRef": {"name": "s", "key": "a"}},
                    {"name": "b", "urlSecretRef": {"name": "s", "key": "b"}},
                ]
            },
        },
    }
)


def _values(container: dict[str, object]) -> dict[str, str]:
    env = container["env"]
    assert isinstance(env, list)
    return {e["name"]: e["value"] for e in env if "value" in e}


def test_worker_reads_back_what_the_operator_wrote() -> None:
    (container,) = pods.worker_pod(CAM, SETTINGS)["spec"]["containers"]
    env = _values(container)
    cfg = worker_args([], env)
    assert (cfg.stream_id, cfg.mode, cfg.metrics_port) == ("Cam.1", WorkerMode.TONE, 9100)
    assert cfg.fill is InputLossFill.SLATE  # spec.inputLoss's default
    assert cfg.input_url == "rtsp://m:8554/live/Cam.1/in"
    assert cfg.output_url == "rtsp://m:8554/live/Cam.1/out"
    # The port the worker serves is the one its probe and port declaration use.
    assert container["ports"] == [{"name": "metrics", "containerPort": cfg.metrics_port}]
    assert container["readinessProbe"]["httpGet"]["port"] == cfg.metrics_port
    assert RUNTIME_ENV.items() <= env.items()


def test_a_pool_worker_reads_back_its_pod_and_then_its_assignment() -> None:
    (container,) = pods.pool_worker_pod(SETTINGS)["spec"]["containers"]
    assert container["args"] == ["worker", "--pool"]
    env = _values(container)
    contract = WorkerEnv.from_env(env)
    assert (contract.stream_id, contract.input_url, contract.metrics_port) == ("", "", 9100)
    # The assignment carries the stream part of the same contract, as JSON.
    wire = WorkerAssignment.of(pods.worker_env(CAM, SETTINGS)).model_dump_json(by_alias=True)
    back = WorkerAssignment.model_validate_json(wire)
    assert (back.stream_id, back.mode, back.fill) == ("Cam.1", WorkerMode.TONE, InputLossFill.SLATE)
    assert assigned(worker_args(["--pool"], env), back).fill is InputLossFill.SLATE
    assert back.output_url == "rtsp://m:8554/live/Cam.1/out"


def test_each_forwarder_container_reads_back_its_own_destination() -> None:
    manifest = pods.forwarder_pod(CAM, SETTINGS)
    assert manifest is not None
    ports = set()
    for container in manifest["spec"]["containers"]:
        env = _values(container) | {ForwarderEnv.DESTINATION_URL_VAR: "rtmp://x/app/key"}
        cfg = forwarder_args([], env)
        assert cfg.input_url == "rtsp://m:8554/live/Cam.1/out"
        assert container["name"] == f"dest-{cfg.name}"
        assert container["readinessProbe"]["httpGet"]["port"] == cfg.metrics_port
        ports.add(cfg.metrics_port)
    assert ports == {9101, 9102}  # one port each: the containers share the Pod's network


def test_round_trip() -> None:
    env = WorkerEnv(stream_id="s", input_url="rtsp://h/live/s/in", mode=WorkerMode.TONE)
    assert WorkerEnv.from_env(env.to_env()) == env
    fwd = ForwarderEnv(stream_id="s", destination_name="yt", metrics_port=9101)
    assert ForwarderEnv.from_env(fwd.to_env()) == fwd


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("LSO_METRICS_PORT", "9x", "integer"),
        ("LSO_MODE", "loud", "one of bypass, tone"),
        ("LSO_FILL", "black", "one of Slate, None"),
    ],
)
def test_a_bad_variable_is_named(var: str, value: str, says: str) -> None:
    with pytest.raises(ContractError, match=f"{var} must be .*{says}"):
        WorkerEnv.from_env({var: value})


def test_only_bypass_with_a_slate_fill_normalises_its_audio() -> None:
    # Tone and process mode make their audio in out's declared format already.
    base = ["--input", "rtsp://h/live/s/in", "--output", "rtsp://h/live/s/out"]
    assert worker_args([*base, "--fill", "Slate"], {}).normalise_audio
    assert not worker_args([*base, "--fill", "None"], {}).normalise_audio
    assert not worker_args([*base, "--fill", "Slate", "--mode", "tone"], {}).normalise_audio


def _hold_of(spec: dict[str, object]) -> LiveStream:
    return LiveStream.model_validate(
        {"metadata": {"name": "cam", "namespace": "ns"}, "spec": {"streamId": "cam", **spec}}
    )


def test_the_hold_of_the_last_frame_reaches_the_worker_and_a_pool_worker() -> None:
    ls = _hold_of({"inputLoss": {"fill": "Slate", "holdLastFrameSeconds": 5}})
    (container,) = pods.worker_pod(ls, SETTINGS)["spec"]["containers"]
    assert worker_args([], _values(container)).hold_seconds == 5
    back = WorkerAssignment.of(pods.worker_env(ls, SETTINGS))
    (pool,) = pods.pool_worker_pod(SETTINGS)["spec"]["containers"]
    assert assigned(worker_args(["--pool"], _values(pool)), back).hold_seconds == 5
    # spec.inputLoss's default: a second, as MediaLive repeats the last frame.
    assert pods.worker_env(CAM, SETTINGS).hold_last_frame_seconds == 1


def test_no_hold_without_the_slate_fill() -> None:
    # Without the slate, out ends with the input: nothing to hold it on.
    ls = _hold_of({"inputLoss": {"fill": "None", "holdLastFrameSeconds": 5}})
    assert pods.worker_env(ls, SETTINGS).hold_last_frame_seconds == 0
    base = ["--input", "rtsp://h/live/s/in", "--output", "rtsp://h/live/s/out"]
    held = worker_args([*base, "--fill", "None", "--hold-last-frame-seconds", "5"], {})
    assert held.hold_seconds == 0
    # Run by hand, the worker holds nothing unless told.
    assert worker_args([*base, "--fill", "Slate"], {}).hold_seconds == 0


@pytest.mark.parametrize("seconds", [-1, 61])
def test_a_hold_out_of_bounds_is_refused_by_the_spec_and_the_contract(seconds: int) -> None:
    with pytest.raises(ValueError, match="holdLastFrameSeconds"):
        _hold_of({"inputLoss": {"holdLastFrameSeconds": seconds}})
    with pytest.raises(ContractError, match="LSO_HOLD_LAST_FRAME_SECONDS must be 0 to 60"):
        WorkerEnv.from_env({"LSO_HOLD_LAST_FRAME_SECONDS": str(seconds)})
