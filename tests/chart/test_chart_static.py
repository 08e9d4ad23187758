"""Static checks of the Helm chart (no cluster needed): lint, render, RBAC, the CRD."""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

import pytest
import yaml

from livestream_operator.api.pod_contract import WORKER_METRICS_PORT, forwarder_port
from livestream_operator.api.v1alpha1 import MAX_DESTINATIONS, PlaybackURLs, ProcessingSpec
from livestream_operator.reconcile.playback import playback_urls
from livestream_operator.reconcile.pods import WORKER, pool_labels
from livestream_operator.reconcile.pods import labels as pod_labels
from livestream_operator.settings import from_env
from tests.conftest import REPO

from .chart_support import (
    CHART,
    FULLNAME,
    MEDIAMTX,
    by_name,
    container_env,
    helm,
    render,
    render_fails,
)

CRD_NAME = "livestreams.media.livestream-operator.dev"
KEEP = "helm.sh/resource-policy"


def _crds(*args: str) -> list[dict[str, Any]]:
    return [d for d in render(*args) if d["kind"] == "CustomResourceDefinition"]


def _without_metadata_maps(doc: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in doc["metadata"].items() if k not in ("labels", "annotations")}
    return {**doc, "metadata": meta}


def test_chart_has_no_crds_directory() -> None:
    """Helm installs crds/ once and never upgrades it: the CRD is a template instead."""
    assert not (CHART / "crds").exists()


