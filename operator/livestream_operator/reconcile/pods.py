"""Pod manifests for a LiveStream's worker and forwarder (pure functions).

What goes into each container's environment is the Pod contract
(api/pod_contract.py), built with its to_env().
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..api import naming
from ..api.instances import DEFAULT, Instance, home
from ..api.pod_contract import (
    BACKEND_TOKEN_VAR,
    FORWARDER_PASSWORD_KEY,
    FORWARDER_TOKEN_KEY,
    FORWARDER_TOKEN_VAR,
    HEALTH_PATH,
    MEDIA_PASSWORD_VAR,
    POOL_TOKEN_KEY,
    POOL_TOKEN_VAR,
    RUNTIME_ENV,
    WORKER_METRICS_PORT,
    WORKER_PASSWORD_KEY,
    ForwarderEnv,
    WorkerEnv,
    WorkerProcessing,
    forwarder_port,
    refused_backend_secret,
)
from ..api.v1alpha1 import (
    GROUP,
    Destination,
    InputLossFill,
    InputRole,
    LiveStream,
    OutputProtocol,
    ResourceRequirements,
    RetryPolicy,
    SecretKeyRef,
    WorkerMode,
)
from ..settings import Settings

Body = dict[str, Any]

MANAGED_BY = "livestream-operator"
STREAM_LABEL = f"{GROUP}/stream"
COMPONENT_LABEL = "app.kubernetes.io/component"
STREAM_ID_ANNOTATION = f"{GROUP}/stream-id"
SPEC_HASH_ANNOTATION = f"{GROUP}/spec-hash"
# Warm pool workers: "idle" until a stream claims one, then "claimed" (and owned
# by that LiveStream, with its stream label). The claim is one conditional write.
POOL_LABEL = f"{GROUP}/pool"
POOL_IDLE = "idle"
POOL_CLAIMED = "claimed"
POOL_TEMPLATE_ANNOTATION = f"{GROUP}/pool-template"
POOL_NAME_PREFIX = "lso-pool-"
WORKER = "worker"
FORWARDER = "forwarder"
RUN_AS = 10001
# Every managed Pod carries this label: the operator watches only these.
MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"


def labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"livestream-{component}",
        "app.kubernetes.io/instance": name,
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": "livestream-operator",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        STREAM_LABEL: name,
    }


def owner_reference(livestream: LiveStream) -> Body:
    return {
        "apiVersion": livestream.api_version,
        "kind": livestream.kind,
        "name": livestream.metadata.name,
        "uid": livestream.metadata.uid,
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
    livestream: LiveStream, component: str, pod_name: str, containers: list[Body], hashed: Any
) -> Body:
    """A Pod owned by the LiveStream.

    `hashed` is the part of the LiveStream spec this Pod realises: when it changes,
    the Pod is replaced. Operator settings (default images, resources) are not
    hashed, so upgrading the operator never interrupts running streams.
    """
    meta = livestream.metadata
    pod = _pod_shell(containers)
    pod["metadata"] = {
        "name": pod_name,
        "namespace": meta.namespace,
        "labels": labels(meta.name, component),
        "annotations": {
            STREAM_ID_ANNOTATION: livestream.spec.stream_id,
            SPEC_HASH_ANNOTATION: _spec_hash(hashed),
        },
        "ownerReferences": [owner_reference(livestream)],
    }
    return pod


def _pod_shell(containers: list[Body]) -> Body:
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
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": pod_spec}


def _env(pairs: dict[str, str]) -> list[Body]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def _secret_env(name: str, secret: str, key: str) -> Body:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _media_credentials(settings: Settings, key: str) -> list[Body]:
    """The Pod's MediaMTX password, from the internal Secret (none in open setups
    that run without one)."""
    if not settings.internal_secret:
        return []
    return [_secret_env(MEDIA_PASSWORD_VAR, settings.internal_secret, key)]


def _resources(resources: ResourceRequirements) -> Body:
    return resources.wire()


def _health_probe(port: int) -> Body:
    # /healthz answers 200 only while media is flowing, so "ready" means "streaming".
    return {
        "httpGet": {"path": HEALTH_PATH, "port": port},
        "periodSeconds": 2,
        "failureThreshold": 2,
        "timeoutSeconds": 1,
    }


def _output_base(protocol: OutputProtocol, at: Instance) -> str:
    # RTSP: MediaMTX takes the tracks from the SDP and the path is available at
    # once; an RTMP publish is analysed for 2 s first.
    if protocol is OutputProtocol.RTMP:
        return at.rtmp_url
    return at.rtsp_url


def placement(livestream: LiveStream, settings: Settings) -> tuple[Instance, Instance]:
    """The MediaMTX instances the worker reads from and publishes to: the active
    publish point's (a backup may be on another instance than `in`), and the
    stream's home, where `out`, its path entries and its forwarders are."""
    instances = settings.instances()
    status = livestream.status
    at = status.backup if read_from(livestream) is naming.PathRole.BACKUP else status.ingest
    source = instances.get((at.instance if at else None) or DEFAULT)
    return source, instances.get(home(livestream, instances.names))


