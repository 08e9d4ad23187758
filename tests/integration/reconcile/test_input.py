"""The publisher's presence and properties against a real API server: the
InputLoss condition and its two Events while `out` keeps playing, status.input
from the Control API's path list with `-o wide`'s columns, and a steady stream
that costs the API server no write."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from livestream_operator.kube import Kube, livestreams_path
from tests.integration.ingest.test_receiver import ev, post
from tests.integration.reconcile.test_operator import _phase_is, pods, set_running
from tests.support.fake_mediamtx import FakeMediaMTX
from tests.support.kube_fixtures import condition_of, events_of, get_ls
from tests.support.ports import free_port
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration


async def _condition(kube: Kube, namespace: str, kind: str) -> dict[str, Any]:
    found = await condition_of(kube, namespace, "cam", kind)
    assert found is not None, kind
    return found


async def _live(kube: Kube, namespace: str, url: str, source: str = "s1") -> None:
    await post(url, "ready", ev("cam", source))
    await wait_for_async(lambda: pods(kube, namespace), what="worker pod")
    await set_running(kube, namespace, "cam-worker")
    await post(url, "ready", ev("cam", "w1", role="out"))
    await wait_for_async(lambda: _phase_is(kube, namespace, "cam", "Live"), what="Live")


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("livestream_input_loss"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


async def test_a_lost_publisher_is_a_condition_and_one_event_each_way_while_out_plays(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    metrics_port = free_port()
    start_operator(namespace, LSO_METRICS_PORT=str(metrics_port))
    url = start_receiver(namespace)
    await _live(kube, namespace, url)
    assert (await _condition(kube, namespace, "InputLoss"))["reason"] == "Publishing"

    # The publisher goes; out stays available, as it does with an input-loss fill.
    await post(url, "not-ready", ev("cam", "s1"))
    await wait_for_async(lambda: _phase_is(kube, namespace, "cam", "Reconnecting"), what="loss")
    ls = await get_ls(kube, namespace, "cam")
    loss = await _condition(kube, namespace, "InputLoss")
    assert (loss["status"], loss["reason"]) == ("True", "PublisherGone")
    # lastTransitionTime is the publisher's going, to the second (metav1.Time).
    assert loss["lastTransitionTime"] == ls["status"]["ingest"]["unavailableSince"][:19] + "Z"
    output = await _condition(kube, namespace, "OutputAvailable")
    assert (output["status"], output["reason"]) == ("True", "Filling")
    assert (await _condition(kube, namespace, "Ready"))["status"] == "False"

    await asyncio.sleep(2)  # reconciles come and go: still one Warning
    lost = await events_of(kube, namespace, "InputLost")
    assert [(e["type"], e.get("count", 1)) for e in lost] == [("Warning", 1)]

    await post(url, "ready", ev("cam", "s2"))
    await wait_for_async(lambda: _phase_is(kube, namespace, "cam", "Live"), what="recovered")
    loss = await _condition(kube, namespace, "InputLoss")
    assert (loss["status"], loss["reason"]) == ("False", "Publishing")
    await asyncio.sleep(2)
    recovered = await events_of(kube, namespace, "InputRecovered")
    assert [e["type"] for e in recovered] == ["Normal"]
    assert recovered[0]["message"].startswith("publisher back after ")
    assert len(await events_of(kube, namespace, "InputLost")) == 1

    figures = _metrics(metrics_port)
    assert figures["livestream_input_losses_total"] == 1
    assert figures['livestream_input_loss_seconds_count{outcome="recovered"}'] == 1


async def _table(kube: Kube, namespace: str) -> dict[str, Any]:
    """What `kubectl get livestreams -o wide` prints: the API server's Table."""
    table: dict[str, Any] = await kube.api.call_api(
        livestreams_path(namespace),
        "GET",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    names = [c["name"] for c in table["columnDefinitions"]]
    return dict(zip(names, table["rows"][0]["cells"], strict=True))


async def test_input_properties_come_from_the_path_list_and_steady_state_writes_nothing(
    kube: Kube,
    namespace: str,
    fake_mediamtx: FakeMediaMTX,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    fake_mediamtx.publish("live/cam/in", "s1", bitrate=2_500_000)
    fake_mediamtx.publish("live/cam/out", "w1")
    start_operator(namespace, fake_mediamtx.url)  # resync every second
    url = start_receiver(namespace)
    await _live(kube, namespace, url)

    async def measured() -> dict[str, Any] | None:
        ls = await get_ls(kube, namespace, "cam")
        found = ls["status"].get("input") or {}
        return found if "bitrateKbps" in found else None

    found = await wait_for_async(measured, 30, what="status.input with a bitrate")
    assert found["sourceId"] == "s1"
    assert found["video"] == {
        "codec": "H264",
        "profile": "High",
        "level": "3.1",
        "width": 1280,
        "height": 720,
        "resolution": "1280x720",
    }
    assert found["audio"] == {"codec": "AAC", "sampleRate": 44100, "channels": 1}
    assert found["bitrateKbps"] == 2500
    cells = await _table(kube, namespace)
    assert (cells["Resolution"], cells["Kbps"]) == ("1280x720", 2500)

    # Steady: 20 resync passes that each see the stream, and no write at all.
    await asyncio.sleep(2)
    before = await get_ls(kube, namespace, "cam")
    await asyncio.sleep(20)
    after = await get_ls(kube, namespace, "cam")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert fake_mediamtx.requests >= 20
    owners = {
        e["manager"]: set(e["fieldsV1"]["f:status"])
        for e in after["metadata"]["managedFields"]
        if e.get("subresource") == "status"
    }
    assert "f:input" in owners["livestream-ingest"]
    assert "f:input" not in owners["livestream-operator"]


async def test_fill_seconds_ends_the_slate_at_its_deadline_without_another_event(
    kube: Kube,
    namespace: str,
    start_receiver: Callable[..., str],
    start_operator: Callable[..., Process],
) -> None:
    start_operator(namespace)
    url = start_receiver(namespace)
    await _live(kube, namespace, url)
    await kube.request(
        "PATCH",
        livestreams_path(namespace, "cam"),
        {"spec": {"inputLoss": {"fillSeconds": 2}}},
        content_type="application/merge-patch+json",
    )
    await post(url, "not-ready", ev("cam", "s1"))

    async def says(words: str) -> dict[str, Any] | None:
        loss = await _condition(kube, namespace, "InputLoss")
        return loss if words in loss["message"] else None

    await wait_for_async(lambda: says("the slate plays until"), 10, what="the slate's end")
    # Nothing else happens: the operator wakes at the fill's deadline on its own.
    loss = await wait_for_async(lambda: says("the slate ended at"), 6, what="the slate ended")
    assert (loss["status"], loss["reason"]) == ("True", "PublisherGone")
    assert (await get_ls(kube, namespace, "cam"))["status"]["phase"] == "Reconnecting"