def test_rendered_crd_is_the_generated_crd_and_kept() -> None:
    generated = yaml.safe_load((REPO / "crds" / "livestreams.yaml").read_text())
    crds = _crds()
    assert len(crds) == 1
    crd = crds[0]
    assert crd["metadata"]["name"] == CRD_NAME
    assert "namespace" not in crd["metadata"], "a CRD is cluster-scoped"
    assert _without_metadata_maps(crd) == _without_metadata_maps(generated)
    assert crd["metadata"]["annotations"][KEEP] == "keep"
    labels = crd["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "Helm"
    assert labels["app.kubernetes.io/instance"] == "lso"
    assert labels["helm.sh/chart"].startswith("livestream-operator-")
    # The generated CRD's own labels survive the merge.
    for key, value in generated["metadata"].get("labels", {}).items():
        assert labels[key] == value


def test_crds_disabled_renders_no_crd() -> None:
    assert _crds("--set", "crds.enabled=false") == []


def test_crds_not_kept_has_no_keep_annotation() -> None:
    (crd,) = _crds("--set", "crds.keep=false")
    assert KEEP not in (crd["metadata"].get("annotations") or {})
    generated = yaml.safe_load((REPO / "crds" / "livestreams.yaml").read_text())
    assert _without_metadata_maps(crd) == _without_metadata_maps(generated)


def test_values_schema_rejects_unknown_crds_values() -> None:
    assert "crds" in render_fails("--set", "crds.install=true")


def test_cleanup_hook_runs_the_cleanup_subcommand() -> None:
    docs = by_name(render("--set", "uninstall.timeoutSeconds=42"))
    job = docs[("Job", "lso-livestream-operator-cleanup")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-delete"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    operator = docs[("Deployment", "lso-livestream-operator-operator")]
    assert container["image"] == operator["spec"]["template"]["spec"]["containers"][0]["image"]
    assert "command" not in container, "the image's entrypoint is livestream-operator"
    assert container["args"] == ["cleanup", "--namespace", "media", "--timeout", "42"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert ("Job", "lso-livestream-operator-cleanup") not in {
        (d["kind"], d["metadata"]["name"]) for d in render("--set", "uninstall.cleanup=false")
    }


def test_helm_lint_is_clean() -> None:
    proc = subprocess.run(
        [helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


def test_rbac_is_least_privilege() -> None:
    docs = render()
    roles = [d for d in docs if d["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"], role["metadata"]["name"]
            assert "*" not in rule.get("resources", []), role["metadata"]["name"]
            if "secrets" in rule.get("resources", []):
                # Only the receivers read Secrets (the stream keys), and nothing writes them.
                assert role["metadata"]["name"].endswith("-hooks"), role["metadata"]["name"]
                assert role["kind"] == "Role"
                assert set(rule["verbs"]) == {"get", "list", "watch"}, rule
    cluster = [r for r in roles if r["kind"] == "ClusterRole"]
    for role in cluster:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= {"list", "watch"}, rule
            assert set(rule["resources"]) <= {"customresourcedefinitions", "namespaces"}, rule


def test_operator_is_a_single_recreated_instance_and_hooks_have_two() -> None:
    docs = by_name(render())
    op = docs[("Deployment", "lso-livestream-operator-operator")]
    assert op["spec"]["replicas"] == 1
    assert op["spec"]["strategy"]["type"] == "Recreate"
    hooks = docs[("Deployment", "lso-livestream-operator-hooks")]
    assert hooks["spec"]["replicas"] == 2
    env = {e["name"]: e for e in op["spec"]["template"]["spec"]["containers"][0]["env"]}
    for name in (
        "LSO_NAMESPACE",
        "LSO_MEDIAMTX_API_URL",
        "LSO_MEDIAMTX_RTSP_URL",
        "LSO_MEDIAMTX_RTMP_URL",
        "LSO_WORKER_IMAGE",
        "LSO_FORWARDER_IMAGE",
        "LSO_DEFAULT_GRACE_SECONDS",
        "LSO_RESYNC_SECONDS",
        "LSO_DEFAULT_WORKER_MODE",
        "LSO_DEFAULT_DESTINATIONS",
        "LSO_WORKER_RESOURCES",
        "LSO_FORWARDER_RESOURCES",
    ):
        assert name in env, name
    assert env["LSO_MEDIAMTX_API_URL"]["value"] == (
        "http://lso-livestream-operator-mediamtx.media.svc:9997"
    )


def test_mediamtx_config_and_nodeport() -> None:
    docs = by_name(render("--set", "mediamtx.rtmp.service.nodePort=30111"))
    cm = docs[("ConfigMap", "lso-livestream-operator-mediamtx")]
    assert (
        cm["data"]["mediamtx.yml"].strip() == (CHART / "files" / "mediamtx.yml").read_text().strip()
    )
    rtmp = docs[("Service", "lso-livestream-operator-mediamtx-rtmp")]
    assert rtmp["spec"]["type"] == "NodePort"
    assert rtmp["spec"]["ports"][0]["nodePort"] == 30111
    mtx = docs[MEDIAMTX]
    container = mtx["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LSO_HOOK_URL"] == "http://lso-livestream-operator-hooks.media.svc:8080"


def test_values_schema_rejects_bad_values() -> None:
    assert "defaultWorkerMode" in render_fails("--set", "streams.defaultWorkerMode=loud")


@pytest.mark.parametrize("component", ["operator", "hooks", "mediamtx"])
def test_containers_run_as_non_root(component: str) -> None:
    docs = by_name(render())
    kind = MEDIAMTX[0] if component == "mediamtx" else "Deployment"
    dep = docs[(kind, f"lso-livestream-operator-{component}")]
    for c in dep["spec"]["template"]["spec"]["containers"]:
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True


def test_auth_is_on_by_default_and_internal_credentials_come_from_a_secret() -> None:
    docs = render()
    mediamtx = by_name(docs)[MEDIAMTX]
    entries = mediamtx["spec"]["template"]["spec"]["containers"][0]["env"]
    env = {e["name"]: e for e in entries}
    # The auth URL names the instance; Kubernetes expands $(VAR) only from
    # entries listed before it.
    assert env["MTX_AUTHHTTPADDRESS"]["value"].endswith(
        "/v1/mediamtx/auth?instance=$(LSO_MEDIAMTX_INSTANCE)"
    )
    names = [e["name"] for e in entries]
    assert names.index("LSO_MEDIAMTX_INSTANCE") < names.index("MTX_AUTHHTTPADDRESS")
    assert env["LSO_MEDIAMTX_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["LSO_HOOK_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "hook-token"
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["mediamtx.yml"]
    assert "authMethod: http" in config
    assert "authHTTPExclude: []" in config  # api and metrics are not granted to anyone
    for name in ("hooks", "operator"):
        dep = next(
            d
            for d in docs
            if d["kind"] == "Deployment" and d["metadata"]["name"].endswith(f"-{name}")
        )
        env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["LSO_AUTH_MODE"]["value"] == "streamKey"
        assert "value" not in env["LSO_OPERATOR_PASSWORD"]  # from the Secret, never inline
    secret = next(
        d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-internal")
    )
    assert set(secret["data"]) == {
        "hook-token",
        "operator-password",
        "worker-password",
        "forwarder-password",
        "pool-token",
        "forwarder-token",
    }
    assert any(d["kind"] == "NetworkPolicy" for d in docs)


def _mediamtx_ingress(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (policy,) = [
        d
        for d in docs
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-mediamtx")
    ]
    rules: list[dict[str, Any]] = policy["spec"]["ingress"]
    return rules


def _open_ports(docs: list[dict[str, Any]]) -> set[tuple[int, str]]:
    """(port, protocol) that any source may reach: the rules without `from`."""
    return {
        (p["port"], p.get("protocol", "TCP"))
        for rule in _mediamtx_ingress(docs)
        if "from" not in rule
        for p in rule["ports"]
    }


def test_rtsp_and_srt_publishers_have_nodeports_like_rtmp() -> None:
    docs = render()
    named = by_name(docs)
    for proto, port, node_port, transport in (
        ("rtsp", 8554, 30554, "TCP"),
        ("srt", 8890, 30890, "UDP"),
    ):
        svc = named[("Service", f"lso-livestream-operator-mediamtx-{proto}")]
        assert svc["spec"]["type"] == "NodePort"
        (svc_port,) = svc["spec"]["ports"]
        assert svc_port == {
            "name": proto,
            "port": port,
            "targetPort": proto,
            "protocol": transport,
            "nodePort": node_port,
        }
        assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "mediamtx"
    mtx = named[MEDIAMTX]
    ports = {p["name"]: p for p in mtx["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert ports["srt"] == {"name": "srt", "containerPort": 8890, "protocol": "UDP"}
    config = yaml.safe_load(
        named[("ConfigMap", "lso-livestream-operator-mediamtx")]["data"]["mediamtx.yml"]
    )
    assert (config["srt"], config["srtAddress"]) == (True, ":8890")
    assert config["rtspTransports"] == ["tcp"]
    # Keys protect RTSP and SRT as they protect RTMP: reachable from anywhere.
    assert _open_ports(docs) == {(1935, "TCP"), (8554, "TCP"), (8890, "UDP")}


def test_rtsp_and_srt_services_follow_their_values() -> None:
    values = [
        "mediamtx.rtsp.service.type=LoadBalancer",
        "mediamtx.rtsp.service.port=554",
        "mediamtx.rtsp.service.annotations.example\\.com/lb=internal",
        "mediamtx.srt.service.nodePort=null",
    ]
    args = [a for v in values for a in ("--set", v)]
    docs = by_name(render(*args))
    rtsp = docs[("Service", "lso-livestream-operator-mediamtx-rtsp")]
    assert rtsp["spec"]["type"] == "LoadBalancer"
    assert rtsp["spec"]["ports"][0]["port"] == 554
    assert "nodePort" not in rtsp["spec"]["ports"][0]
    assert rtsp["metadata"]["annotations"] == {"example.com/lb": "internal"}
    srt = docs[("Service", "lso-livestream-operator-mediamtx-srt")]
    assert srt["spec"]["type"] == "NodePort"
    assert "nodePort" not in srt["spec"]["ports"][0]  # Kubernetes picks one


def test_disabled_rtsp_and_srt_services_keep_rtsp_in_cluster_and_srt_closed() -> None:
    off = ("mediamtx.rtsp.service.enabled=false", "mediamtx.srt.service.enabled=false")
    docs = render("--set", off[0], "--set", off[1])
    names = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    assert "lso-livestream-operator-mediamtx-rtsp" not in names
    assert "lso-livestream-operator-mediamtx-srt" not in names
    assert "lso-livestream-operator-mediamtx-rtmp" in names
    assert _open_ports(docs) == {(1935, "TCP")}
    rtsp_rules = [r for r in _mediamtx_ingress(docs) if any(p["port"] == 8554 for p in r["ports"])]
    assert rtsp_rules == [
        {
            "from": [
                {
                    "podSelector": {
                        "matchLabels": {"app.kubernetes.io/managed-by": "livestream-operator"}
                    }
                },
                # The receivers: their snapshots read the stream with ffmpeg.
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "livestream-operator",
                            "app.kubernetes.io/instance": "lso",
                            "app.kubernetes.io/component": "hooks",
                        }
                    }
                },
                # The other MediaMTX instances: a stream one of them does not have.
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "livestream-operator",
                            "app.kubernetes.io/instance": "lso",
                            "app.kubernetes.io/component": "mediamtx",
                        }
                    }
                },
            ],
            "ports": [{"port": 8554}],
        }
    ]
    assert not any(p["port"] == 8890 for r in _mediamtx_ingress(docs) for p in r["ports"])


def test_values_schema_rejects_unknown_ingest_service_values() -> None:
    for bad in ("mediamtx.srt.service.enable=true", "mediamtx.rtsp.service.type=Ingress"):
        stderr = render_fails("--set", bad)
        assert "mediamtx" in stderr, stderr


def test_worker_and_forwarder_pods_take_only_their_ports_from_the_namespace() -> None:
    (policy,) = [
        d
        for d in render()
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-media-pods")
    ]
    spec = policy["spec"]
    # The label every Pod the operator creates carries (reconcile/pods.py).
    assert spec["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/managed-by": "livestream-operator"}
    }
    (rule,) = spec["ingress"]
    assert rule["from"] == [{"podSelector": {}}]
    # Every port the Pod contract gives a worker or a forwarder container.
    last = forwarder_port(MAX_DESTINATIONS - 1)
    assert rule["ports"] == [{"port": WORKER_METRICS_PORT, "endPort": last}]


# ------------------------------------------------------------------ the reference backends

TOKEN_SECRET = f"{FULLNAME}-backend-token"
DEFAULT_BACKENDS = ("tone", "loudness")
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
GEMINI = (
    "--set",
    "backends.gemini.enabled=true",
    "--set",
    "backends.gemini.apiKeySecretRef.name=gemini-api",
    "--set",
    "backends.gemini.apiKeySecretRef.key=apiKey",
)


@pytest.mark.parametrize("kind", [*DEFAULT_BACKENDS, "gemini"])
def test_backends_run_the_operator_image_restricted(kind: str) -> None:
    docs = by_name(render(*GEMINI))
    dep = docs[("Deployment", f"{FULLNAME}-backend-{kind}")]
    component = f"backend-{kind}"
    assert dep["metadata"]["labels"]["app.kubernetes.io/component"] == component
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector == {
        "app.kubernetes.io/name": "livestream-operator",
        "app.kubernetes.io/instance": "lso",
        "app.kubernetes.io/component": component,
    }
    pod = dep["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"] == RESTRICTED
    operator = docs[("Deployment", f"{FULLNAME}-operator")]
    assert container["image"] == operator["spec"]["template"]["spec"]["containers"][0]["image"]
    assert "command" not in container, "the image's entrypoint is livestream-operator"
    args = container["args"]
    assert args[:7] == ["backend", "--kind", kind, "--port", "8080", "--path", "/v1/audio"]
    if kind == "loudness":
        assert args[7:] == ["--target-lufs", "-16"]
    else:
        assert args[7:] == []  # gemini: the backend's model and instruction
    (port,) = container["ports"]
    assert port == {"name": "http", "containerPort": 8080}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    assert container["resources"]["requests"] == {"cpu": "20m", "memory": "64Mi"}
    svc = docs[("Service", f"{FULLNAME}-backend-{kind}")]
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == selector
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http"}]
    sa = docs[("ServiceAccount", pod["serviceAccountName"])]
    assert sa["automountServiceAccountToken"] is False


def test_tone_and_loudness_backends_are_on_by_default_gemini_off() -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in render()}
    for kind in DEFAULT_BACKENDS:
        assert ("Deployment", f"{FULLNAME}-backend-{kind}") in names
        assert ("Service", f"{FULLNAME}-backend-{kind}") in names
    assert not any(name.endswith("-backend-gemini") for _, name in names)


def test_backends_follow_their_values() -> None:
    docs = by_name(
        render(
            *GEMINI,
            "--set",
            "backends.port=9000",
            "--set",
            "backends.path=/audio",
            "--set",
            "backends.loudness.targetLufs=-14.5",
            "--set",
            "backends.gemini.model=gemini-2.0-flash",
            "--set-string",
            'backends.gemini.instruction=Translate to French: "keep names"',
        )
    )
    loud = docs[("Deployment", f"{FULLNAME}-backend-loudness")]
    (container,) = loud["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [
        "backend", "--kind", "loudness", "--port", "9000", "--path", "/audio",
        "--target-lufs", "-14.5",
    ]  # fmt: skip
    assert container["ports"][0]["containerPort"] == 9000
    gemini = docs[("Deployment", f"{FULLNAME}-backend-gemini")]
    (container,) = gemini["spec"]["template"]["spec"]["containers"]
    assert container["args"][7:] == [
        "--gemini-model",
        "gemini-2.0-flash",
        "--gemini-instruction",
        'Translate to French: "keep names"',
    ]
    assert docs[("Service", f"{FULLNAME}-backend-tone")]["spec"]["ports"][0]["port"] == 9000


def test_backends_disabled_render_no_backend_objects() -> None:
    off = ("--set", "backends.tone.enabled=false", "--set", "backends.loudness.enabled=false")
    names = [d["metadata"]["name"] for d in render(*off)]
    assert not [n for n in names if "-backend" in n]


def test_backend_token_is_a_secret_of_its_own_passed_by_reference() -> None:
    docs = render(*GEMINI)
    named = by_name(docs)
    secret = named[("Secret", TOKEN_SECRET)]
    assert set(secret["data"]) == {"token"}
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) >= 32
    internal = named[("Secret", f"{FULLNAME}-internal")]
    assert "token" not in internal["data"]
    assert token not in {base64.b64decode(v).decode() for v in internal["data"].values()}
    for kind in (*DEFAULT_BACKENDS, "gemini"):
        env = container_env(named[("Deployment", f"{FULLNAME}-backend-{kind}")])
        assert env["LSO_BACKEND_TOKEN"] == {
            "name": "LSO_BACKEND_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": TOKEN_SECRET, "key": "token"}},
        }
        if kind == "gemini":
            assert env["GEMINI_API_KEY"] == {
                "name": "GEMINI_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": "gemini-api", "key": "apiKey"}},
            }
        else:
            assert "GEMINI_API_KEY" not in env
    # The token is never a literal anywhere but in its Secret.
    others = [d for d in docs if (d["kind"], d["metadata"]["name"]) != ("Secret", TOKEN_SECRET)]
    assert token not in json.dumps(others)