def _placed(livestream: LiveStream, settings: Settings) -> list[str]:
    # Nothing on the default instance: the hash of every worker and forwarder of a
    # single-instance release stays; a stream whose publisher moved to another
    # instance gets new ones there.
    default = settings.instances().names[0]
    source, out = placement(livestream, settings)
    return [
        f"{role}@{at.name}" for role, at in (("in", source), ("out", out)) if at.name != default
    ]


def worker_env(livestream: LiveStream, settings: Settings) -> WorkerEnv:
    """What the worker of this LiveStream is told: by its environment, or, for a
    claimed pool worker, by the assignment (the stream part of the same contract)."""
    spec = livestream.spec
    source_at, out_at = placement(livestream, settings)
    output = _output_base(spec.worker.output, out_at)
    processing = ""
    if spec.worker.mode is WorkerMode.PROCESS and spec.worker.processing is not None:
        # A backend Service is looked up in the LiveStream's namespace.
        namespace = livestream.metadata.namespace or settings.namespace
        resolved = WorkerProcessing.of(spec.worker.processing, namespace)
        processing = resolved.model_dump_json(by_alias=True)
    source = naming.stream_path(spec.stream_id, read_from(livestream))
    return WorkerEnv(
        stream_id=spec.stream_id,
        input_url=f"{source_at.rtsp_url}/{source}",
        output_url=f"{output}/{naming.output_path(spec.stream_id)}",
        mode=spec.worker.mode,
        metrics_port=WORKER_METRICS_PORT,
        media_user=settings.worker_user if settings.internal_secret else "",
        processing=processing,
        fill=spec.input_loss.fill,
        hold_last_frame_seconds=spec.input_loss.hold_last_frame_seconds
        if spec.input_loss.fill is InputLossFill.SLATE
        else 0,
    )


def read_from(livestream: LiveStream) -> naming.PathRole:
    """The publish point the worker reads: status.failover.active (reconcile/failover.py)."""
    chosen = livestream.status.failover
    backup = chosen is not None and chosen.active is InputRole.BACKUP
    return naming.PathRole.BACKUP if backup else naming.PathRole.INGEST


def backend_credentials(livestream: LiveStream) -> SecretKeyRef | None:
    """The Secret key a process-mode worker's backend token comes from, if any."""
    worker = livestream.spec.worker
    if worker.mode is not WorkerMode.PROCESS or worker.processing is None:
        return None
    return worker.processing.backend.credentials_secret_ref


def credentials_refused(livestream: LiveStream, settings: Settings) -> str | None:
    """Why the backend token may not come from the Secret the spec names, or None."""
    ref = backend_credentials(livestream)
    return refused_backend_secret(ref.name, settings.internal_secret) if ref else None


def _backend_token(livestream: LiveStream, settings: Settings) -> list[Body]:
    """BACKEND_TOKEN_VAR from the user's Secret, by reference only (the plan creates
    no worker when it is refused; nor is it ever written here then)."""
    ref = backend_credentials(livestream)
    if ref is None or credentials_refused(livestream, settings):
        return []
    return [_secret_env(BACKEND_TOKEN_VAR, ref.name, ref.key)]


