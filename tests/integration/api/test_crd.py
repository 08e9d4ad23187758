"""The generated CRD installs, and the API server rejects bad specs naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from livestream_operator.api.ownership import FieldManager
from livestream_operator.kube import Kube, KubeError
from tests.support.kube_fixtures import apply_status, create_ls

pytestmark = pytest.mark.integration


def _ls(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "media.livestream-operator.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {"name": name},
        "spec": spec,
    }


async def test_defaults_are_applied(kube: Kube, namespace: str) -> None:
    created = await create_ls(kube, namespace, _ls("cam1", {"streamId": "cam1"}))
    assert created["spec"]["lifecycle"] == "Ephemeral"
    assert created["spec"]["gracePeriodSeconds"] == 30
    assert created["spec"]["worker"]["mode"] == "bypass"


def _process(processing: dict[str, Any] | None = None, **backend: Any) -> dict[str, Any]:
    """A process-mode spec; `backend` replaces the default one's fields."""
    worker: dict[str, Any] = {"mode": "process"}
    if processing is not None or backend:
        worker["processing"] = {
            "backend": backend or {"url": "wss://dsp.example/v1/audio"},
            **(processing or {}),
        }
    return {"streamId": "a", "worker": worker}


URL = "spec.worker.processing.backend.url"


# Process mode: each rule of spec.worker.processing, by the field it names.
BAD_PROCESSING: list[tuple[dict[str, Any], str, str]] = [
    (_process(), "spec.worker.processing", "required when spec.worker.mode is process"),
    (
        _process(url="ws://dsp:8080/", service={"name": "dsp", "port": 8080}),
        "spec.worker.processing.backend",
        "set exactly one of url and service",
    ),
    (
        _process(params={"a": "b"}),
        "spec.worker.processing.backend",
        "set exactly one of url and service",
    ),
    (_process(url="ws://user:pw@host/"), URL, "should match"),
    (_process(url="wss://host/v1?token=x"), URL, "should match"),
    (_process(url="http://host/v1"), URL, "should match"),
    (_process({"fragmentMs": 50}), "spec.worker.processing.fragmentMs", "greater than"),
    (_process({"maxInFlight": 0}), "spec.worker.processing.maxInFlight", "greater than"),
    (
        _process(url="ws://dsp/", params={"target lufs": "-16"}),
        "spec.worker.processing.backend.params",
        "keys must match",
    ),
    (_process({"duckDb": 3}), "spec.worker.processing.duckDb", "less than"),
]


def _recording(**fields: Any) -> dict[str, Any]:
    return {"streamId": "rec", "recording": {"enabled": True, **fields}}


SEGMENT = "spec.recording.segmentDuration"
RETENTION = "spec.recording.retention"
BAD_RECORDING: list[tuple[dict[str, Any], str, str]] = [
    (_recording(segmentDuration="0s"), SEGMENT, "between 1s and 24h"),
    (_recording(segmentDuration="25h"), SEGMENT, "between 1s and 24h"),
    (_recording(segmentDuration="10"), SEGMENT, "should match"),
    (_recording(segmentDuration="1d"), SEGMENT, "should match"),
    (_recording(retention="5s"), RETENTION, "between 10s and 8784h"),
    (_recording(segmentDuration="1h", retention="10m"), RETENTION, "at least"),
    (_recording(retention="1m"), RETENTION, "at least"),  # the 10m default segment
    (_recording(paths=["in", "in"]), "spec.recording.paths", "Duplicate value"),
    (_recording(paths=[]), "spec.recording.paths", "at least 1"),
    (_recording(paths=["sideways"]), "spec.recording.paths", "Unsupported value"),
    (_recording(format="mkv"), "spec.recording.format", "Unsupported value"),
]


async def test_recording_defaults_are_applied(kube: Kube, namespace: str) -> None:
    created = await create_ls(kube, namespace, _ls("rec", _recording()))
    assert created["spec"]["recording"] == {
        "enabled": True,
        "paths": ["in"],
        "format": "fmp4",
        "segmentDuration": "10m",
        "retention": "24h",
    }