def test_gemini_backend_needs_its_api_key_secret() -> None:
    for missing in (
        (),
        ("--set", "backends.gemini.apiKeySecretRef.name=gemini-api"),
        ("--set", "backends.gemini.apiKeySecretRef.key=apiKey"),
    ):
        stderr = render_fails("--set", "backends.gemini.enabled=true", *missing)
        assert "backends.gemini.apiKeySecretRef" in stderr, stderr


def test_backends_take_connections_from_worker_pods_only() -> None:
    docs = render(*GEMINI)
    policies = by_name([d for d in docs if d["kind"] == "NetworkPolicy"])
    worker_selector = {
        "app.kubernetes.io/managed-by": "livestream-operator",
        "app.kubernetes.io/component": "worker",
    }
    # The labels the operator puts on stream workers and on warm pool workers.
    for labels in (pod_labels("s1", WORKER), pool_labels()):
        assert worker_selector.items() <= labels.items(), labels
    for kind in (*DEFAULT_BACKENDS, "gemini"):
        spec = policies[("NetworkPolicy", f"{FULLNAME}-backend-{kind}")]["spec"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
            f"backend-{kind}"
        )
        assert spec["policyTypes"] == ["Ingress"]
        # Same-namespace Pods only (no namespaceSelector), worker Pods only, one port.
        assert spec["ingress"] == [
            {"from": [{"podSelector": {"matchLabels": worker_selector}}], "ports": [{"port": 8080}]}
        ]
    # No egress policy: worker Pods may connect out to MediaMTX and the backends.
    for policy in policies.values():
        assert "Egress" not in policy["spec"]["policyTypes"], policy["metadata"]["name"]
    assert not [
        d for d in render("--set", "networkPolicies.enabled=false") if d["kind"] == "NetworkPolicy"
    ]


