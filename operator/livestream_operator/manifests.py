"""Pod manifests for a LiveStream's worker and forwarder (pure functions)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import naming
from .models import API_VERSION, GROUP, KIND, LiveStreamSpec, ResourceRequirements
from .settings import Settings

Body = dict[str, Any]

MANAGED_BY = "livestream-operator"
STREAM_LABEL = f"{GROUP}/stream"
STREAM_ID_ANNOTATION = f"{GROUP}/stream-id"
SPEC_HASH_ANNOTATION = f"{GROUP}/spec-hash"
WORKER = "worker"
FORWARDER = "forwarder"
WORKER_METRICS_PORT = 9100
FORWARDER_FIRST_PORT = 9101
RUN_AS = 10001
# Every managed Pod carries this label: the operator watches only these.
MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"


def labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"livestream-{component}",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "livestream-operator",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        STREAM_LABEL: name,
    }


def owner_reference(livestream: Body) -> Body:
    meta = livestream["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _spec_hash(content: Any) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _restricted_container() -> Body:
    """The restricted Pod Security Standard, plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod(
    livestream: Body, component: str, pod_name: str, containers: list[Body], hashed: Any
) -> Body:
    """A Pod owned by the LiveStream.

    `hashed` is the part of the LiveStream spec this Pod realises: when it changes,
    the Pod is replaced. Operator settings (default images, resources) are not
    hashed, so upgrading the operator never interrupts running streams.
    """
    meta = livestream["metadata"]
    name = meta["name"]
    pod_spec: Body = {
        "restartPolicy": "Always",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 10,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        # The root filesystem is read-only; GStreamer's registry cache and
        # ffmpeg's temporary files go here.
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": meta["namespace"],
            "labels": labels(name, component),
            "annotations": {
                STREAM_ID_ANNOTATION: livestream["spec"]["streamId"],
                SPEC_HASH_ANNOTATION: _spec_hash(hashed),
            },
            "ownerReferences": [owner_reference(livestream)],
        },
        "spec": pod_spec,
    }


def _env(pairs: dict[str, str]) -> list[Body]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def _resources(resources: ResourceRequirements) -> Body:
    return resources.wire()


def _health_probe(port: int) -> Body:
    # /healthz answers 200 only while media is flowing, so "ready" means "streaming".
    return {
        "httpGet": {"path": "/healthz", "port": port},
        "periodSeconds": 2,
        "failureThreshold": 2,
        "timeoutSeconds": 1,
    }


_COMMON_ENV = {"HOME": "/tmp", "GST_REGISTRY": "/tmp/gst-registry.bin", "PYTHONUNBUFFERED": "1"}


def worker_pod(livestream: Body, settings: Settings) -> Body:
    spec = LiveStreamSpec.model_validate(livestream["spec"])
    name = livestream["metadata"]["name"]
    rtsp, rtmp = settings.mediamtx_rtsp_url, settings.mediamtx_rtmp_url
    container = {
        "name": WORKER,
        "image": spec.worker.image or settings.worker_image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["worker"],
        "env": _env(
            {
                "LSO_STREAM_ID": spec.stream_id,
                "LSO_INPUT_URL": f"{rtsp}/{naming.ingest_path(spec.stream_id)}",
                "LSO_OUTPUT_URL": f"{rtmp}/{naming.output_path(spec.stream_id)}",
                "LSO_MODE": spec.worker.mode.value,
                "LSO_METRICS_PORT": str(WORKER_METRICS_PORT),
                **_COMMON_ENV,
            }
        ),
        "ports": [{"name": "metrics", "containerPort": WORKER_METRICS_PORT}],
        "readinessProbe": _health_probe(WORKER_METRICS_PORT),
        "resources": _resources(spec.worker.resources or settings.worker_resources),
        "securityContext": _restricted_container(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return _pod(
        livestream,
        WORKER,
        naming.worker_pod_name(name),
        [container],
        [spec.stream_id, spec.worker.wire()],
    )


def forwarder_pod(livestream: Body, settings: Settings) -> Body | None:
    """One container per destination, so each one's state and restarts show on its own."""
    spec = LiveStreamSpec.model_validate(livestream["spec"])
    destinations = spec.forwarder.destinations if spec.forwarder else []
    if not destinations:
        return None
    name = livestream["metadata"]["name"]
    source = f"{settings.mediamtx_rtsp_url}/{naming.output_path(spec.stream_id)}"
    containers = []
    for index, dest in enumerate(destinations):
        port = FORWARDER_FIRST_PORT + index
        env = _env(
            {
                "LSO_STREAM_ID": spec.stream_id,
                "LSO_INPUT_URL": source,
                "LSO_DESTINATION_NAME": dest.name,
                "LSO_METRICS_PORT": str(port),
                **_COMMON_ENV,
            }
        )
        env.append(
            {
                "name": "LSO_DESTINATION_URL",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": dest.url_secret_ref.name,
                        "key": dest.url_secret_ref.key,
                    }
                },
            }
        )
        containers.append(
            {
                "name": destination_container(dest.name),
                "image": settings.forwarder_image,
                "imagePullPolicy": settings.image_pull_policy,
                "args": ["forward"],
                "env": env,
                "ports": [{"name": f"m-{index}", "containerPort": port}],
                "readinessProbe": _health_probe(port),
                "resources": _resources(settings.forwarder_resources),
                "securityContext": _restricted_container(),
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        )
    return _pod(
        livestream,
        FORWARDER,
        naming.forwarder_pod_name(name),
        containers,
        [spec.stream_id, [d.wire() for d in destinations]],
    )


def destination_container(destination: str) -> str:
    return f"dest-{destination}"


def spec_hash(pod: Body) -> str | None:
    value = (pod.get("metadata", {}).get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
    return str(value) if value is not None else None
