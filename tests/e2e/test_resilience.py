"""The operator and the hook receivers can be deleted mid-stream."""

from __future__ import annotations

import collections
import time

import pytest

from livestream_operator.api.naming import resource_name
from tests.support.waiting import wait_for

from .e2e_support import (
    POOL_LABEL,
    Config,
    Kube,
    Publisher,
    owner_livestream,
    pod_ready,
    pod_running,
    publishing,
    unique_id,
)

pytestmark = pytest.mark.e2e


def _component_pods(kube: Kube, cfg: Config, component: str) -> list[dict]:  # type: ignore[type-arg]
    sel = f"app.kubernetes.io/instance={cfg.release},app.kubernetes.io/component={component}"
    items = kube.get_json("pods", "-l", sel)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _assert_no_duplicates_or_orphans(kube: Kube) -> None:
    pods = kube.managed_pods()
    names = collections.Counter(p["metadata"]["name"] for p in pods)
    assert all(n == 1 for n in names.values()), names
    existing = {ls["metadata"]["name"] for ls in kube.livestreams()}
    for p in pods:
        if (p["metadata"].get("labels") or {}).get(POOL_LABEL) == "idle":
            continue  # a warm worker waiting for a stream: the pool owns it
        owner = owner_livestream(p)
        assert owner is not None, f"{p['metadata']['name']} has no LiveStream owner"
        assert owner in existing, f"{p['metadata']['name']} is orphaned (owner {owner} gone)"


def test_operator_pod_deleted_mid_stream(
    kube: Kube, cfg: Config, ffmpeg: str, streams: list[str]
) -> None:
    sid = unique_id("e2e-opdel")
    name = resource_name(sid)
    streams.append(name)
    with publishing(kube.publish_url(sid)) as pub:
        kube.wait_phase(name, "Live", 120, pub)
        worker = kube.worker(name)
        assert worker is not None
        uid = worker["metadata"]["uid"]
        old = {p["metadata"]["uid"] for p in _component_pods(kube, cfg, "operator")}
        kube.kubectl(
            "delete",
            "pod",
            "-l",
            f"app.kubernetes.io/instance={cfg.release},app.kubernetes.io/component=operator",
            "--wait=false",
        )

        def new_operator_ready() -> bool:
            pods = _component_pods(kube, cfg, "operator")
            return bool(pods) and all(
                p["metadata"]["uid"] not in old and pod_ready(p) for p in pods
            )

        wait_for(new_operator_ready, 180, "a new operator Pod ready")
        assert len(_component_pods(kube, cfg, "operator")) == 1
        # Give the new instance a few resyncs, then check nothing was duplicated.
        kube.wait_phase(name, "Live", 60, pub)
        worker = kube.worker(name)
        assert worker is not None
        assert worker["metadata"]["uid"] == uid, "worker was replaced"
        _assert_no_duplicates_or_orphans(kube)
        assert pub.running(), pub.output()


def test_receivers_deleted_resync_recovers_a_stream_published_meanwhile(
    kube: Kube, cfg: Config, ffmpeg: str, streams: list[str]
) -> None:
    sid = unique_id("e2e-rxdel")
    name = resource_name(sid)
    streams.append(name)
    with publishing(kube.publish_url(sid)) as pub:
        # Admitted (the auth call comes first, ~0.1 s after connecting), then the
        # receivers go before MediaMTX's ready hook (~2 s later) can reach them.
        time.sleep(0.7)
        assert pub.running(), pub.output()
        kube.kubectl(
            "delete",
            "pod",
            "-l",
            f"app.kubernetes.io/instance={cfg.release},app.kubernetes.io/component=hooks",
            "--wait=false",
        )
        wait_for(lambda: kube.livestream(name), 120, f"LiveStream {name} (from the resync)")
        kube.wait_phase(name, "Live", 120, pub)
        wait_for(lambda: pod_running(kube.worker(name)), 60, f"{name}-worker running")
        wait_for(lambda: kube.deployment_ready(cfg.component("hooks")), 180, "receivers back")
        _assert_no_duplicates_or_orphans(kube)


def test_without_receivers_nobody_publishes(kube: Kube, cfg: Config, ffmpeg: str) -> None:
    """Fail closed: while no receiver answers MediaMTX's auth call, a publish with a
    valid key is refused; once they are back, it gets in."""
    sid = unique_id("e2e-closed")
    url = kube.publish_url(sid)
    deployment = f"deployment/{cfg.component('hooks')}"
    replicas = kube.get_json("deployment", cfg.component("hooks"))["spec"]["replicas"]
    kube.kubectl("scale", deployment, "--replicas=0")
    try:
        wait_for(
            lambda: not kube.get_json("pods", "-l", "app.kubernetes.io/component=hooks")["items"],
            120,
            "the receivers to be gone",
        )
        with publishing(url) as refused:
            wait_for(lambda: not refused.running(), 30, "the publisher to be refused")
        assert kube.livestream(sid) is None
    finally:
        kube.kubectl("scale", deployment, f"--replicas={replicas}")
        wait_for(lambda: kube.deployment_ready(cfg.component("hooks")), 180, "receivers back")

    def admitted() -> Publisher | None:
        # Ready receivers reach MediaMTX once the Service's endpoints list them
        # (kube-proxy follows within a second or so); until then it fails closed.
        pub = Publisher(url)
        time.sleep(3)
        if pub.running():
            return pub
        pub.stop()
        return None

    pub = wait_for(admitted, 60, "a publish admitted once the receivers answer")
    try:
        kube.wait_phase(resource_name(sid), "Live", 120, pub)
    finally:
        pub.stop()
    kube.delete("livestream", resource_name(sid))