PROCESSING = {
    "backend": {
        "service": {"name": f"{FULLNAME}-backend-loudness", "port": 8080, "path": "/v1/audio"},
        "credentialsSecretRef": {"name": TOKEN_SECRET, "key": "token"},
        "params": {"targetLufs": "-16"},
    },
    "mix": "replace",
    "fragmentMs": 250,
}


def test_default_processing_is_rendered_as_json_into_operator_and_receiver() -> None:
    docs = by_name(
        render(
            "--set",
            "streams.defaultWorkerMode=process",
            "--set-json",
            f"streams.defaultProcessing={json.dumps(PROCESSING)}",
        )
    )
    for component in ("operator", "hooks"):
        env = container_env(docs[("Deployment", f"{FULLNAME}-{component}")])
        assert env["LSO_DEFAULT_WORKER_MODE"]["value"] == "process"
        value = json.loads(env["LSO_DEFAULT_PROCESSING"]["value"])
        assert value == PROCESSING
        ProcessingSpec.model_validate(value)  # what the operator's settings will parse
    for component in ("operator", "hooks"):
        assert "LSO_DEFAULT_PROCESSING" not in container_env(
            by_name(render())[("Deployment", f"{FULLNAME}-{component}")]
        )


def test_default_worker_mode_process_needs_default_processing() -> None:
    stderr = render_fails("--set", "streams.defaultWorkerMode=process")
    assert "streams.defaultWorkerMode" in stderr, stderr
    assert "streams.defaultProcessing" in stderr, stderr


def test_default_processing_never_names_the_internal_secret() -> None:
    ref = {"name": f"{FULLNAME}-internal", "key": "hook-token"}
    bad = {"backend": {"url": "wss://backend.example.com/v1/audio", "credentialsSecretRef": ref}}
    stderr = render_fails("--set-json", f"streams.defaultProcessing={json.dumps(bad)}")
    assert "internal Secret" in stderr, stderr


@pytest.mark.parametrize(
    "processing",
    [
        {"mix": "duck"},  # no backend
        {"backend": {"url": "ws://a:1/x", "service": {"name": "a", "port": 1}}},  # both
        {"backend": {"url": "http://a/x"}},
        {"backend": {"url": "ws://a/x", "params": {"targetLufs": -16}}},  # params are strings
        {"backend": {"service": {"name": "Tone", "port": 8080}}},
        {"backend": {"url": "ws://a/x"}, "deadlineMs": 20},
        {"backend": {"url": "ws://a/x"}, "extra": True},
    ],
)
def test_values_schema_rejects_bad_default_processing(processing: dict[str, Any]) -> None:
    stderr = render_fails("--set-json", f"streams.defaultProcessing={json.dumps(processing)}")
    assert "defaultProcessing" in stderr, stderr