async def test_processing_defaults_are_applied(kube: Kube, namespace: str) -> None:
    created = await create_ls(kube, namespace, _ls("proc", _process({})))
    processing = created["spec"]["worker"]["processing"]
    assert processing == {
        "backend": {"url": "wss://dsp.example/v1/audio"},
        "fragmentMs": 500,
        "deadlineMs": 1000,
        "maxInFlight": 4,
        "mix": "duck",
        "duckDb": -12.0,
    }


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({}, "spec.streamId", "Required"),
        ({"streamId": "bad/id"}, "spec.streamId", "should match"),
        ({"streamId": "a", "gracePeriodSeconds": -1}, "spec.gracePeriodSeconds", "greater"),
        ({"streamId": "a", "lifecycle": "Forever"}, "spec.lifecycle", "Unsupported value"),
        ({"streamId": "a", "worker": {"mode": "dub"}}, "spec.worker.mode", "Unsupported value"),
        (
            {"streamId": "a", "worker": {"resources": {"limits": {"cpu": "lots"}}}},
            "spec.worker.resources.limits",
            "quantities",
        ),
        (
            {"streamId": "a", "worker": {"resources": {"limits": {"gpu": "1"}}}},
            "spec.worker.resources.limits",
            "cpu, memory",
        ),
        (
            {
                "streamId": "a",
                "forwarder": {
                    "destinations": [
                        {"name": "yt", "urlSecretRef": {"name": "s", "key": "url"}},
                        {"name": "yt", "urlSecretRef": {"name": "s", "key": "url2"}},
                    ]
                },
            },
            "spec.forwarder.destinations[1]",
            "Duplicate value",
        ),
        (
            {
                "streamId": "a",
                "forwarder": {
                    "destinations": [
                        {"name": "Bad_Name", "urlSecretRef": {"name": "s", "key": "k"}}
                    ]
                },
            },
            "spec.forwarder.destinations[0].name",
            "should match",
        ),
        *BAD_PROCESSING,
        *BAD_RECORDING,
    ],
)
async def test_bad_specs_are_rejected_naming_the_field(
    kube: Kube, namespace: str, spec: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(KubeError) as err:
        await create_ls(kube, namespace, _ls("bad", spec))
    assert err.value.status == 422
    assert field in err.value.message
    assert words in err.value.message


async def test_stream_id_is_immutable(kube: Kube, namespace: str) -> None:
    await create_ls(kube, namespace, _ls("cam2", {"streamId": "cam2"}))
    with pytest.raises(KubeError) as err:
        await kube.request(
            "PATCH",
            f"/apis/media.livestream-operator.dev/v1alpha1/namespaces/{namespace}/livestreams/cam2",
            {"spec": {"streamId": "other"}},
            content_type="application/merge-patch+json",
        )
    assert "spec.streamId is immutable" in err.value.message


async def test_name_length_is_bounded(kube: Kube, namespace: str) -> None:
    with pytest.raises(KubeError) as err:
        await create_ls(kube, namespace, _ls("x" * 51, {"streamId": "x"}))
    assert "metadata.name" in err.value.message


async def test_printer_columns(kube: Kube, namespace: str) -> None:
    await create_ls(kube, namespace, _ls("cam3", {"streamId": "cam3"}))
    table = await kube.request(
        "GET",
        f"/apis/media.livestream-operator.dev/v1alpha1/namespaces/{namespace}/livestreams",
    )
    assert table["items"][0]["spec"]["streamId"] == "cam3"
    # What `kubectl get livestreams` prints comes from the server-side Table.
    as_table = await kube.api.call_api(
        f"/apis/media.livestream-operator.dev/v1alpha1/namespaces/{namespace}/livestreams",
        "GET",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    names = [c["name"] for c in as_table["columnDefinitions"]]
    assert names[:6] == ["Name", "Stream", "Phase", "Worker", "Forwarder", "Age"]
    wide = [c["name"] for c in as_table["columnDefinitions"] if c["priority"] == 1]
    assert {"Lifecycle", "Mode", "Processing", "Source", "Grace-Deadline"} <= set(wide)


async def test_wide_output_shows_the_processing_state(kube: Kube, namespace: str) -> None:
    await create_ls(kube, namespace, _ls("proc", _process({})))
    await apply_status(
        kube,
        namespace,
        "proc",
        FieldManager.OPERATOR,
        {"processing": {"state": "Fallback", "reason": "Deadline"}},
    )
    path = f"/apis/media.livestream-operator.dev/v1alpha1/namespaces/{namespace}/livestreams"
    as_table = await kube.api.call_api(
        path,
        "GET",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    names = [c["name"] for c in as_table["columnDefinitions"]]
    (row,) = as_table["rows"]
    cells = dict(zip(names, row["cells"], strict=True))
    assert (cells["Mode"], cells["Processing"]) == ("process", "Fallback")