def _worker_container(
    contract: WorkerEnv,
    args: list[str],
    image: str,
    resources: ResourceRequirements,
    settings: Settings,
    extra_env: list[Body] | None = None,
) -> Body:
    return {
        "name": WORKER,
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": args,
        "env": _env({**contract.to_env(), **RUNTIME_ENV})
        + _media_credentials(settings, WORKER_PASSWORD_KEY)
        + (extra_env or []),
        "ports": [{"name": "metrics", "containerPort": contract.metrics_port}],
        "readinessProbe": _health_probe(contract.metrics_port),
        "resources": _resources(resources),
        "securityContext": _restricted_container(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def worker_pod(livestream: LiveStream, settings: Settings) -> Body:
    spec = livestream.spec
    container = _worker_container(
        worker_env(livestream, settings),
        ["worker"],
        spec.worker.image or settings.worker_image,
        spec.worker.resources or settings.worker_resources,
        settings,
        _backend_token(livestream, settings),
    )
    return _pod(
        livestream,
        WORKER,
        naming.worker_pod_name(livestream.metadata.name),
        [container],
        # spec.worker includes processing: a changed backend or fragment size
        # replaces the worker. So does a switch of input (primary/backup).
        [
            spec.stream_id,
            spec.worker.wire(),
            *_switched_input(livestream),
            *_placed(livestream, settings),
        ],
    )


def _switched_input(livestream: LiveStream) -> list[str]:
    # Nothing for the primary: the hash of every worker without a backup stays.
    role = read_from(livestream)
    return [] if role is naming.PathRole.INGEST else [role.value]


def pool_worker_pod(settings: Settings) -> Body:
    """An idle worker of the warm pool: no stream yet, no owner; the server names it.

    It runs the operator's default worker image and resources, so only streams
    that ask for neither are given one (pool.claimable).
    """
    contract = WorkerEnv(
        metrics_port=WORKER_METRICS_PORT,
        media_user=settings.worker_user if settings.internal_secret else "",
    )
    token = (
        [_secret_env(POOL_TOKEN_VAR, settings.internal_secret, POOL_TOKEN_KEY)]
        if settings.internal_secret
        else []
    )
    container = _worker_container(
        contract,
        ["worker", "--pool"],
        settings.worker_image,
        settings.worker_resources,
        settings,
        token,
    )
    pod = _pod_shell([container])
    pod["metadata"] = {
        "generateName": POOL_NAME_PREFIX,
        "namespace": settings.namespace,
        "labels": {**pool_labels(), POOL_LABEL: POOL_IDLE},
        "annotations": {POOL_TEMPLATE_ANNOTATION: _spec_hash(pod["spec"])},
    }
    return pod


def pool_labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"livestream-{WORKER}",
        COMPONENT_LABEL: WORKER,
        "app.kubernetes.io/part-of": "livestream-operator",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def pool_template(settings: Settings) -> str:
    """The hash idle pool Pods carry: a changed default image or resources replaces them."""
    return str(pool_worker_pod(settings)["metadata"]["annotations"][POOL_TEMPLATE_ANNOTATION])


def destination_retry(livestream: LiveStream, dest: Destination, settings: Settings) -> RetryPolicy:
    """A destination's retries, every field set: its own, then spec.forwarder.retry,
    then the operator's defaults. A cap below the backoff is the backoff."""
    forwarder = livestream.spec.forwarder
    layers = [dest.retry, forwarder.retry if forwarder else None]

    def pick(field: str, default: int) -> int:
        for layer in layers:
            value = getattr(layer, field) if layer is not None else None
            if value is not None:
                return int(value)
        return default

    base = pick("backoff_seconds", settings.destination_backoff_seconds)
    return RetryPolicy(
        max_retries=pick("max_retries", settings.destination_max_retries),
        backoff_seconds=base,
        backoff_cap_seconds=max(
            base, pick("backoff_cap_seconds", settings.destination_backoff_cap_seconds)
        ),
    )


def _forwarder_token(settings: Settings) -> list[Body]:
    """The retry-now token, optional: an existing Secret without the key gives a
    forwarder that refuses every retry-now rather than one that cannot start."""
    if not settings.internal_secret:
        return []
    env = _secret_env(FORWARDER_TOKEN_VAR, settings.internal_secret, FORWARDER_TOKEN_KEY)
    env["valueFrom"]["secretKeyRef"]["optional"] = True
    return [env]


def forwarder_pod(livestream: LiveStream, settings: Settings) -> Body | None:
    """One container per destination, so each one's state and restarts show on its own."""
    spec = livestream.spec
    destinations = spec.forwarder.destinations if spec.forwarder else []
    if not destinations:
        return None
    _, out_at = placement(livestream, settings)
    source = f"{out_at.rtsp_url}/{naming.output_path(spec.stream_id)}"
    containers = []
    for index, dest in enumerate(destinations):
        retry = destination_retry(livestream, dest, settings)
        contract = ForwarderEnv(
            stream_id=spec.stream_id,
            input_url=source,
            destination_name=dest.name,
            metrics_port=forwarder_port(index),
            media_user=settings.forwarder_user if settings.internal_secret else "",
            max_retries=retry.max_retries or 0,
            backoff_seconds=retry.backoff_seconds or 1,
            backoff_cap_seconds=retry.backoff_cap_seconds or 1,
        )
        env = _env({**contract.to_env(), **RUNTIME_ENV})
        env += _media_credentials(settings, FORWARDER_PASSWORD_KEY)
        env += _forwarder_token(settings)
        env.append(
            _secret_env(
                ForwarderEnv.DESTINATION_URL_VAR,
                dest.url_secret_ref.name,
                dest.url_secret_ref.key,
            )
        )
        containers.append(
            {
                "name": destination_container(dest.name),
                "image": settings.forwarder_image,
                "imagePullPolicy": settings.image_pull_policy,
                "args": ["forward"],
                "env": env,
                "ports": [{"name": f"m-{index}", "containerPort": contract.metrics_port}],
                "readinessProbe": _health_probe(contract.metrics_port),
                "resources": _resources(settings.forwarder_resources),
                "securityContext": _restricted_container(),
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        )
    hashed: list[Any] = [spec.stream_id, [d.wire() for d in destinations]]
    if spec.forwarder and spec.forwarder.retry is not None:
        # Appended only when set: forwarders made before retries keep their hash.
        hashed.append(spec.forwarder.retry.wire())
    hashed += [p for p in _placed(livestream, settings) if p.startswith("out@")]
    return _pod(
        livestream,
        FORWARDER,
        naming.forwarder_pod_name(livestream.metadata.name),
        containers,
        hashed,
    )


def destination_container(destination: str) -> str:
    return f"dest-{destination}"


def spec_hash(pod: Body) -> str | None:
    """The spec hash a desired Pod manifest carries."""
    value = (pod.get("metadata", {}).get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
    return str(value) if value is not None else None