@pytest.mark.parametrize(
    "bad",
    [
        "backends.path=v1/audio",
        "backends.port=0",
        "backends.tone.targetLufs=-16",
        "backends.loudness.targetLufs=loud",
        "backends.gemini.apiKeySecretRef.name=Not_A_Name",
    ],
)
def test_values_schema_rejects_bad_backend_values(bad: str) -> None:
    stderr = render_fails("--set", bad)
    assert "backends" in stderr, stderr


# ------------------------------------------------------------------ recording and playback

CLAIM = f"{FULLNAME}-recordings"
VOLUME = f"media-{FULLNAME}-recordings"  # cluster-scoped: the namespace in the name
HOST_PATH = ("--set", "recording.persistence.hostPath=/var/lib/livestream-operator/recordings")
HOOKS_SELECTOR = {
    "app.kubernetes.io/name": "livestream-operator",
    "app.kubernetes.io/instance": "lso",
    "app.kubernetes.io/component": "hooks",
}


def _mediamtx_pod(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = docs[MEDIAMTX]["spec"]["template"]["spec"]
    return pod


def _recordings_volume(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/recordings"]
    assert not mount.get("readOnly"), "MediaMTX writes the recordings"
    volumes: list[dict[str, Any]] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (volume,) = volumes
    return volume


def test_recordings_are_on_a_pvc_by_default() -> None:
    docs = by_name(render())
    pvc = docs[("PersistentVolumeClaim", CLAIM)]
    assert pvc["metadata"]["namespace"] == "media"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    # No storageClassName at all: the cluster's default class provisions it.
    assert "storageClassName" not in pvc["spec"]
    assert "volumeName" not in pvc["spec"]
    assert not [k for k, _ in docs if k == "PersistentVolume"]
    pod = _mediamtx_pod(docs)
    assert _recordings_volume(pod) == {
        "name": "recordings",
        "persistentVolumeClaim": {"claimName": CLAIM},
    }
    # No root container without hostPath: only the slates' renderer (unprivileged).
    assert [c["name"] for c in pod["initContainers"]] == ["render-slates"]
    # One writer of the ReadWriteOnce claim, replaced rather than overlapped: a
    # StatefulSet's rolling update deletes its Pod before it makes the new one.
    mtx = docs[MEDIAMTX]
    assert mtx["kind"] == "StatefulSet"
    assert (mtx["spec"]["replicas"], mtx["spec"]["updateStrategy"]["type"]) == (1, "RollingUpdate")
    assert pod["securityContext"]["fsGroup"] == 10001


def test_recordings_pvc_follows_size_class_and_access_modes() -> None:
    docs = by_name(
        render(
            "--set", "recording.persistence.size=50Gi",
            "--set", "recording.persistence.storageClassName=fast-ssd",
            "--set", "recording.persistence.accessModes={ReadWriteOncePod}",
        )
    )  # fmt: skip
    spec = docs[("PersistentVolumeClaim", CLAIM)]["spec"]
    assert spec["resources"]["requests"]["storage"] == "50Gi"
    assert spec["storageClassName"] == "fast-ssd"
    assert spec["accessModes"] == ["ReadWriteOncePod"]
    # "-": explicitly no class (a PV bound by hand), not the default one.
    spec = by_name(render("--set", "recording.persistence.storageClassName=-"))[
        ("PersistentVolumeClaim", CLAIM)
    ]["spec"]
    assert spec["storageClassName"] == ""


def test_recordings_on_a_host_path_get_a_bound_pv_and_a_chown_init_container() -> None:
    docs = by_name(render(*HOST_PATH))
    pv = docs[("PersistentVolume", VOLUME)]
    pvc = docs[("PersistentVolumeClaim", CLAIM)]
    assert "namespace" not in pv["metadata"]
    assert pv["spec"]["hostPath"] == {
        "path": "/var/lib/livestream-operator/recordings",
        "type": "DirectoryOrCreate",
    }
    assert pv["spec"]["capacity"]["storage"] == pvc["spec"]["resources"]["requests"]["storage"]
    assert pv["spec"]["accessModes"] == pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    # Bound to each other by name, with no class: kind's default class
    # (kubernetes.io/no-provisioner) never gets involved.
    assert pv["spec"]["storageClassName"] == pvc["spec"]["storageClassName"] == ""
    assert pv["spec"]["claimRef"]["namespace"] == "media"
    assert pv["spec"]["claimRef"]["name"] == CLAIM
    assert pvc["spec"]["volumeName"] == VOLUME
    pod = _mediamtx_pod(docs)
    assert _recordings_volume(pod) == {
        "name": "recordings",
        "persistentVolumeClaim": {"claimName": CLAIM},
    }
    (init,) = [c for c in pod["initContainers"] if c["name"] == "recordings-owner"]
    (mediamtx,) = pod["containers"]
    assert init["image"] == mediamtx["image"]
    assert init["command"] == ["chown", "10001:10001", "/recordings"]
    assert init["volumeMounts"] == [{"name": "recordings", "mountPath": "/recordings"}]
    sc = init["securityContext"]
    assert sc["runAsUser"] == 0
    assert sc["runAsNonRoot"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    # MediaMTX itself stays unprivileged.
    assert mediamtx["securityContext"]["runAsUser"] == 10001
    assert mediamtx["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_recordings_without_persistence_are_on_an_empty_dir() -> None:
    for args in ((), HOST_PATH):  # hostPath is ignored without persistence
        docs = by_name(render("--set", "recording.persistence.enabled=false", *args))
        assert not [k for k, _ in docs if k in ("PersistentVolumeClaim", "PersistentVolume")]
        pod = _mediamtx_pod(docs)
        assert _recordings_volume(pod) == {"name": "recordings", "emptyDir": {}}
        assert [c["name"] for c in pod["initContainers"]] == ["render-slates"]


def test_recordings_on_an_existing_claim() -> None:
    docs = by_name(render("--set", "recording.persistence.existingClaim=my-recordings"))
    assert not [k for k, _ in docs if k in ("PersistentVolumeClaim", "PersistentVolume")]
    assert _recordings_volume(_mediamtx_pod(docs)) == {
        "name": "recordings",
        "persistentVolumeClaim": {"claimName": "my-recordings"},
    }
    stderr = render_fails("--set", "recording.persistence.existingClaim=mine", *HOST_PATH)
    assert "existingClaim" in stderr, stderr
    assert "hostPath" in stderr, stderr


def test_mediamtx_serves_playback_and_keeps_recordings_at_most_max_retention() -> None:
    docs = by_name(render("--set", "recording.maxRetention=72h"))
    (container,) = _mediamtx_pod(docs)["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MTX_PATHDEFAULTS_RECORDDELETEAFTER"] == "72h"
    assert env["TZ"] == "UTC"  # segment files are named in local time
    # The operator caps each stream's retention by the same value.
    operator_env = container_env(docs[("Deployment", f"{FULLNAME}-operator")])
    assert operator_env["LSO_RECORDING_MAX_RETENTION"]["value"] == "72h"
    ports = {p["name"]: p for p in container["ports"]}
    assert ports["playback"] == {"name": "playback", "containerPort": 9996}
    svc = docs[("Service", f"{FULLNAME}-mediamtx")]
    assert svc["spec"]["type"] == "ClusterIP"
    assert {"name": "playback", "port": 9996, "targetPort": "playback"} in svc["spec"]["ports"]
    config = yaml.safe_load(docs[("ConfigMap", f"{FULLNAME}-mediamtx")]["data"]["mediamtx.yml"])
    assert (config["playback"], config["playbackAddress"]) == (True, ":9996")
    assert config["pathDefaults"]["recordPath"].startswith("/recordings/")
    assert config["authHTTPExclude"] == []  # playback requests too go to the receiver
    default = by_name(render())
    (container,) = _mediamtx_pod(default)["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MTX_PATHDEFAULTS_RECORDDELETEAFTER"] == "168h"


PUBLIC_URLS = {"rtmp": "rtmp://media.example.com:1935", "rtsp": "rtsp://127.0.0.1:8554"}


def test_operator_and_receiver_get_the_playback_settings() -> None:
    docs = by_name(
        render(
            "--set-string", f"playback.publicUrls.rtmp={PUBLIC_URLS['rtmp']}",
            "--set-string", f"playback.publicUrls.rtsp={PUBLIC_URLS['rtsp']}",
            "--set", "playback.ingest=true",
            "--set-string", "playback.publicDownloadUrl=https://dl.example.com/recordings",
            "--set", "recording.minFreeBytes=1073741824",
        )
    )  # fmt: skip
    for component in ("operator", "hooks"):
        env = container_env(docs[("Deployment", f"{FULLNAME}-{component}")])
        assert json.loads(env["LSO_PUBLIC_URLS"]["value"]) == PUBLIC_URLS  # no empty keys
        assert env["LSO_MEDIAMTX_PLAYBACK_URL"]["value"] == (
            f"http://{FULLNAME}-mediamtx.media.svc:9996"
        )
        assert env["LSO_PLAYBACK_PUBLIC_URL"]["value"] == "https://dl.example.com/recordings"
        assert env["LSO_PLAYBACK_INGEST"]["value"] == "true"
        assert env["LSO_RECORDING_MIN_FREE_BYTES"]["value"] == "1073741824"
        # What the operator and the receiver will parse (settings.from_env).
        plain = {k: e["value"] for k, e in env.items() if k.startswith("LSO_") and "value" in e}
        settings = from_env(plain)
        assert settings.public_urls == PlaybackURLs.model_validate(PUBLIC_URLS)
        assert settings.mediamtx_playback_url == f"http://{FULLNAME}-mediamtx.media.svc:9996"
        assert settings.playback_public_url == "https://dl.example.com/recordings"
        assert settings.playback_ingest is True
        assert settings.recording_min_free_bytes == 1024**3


def test_playback_settings_default_to_nothing_advertised() -> None:
    docs = by_name(render())
    for component in ("operator", "hooks"):
        env = container_env(docs[("Deployment", f"{FULLNAME}-{component}")])
        assert json.loads(env["LSO_PUBLIC_URLS"]["value"]) == {}
        assert env["LSO_PLAYBACK_INGEST"]["value"] == "false"
        # Unset: the receiver links downloads to LSO_MEDIAMTX_PLAYBACK_URL.
        assert "LSO_PLAYBACK_PUBLIC_URL" not in env
        assert "LSO_MEDIAMTX_PLAYBACK_URL" in env
        # Not 2.68435456e+08: values.yaml numbers are floats to Helm.
        assert env["LSO_RECORDING_MIN_FREE_BYTES"]["value"] == str(256 * 1024 * 1024)
        plain = {k: e["value"] for k, e in env.items() if k.startswith("LSO_") and "value" in e}
        assert from_env(plain).public_urls == PlaybackURLs()


def test_receiver_runs_the_forwarder_image_for_ffmpeg() -> None:
    docs = by_name(render("--set", "images.forwarder.tag=f1", "--set", "images.operator.tag=o1"))
    (hooks,) = docs[("Deployment", f"{FULLNAME}-hooks")]["spec"]["template"]["spec"]["containers"]
    assert hooks["image"] == "livestream-operator/forwarder:f1"
    assert hooks["args"][0] == "hooks"
    assert "command" not in hooks, "both images' entrypoint is livestream-operator"
    assert hooks["securityContext"] == RESTRICTED
    (op,) = docs[("Deployment", f"{FULLNAME}-operator")]["spec"]["template"]["spec"]["containers"]
    assert op["image"] == "livestream-operator/operator:o1"


def test_playback_service_only_when_enabled() -> None:
    name = ("Service", f"{FULLNAME}-mediamtx-playback")
    docs = render()
    assert name not in by_name(docs)
    assert 9996 not in {port for port, _ in _open_ports(docs)}
    # The receivers (which list recordings) reach the playback server, nobody else.
    rules = [r for r in _mediamtx_ingress(docs) if any(p["port"] == 9996 for p in r["ports"])]
    assert rules == [
        {"from": [{"podSelector": {"matchLabels": HOOKS_SELECTOR}}], "ports": [{"port": 9996}]}
    ]
    docs = render("--set", "playback.service.enabled=true")
    svc = by_name(docs)[name]
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "mediamtx"
    assert svc["spec"]["ports"] == [
        {
            "name": "playback",
            "port": 9996,
            "targetPort": "playback",
            "protocol": "TCP",
            "nodePort": 31996,
        }
    ]
    assert (9996, "TCP") in _open_ports(docs)
    assert not [
        r
        for r in _mediamtx_ingress(docs)
        if "from" in r and any(p["port"] == 9996 for p in r["ports"])
    ]
    svc = by_name(
        render(
            "--set", "playback.service.enabled=true",
            "--set", "playback.service.type=LoadBalancer",
            "--set", "playback.service.port=443",
            "--set", "playback.service.annotations.example\\.com/lb=internal",
        )
    )[name]  # fmt: skip
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"][0]["port"] == 443
    assert "nodePort" not in svc["spec"]["ports"][0]
    assert svc["metadata"]["annotations"] == {"example.com/lb": "internal"}


def test_the_receivers_hook_port_takes_mediamtx_only_and_its_user_port_the_clients() -> None:
    def ingress(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        policy = by_name(docs)[("NetworkPolicy", f"{FULLNAME}-hooks")]
        rules: list[dict[str, Any]] = policy["spec"]["ingress"]
        return rules

    (rule,) = ingress(render())
    assert len(rule["from"]) == 1  # MediaMTX only
    assert rule["ports"] == [{"port": 8080}]
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}}}
    hooks, users = ingress(
        render("--set-json", f"networkPolicies.receiverClients=[{json.dumps(peer)}]")
    )
    assert hooks == rule  # still MediaMTX only: its auth calls carry no credential
    assert users == {"from": [peer], "ports": [{"port": 8081}]}
    docs = by_name(render())
    deployment = docs[("Deployment", f"{FULLNAME}-hooks")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--api-port=8081" in container["args"]
    service = docs[("Service", f"{FULLNAME}-hooks")]
    assert {"name": "api", "port": 8081, "targetPort": "api"} in service["spec"]["ports"]


def test_the_recordings_claim_is_kept_on_uninstall_unless_told() -> None:
    claim = by_name(render())[("PersistentVolumeClaim", f"{FULLNAME}-recordings")]
    assert claim["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    claim = by_name(render("--set", "recording.persistence.keep=false"))[
        ("PersistentVolumeClaim", f"{FULLNAME}-recordings")
    ]
    assert "annotations" not in claim["metadata"]


@pytest.mark.parametrize(
    "bad",
    [
        "recording.persistence.size=lots",
        "recording.persistence.storageClassName=Fast_SSD",
        "recording.persistence.hostPath=relative/dir",
        "recording.persistence.accessModes={ReadOnlyMany}",
        "recording.persistence.existingClaim=Not_A_Name",
        "recording.persistence.enable=true",
        "recording.maxRetention=forever",
        "recording.maxRetention=24",
        "recording.maxRetention=7d",
        "recording.minFreeBytes=-1",
        "recording.retention=24h",
        "playback.publicUrls.rtmp=http://media.example.com",
        "playback.publicUrls.rtsp=rtsp://user:pass@media.example.com:8554",
        "playback.publicUrls.hls=https://media.example.com/hls/",
        "playback.publicUrls.srt=srt://media.example.com:8890",
        "playback.publicDownloadUrl=ftp://media.example.com",
        "playback.ingest=yes",
        "playback.service.type=Ingress",
        "playback.service.enable=true",
        "playback.service.nodePort=0",
    ],
)
def test_values_schema_rejects_bad_recording_and_playback_values(bad: str) -> None:
    flag = (
        "--set"
        if bad.split("=")[0].endswith(("minFreeBytes", "nodePort", "accessModes"))
        else "--set-string"
    )
    stderr = render_fails(flag, bad)
    assert bad.split(".")[0] in stderr, stderr


# ------------------------------------------------------------------ HLS playback

HLS = ("--set", "playback.hls.enabled=true")
HLS_SERVICE = ("Service", f"{FULLNAME}-mediamtx-hls")


def _mediamtx_env(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str | None]:
    (container,) = _mediamtx_pod(docs)["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_hls_is_off_by_default() -> None:
    docs = render()
    named = by_name(docs)
    config = yaml.safe_load(named[("ConfigMap", f"{FULLNAME}-mediamtx")]["data"]["mediamtx.yml"])
    assert config["hls"] is False  # the chart's env turns it on, not the file
    assert not [name for name in _mediamtx_env(named) if name.startswith("MTX_HLS")]
    (container,) = _mediamtx_pod(named)["containers"]
    assert "hls" not in {p["name"] for p in container["ports"]}
    assert 8888 not in {p["containerPort"] for p in container["ports"]}
    svc = named[("Service", f"{FULLNAME}-mediamtx")]
    assert "hls" not in {p["name"] for p in svc["spec"]["ports"]}
    assert HLS_SERVICE not in named
    assert not [r for r in _mediamtx_ingress(docs) if any(p["port"] == 8888 for p in r["ports"])]
    # A public hls base alone (a proxy or another server of yours) turns nothing on.
    docs = render("--set-string", "playback.publicUrls.hls=https://hls.example.com")
    assert HLS_SERVICE not in by_name(docs)
    assert "MTX_HLS" not in _mediamtx_env(by_name(docs))


def test_hls_enabled_serves_hls_from_mediamtx_through_its_service() -> None:
    docs = render(*HLS)
    named = by_name(docs)
    env = _mediamtx_env(named)
    assert {k: v for k, v in env.items() if k.startswith("MTX_HLS")} == {
        "MTX_HLS": "yes",  # MediaMTX's env booleans: yes/true, no/false
        "MTX_HLSADDRESS": ":8888",
        "MTX_HLSVARIANT": "lowLatency",
        "MTX_HLSSEGMENTDURATION": "1s",
        "MTX_HLSPARTDURATION": "200ms",
        "MTX_HLSALWAYSREMUX": "no",
        "MTX_HLSMUXERCLOSEAFTER": "60s",
    }
    # Reads over HLS go to the receiver like every other request.
    assert env["MTX_AUTHHTTPADDRESS"] == (
        f"http://{FULLNAME}-hooks.media.svc:8080/v1/mediamtx/auth?instance=$(LSO_MEDIAMTX_INSTANCE)"
    )
    (container,) = _mediamtx_pod(named)["containers"]
    assert {"name": "hls", "containerPort": 8888} in container["ports"]
    svc = named[("Service", f"{FULLNAME}-mediamtx")]
    assert {"name": "hls", "port": 8888, "targetPort": "hls"} in svc["spec"]["ports"]
    hls = named[HLS_SERVICE]
    assert hls["spec"]["type"] == "NodePort"
    assert hls["spec"]["selector"] == svc["spec"]["selector"]
    assert hls["spec"]["ports"] == [
        {"name": "hls", "port": 8888, "targetPort": "hls", "protocol": "TCP", "nodePort": 31888}
    ]
    assert "annotations" not in hls["metadata"]
    # Anyone may connect (the receiver decides who reads), as to RTMP.
    assert (8888, "TCP") in _open_ports(docs)
    assert (1935, "TCP") in _open_ports(docs)


def test_hls_settings_and_service_follow_the_values() -> None:
    docs = render(
        *HLS,
        "--set", "playback.hls.variant=mpegts",
        "--set", "playback.hls.segmentDuration=2s",
        "--set", "playback.hls.partDuration=500ms",
        "--set", "playback.hls.alwaysRemux=true",
        "--set", "playback.hls.muxerCloseAfter=10s",
        "--set", "playback.hls.trustedProxies={10.0.0.0/8,192.168.1.1}",
        "--set", "playback.hls.service.type=LoadBalancer",
        "--set", "playback.hls.service.port=80",
        "--set", "playback.hls.service.annotations.example\\.com/lb=internal",
        "--set", "mediamtx.ports.hls=8080",
    )  # fmt: skip
    named = by_name(docs)
    env = _mediamtx_env(named)
    assert env["MTX_HLSADDRESS"] == ":8888"  # the container's port is fixed
    assert env["MTX_HLSVARIANT"] == "mpegts"
    assert env["MTX_HLSSEGMENTDURATION"] == "2s"
    assert env["MTX_HLSPARTDURATION"] == "500ms"
    assert env["MTX_HLSALWAYSREMUX"] == "yes"
    assert env["MTX_HLSMUXERCLOSEAFTER"] == "10s"
    assert env["MTX_HLSTRUSTEDPROXIES"] == "10.0.0.0/8,192.168.1.1"
    svc = named[("Service", f"{FULLNAME}-mediamtx")]
    assert {"name": "hls", "port": 8080, "targetPort": "hls"} in svc["spec"]["ports"]
    hls = named[HLS_SERVICE]
    assert hls["spec"]["type"] == "LoadBalancer"
    assert hls["spec"]["ports"] == [
        {"name": "hls", "port": 80, "targetPort": "hls", "protocol": "TCP"}
    ]
    assert hls["metadata"]["annotations"] == {"example.com/lb": "internal"}
    assert (8888, "TCP") in _open_ports(docs)  # the policy names the container port
    docs = render(*HLS, "--set", "playback.hls.service.nodePort=null")
    assert "nodePort" not in by_name(docs)[HLS_SERVICE]["spec"]["ports"][0]


def test_hls_public_url_reaches_status_as_the_out_playlist() -> None:
    base = "http://127.0.0.1:8888"
    docs = by_name(render(*HLS, "--set-string", f"playback.publicUrls.hls={base}"))
    for component in ("operator", "hooks"):
        env = container_env(docs[("Deployment", f"{FULLNAME}-{component}")])
        assert json.loads(env["LSO_PUBLIC_URLS"]["value"]) == {"hls": base}
        plain = {k: e["value"] for k, e in env.items() if k.startswith("LSO_") and "value" in e}
        urls = playback_urls("live/s1/out", from_env(plain))
        assert urls is not None
        assert urls.hls == f"{base}/live/s1/out/index.m3u8"


@pytest.mark.parametrize(
    "bad",
    [
        "playback.hls.enable=true",
        "playback.hls.enabled=yes",
        "playback.hls.variant=llhls",
        "playback.hls.segmentDuration=1",
        "playback.hls.partDuration=fast",
        "playback.hls.muxerCloseAfter=1m later",
        "playback.hls.alwaysRemux=sometimes",
        "playback.hls.directory=/tmp/hls",
        "playback.hls.service.enabled=true",
        "playback.hls.service.type=Ingress",
        "playback.hls.service.nodePort=0",
        "playback.hls.service.port=70000",
        "playback.hls.trustedProxies={proxy.example.com}",
        "mediamtx.ports.hls=0",
    ],
)
def test_values_schema_rejects_bad_hls_values(bad: str) -> None:
    key = bad.split("=")[0]
    flag = "--set" if key.endswith(("nodePort", "port", "Proxies", ".hls")) else "--set-string"
    stderr = render_fails(flag, bad)
    assert key.rsplit(".", 1)[0] in stderr, stderr  # playback.hls..., mediamtx.ports
