"""MediaMTX as a StatefulSet: each instance a stable name and address (a headless
Service), the operator and the receivers told the instances, and one instance, the
default and for now the only choice, as the Deployment it replaces."""

from __future__ import annotations

from typing import Any

from livestream_operator.settings import MAX_MEDIAMTX_INSTANCES, Settings, from_env

from .chart_support import (
    FULLNAME,
    MEDIAMTX,
    NAMESPACE,
    by_name,
    container_env,
    render,
    render_fails,
)

HEADLESS = ("Service", f"{FULLNAME}-mediamtx-headless")
SELECTOR = {
    "app.kubernetes.io/name": "livestream-operator",
    "app.kubernetes.io/instance": "lso",
    "app.kubernetes.io/component": "mediamtx",
}


def _settings(docs: dict[tuple[str, str], dict[str, Any]], component: str) -> Settings:
    env = container_env(docs[("Deployment", f"{FULLNAME}-{component}")])
    plain = {k: e["value"] for k, e in env.items() if "value" in e}
    return from_env({k: v for k, v in plain.items() if k.startswith("LSO_")})


def test_mediamtx_is_a_statefulset_of_one_behind_a_headless_service() -> None:
    docs = by_name(render())
    assert ("Deployment", MEDIAMTX[1]) not in docs
    sts = docs[MEDIAMTX]["spec"]
    assert sts["replicas"] == 1
    assert sts["serviceName"] == HEADLESS[1]
    assert sts["podManagementPolicy"] == "Parallel"
    assert sts["updateStrategy"] == {"type": "RollingUpdate"}
    assert sts["selector"]["matchLabels"] == SELECTOR
    assert "volumeClaimTemplates" not in sts  # the one recordings claim, as before
    (spread,) = sts["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"  # one node runs them all
    assert spread["labelSelector"]["matchLabels"] == SELECTOR

    headless = docs[HEADLESS]["spec"]
    assert headless["clusterIP"] == "None"
    # An instance that is full or draining (not ready) keeps its address.
    assert headless["publishNotReadyAddresses"] is True
    assert headless["selector"] == SELECTOR
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in headless["ports"]}
    assert ports == {
        "rtsp": (8554, "rtsp"),
        "rtmp": (1935, "rtmp"),
        "api": (9997, "api"),
        "playback": (9996, "playback"),
        "metrics": (9998, "metrics"),
    }


def test_every_mediamtx_service_selects_every_instance() -> None:
    docs = render("--set", "playback.service.enabled=true", "--set", "playback.hls.enabled=true")
    services = {
        d["metadata"]["name"]: d["spec"]["selector"]
        for d in docs
        if d["kind"] == "Service"
        and d["metadata"]["labels"]["app.kubernetes.io/component"] == "mediamtx"
    }
    suffixes = {"", "-headless", "-rtmp", "-rtsp", "-srt", "-playback", "-hls"}
    assert set(services) == {f"{FULLNAME}-mediamtx{s}" for s in suffixes}
    # Never one Pod's (statefulset.kubernetes.io/pod-name): publishers reach any instance.
    assert all(selector == SELECTOR for selector in services.values()), services


def test_more_instances_than_the_operator_follows_are_refused() -> None:
    too_many = MAX_MEDIAMTX_INSTANCES + 1
    stderr = render_fails("--set", f"mediamtx.replicas={too_many}")
    assert f"mediamtx.replicas: Must be less than or equal to {MAX_MEDIAMTX_INSTANCES}" in stderr
    assert "mediamtx.replicas: Must be greater than or equal to 1" in render_fails(
        "--set", "mediamtx.replicas=0"
    )


def test_the_operator_and_receivers_are_told_the_instances_and_their_domain() -> None:
    docs = by_name(render())
    for component in ("operator", "hooks"):
        settings = _settings(docs, component)
        # The Pods' names (what their LSO_MEDIAMTX_INSTANCE says), under the headless
        # Service the StatefulSet names: <instance>.<domain> resolves to the instance.
        assert settings.mediamtx_instances == [f"{MEDIAMTX[1]}-0"], component
        assert settings.mediamtx_domain == f"{HEADLESS[1]}.{NAMESPACE}.svc", component
        # The URLs every client uses today: the one instance through the Service.
        assert settings.mediamtx_api_url == f"http://{FULLNAME}-mediamtx.{NAMESPACE}.svc:9997"


def test_the_instances_follow_the_replicas() -> None:
    # Past the schema's bound: what the chart renders once the bound is raised.
    docs = by_name(render("--skip-schema-validation", "--set", "mediamtx.replicas=3"))
    assert docs[MEDIAMTX]["spec"]["replicas"] == 3
    names = [f"{MEDIAMTX[1]}-{i}" for i in range(3)]
    assert _settings(docs, "operator").mediamtx_instances == names
    env = container_env(docs[("Deployment", f"{FULLNAME}-hooks")])
    assert env["LSO_MEDIAMTX_INSTANCES"]["value"] == ",".join(names)


def test_a_statefulset_name_its_pods_cannot_carry_is_refused_with_the_way_out() -> None:
    # 52 characters at most: the controller labels each Pod <name>-<10-character hash>.
    release = "a-release-name-long-enough-to-exceed"
    assert len(f"{release}-livestream-operator-mediamtx") > 52
    stderr = render_fails("--set", f"fullnameOverride={release}-livestream-operator")
    assert "over the 52" in stderr, stderr
    assert "set fullnameOverride" in stderr, stderr
    docs = by_name(render("--set", "fullnameOverride=media"))
    assert ("StatefulSet", "media-mediamtx") in docs
