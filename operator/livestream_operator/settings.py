"""Runtime settings of the operator and the hook receiver, read from LSO_* env vars."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .api.instances import Instances
from .api.json_schema import model_schema
from .api.pod_contract import refused_backend_secret
from .api.slates import Slates
from .api.v1alpha1 import (
    DEFAULT_GRACE_SECONDS,
    DNS_SUBDOMAIN_PATTERN,
    MAX_RETENTION_SECONDS,
    MIN_RETENTION_SECONDS,
    RETENTION_RANGE,
    SLATE_NAME_PATTERN,
    BackoffSeconds,
    Destinations,
    Duration,
    GraceSeconds,
    InputLossFill,
    InstanceName,
    MaxRetries,
    OutputProtocol,
    PlaybackURLs,
    ProcessingSpec,
    ResourceRequirements,
    WireModel,
    WorkerMode,
    duration_within,
)
from .logs import LOG_LEVELS, LogLevel


class AuthMode(StrEnum):
    OPEN = "open"  # anyone may publish and read streams (local demos)
    STREAM_KEY = "streamKey"  # publishers need their stream's key


class OutputRead(StrEnum):
    PUBLIC = "public"  # anyone may read live/<id>/out
    KEYED = "keyed"  # readers of out need the stream's key


class PullPolicy(StrEnum):
    """imagePullPolicy of the Pods the operator creates (Kubernetes' values)."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


# In either case, as Python's logging takes it.
AnyCaseLogLevel = Annotated[
    LogLevel,
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
    Field(json_schema_extra={"enum": [*LOG_LEVELS, *(level.lower() for level in LOG_LEVELS)]}),
]


# A port to listen on; 0: do not listen.
PortOrOff = Annotated[int, Field(ge=0, le=65535)]


def _split_commas(value: object) -> object:
    # An empty item stays (and fails the item's pattern): "a,,b" is a typo, not two names.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")] if value.strip() else []
    return value


# A list given as "a,b,c" in its variable, not as JSON (see from_env).
COMMA_SEPARATED = BeforeValidator(_split_commas)

# The most MediaMTX instances the chart runs (mediamtx.replicas): one until the
# operator follows its streams from one instance to another (issue #18).
MAX_MEDIAMTX_INSTANCES = 1


class SettingsError(ValueError):
    """A setting that cannot be used, with the variable's name in the message."""


class Settings(WireModel):
    namespace: str = Field(default="default", description="LSO_NAMESPACE")
    # Where MediaMTX is, as seen from the operator and from the Pods it creates.
    mediamtx_api_url: str = Field(default="http://mediamtx:9997")
    mediamtx_rtsp_url: str = Field(default="rtsp://mediamtx:8554")
    mediamtx_rtmp_url: str = Field(default="rtmp://mediamtx:1935")
    # The MediaMTX instances by name (the chart's StatefulSet Pods, "a,b" in
    # LSO_MEDIAMTX_INSTANCES) and the DNS domain their names resolve in (its headless
    # Service: <instance>.<domain>). Empty: the one instance behind the URLs above.
    mediamtx_instances: Annotated[list[InstanceName], COMMA_SEPARATED] = Field(default_factory=list)
    mediamtx_domain: str = Field(
        default="", pattern=f"^({DNS_SUBDOMAIN_PATTERN[1:-1]})?$", max_length=253
    )
    worker_image: str = Field(default="livestream-worker:0.1.0")
    forwarder_image: str = Field(default="livestream-forwarder:0.1.0")
    image_pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    worker_resources: ResourceRequirements = Field(
        default=ResourceRequirements(
            requests={"cpu": "100m", "memory": "64Mi"}, limits={"cpu": "1", "memory": "256Mi"}
        )
    )
    forwarder_resources: ResourceRequirements = Field(
        default=ResourceRequirements(
            requests={"cpu": "20m", "memory": "32Mi"}, limits={"cpu": "500m", "memory": "128Mi"}
        )
    )
    # Defaults for LiveStreams the receiver creates from hooks.
    default_worker_mode: WorkerMode = WorkerMode.BYPASS
    default_worker_output: OutputProtocol = OutputProtocol.RTSP
    default_input_loss_fill: InputLossFill = InputLossFill.SLATE
    # spec.inputLoss.slate of those LiveStreams: a name in `slates` ("" for MediaMTX's own;
    # the chart refuses another, and a stream naming one gets the Slate condition).
    default_input_loss_slate: str = Field(default="", pattern=SLATE_NAME_PATTERN, max_length=63)
    # The chart's slates (values.yaml `slates`), the same JSON the renderer read: the
    # operator names their files from it (api/slates.py).
    slates: Slates = Field(default_factory=dict)
    default_grace_seconds: GraceSeconds = DEFAULT_GRACE_SECONDS
    default_destinations: Destinations = Field(default_factory=list)
    # spec.worker.processing of those LiveStreams; required when the default mode is process.
    default_processing: ProcessingSpec | None = None
    # How destinations retry where spec.forwarder.retry (or a destination's) is unset.
    destination_max_retries: MaxRetries = 0
    destination_backoff_seconds: BackoffSeconds = 1
    destination_backoff_cap_seconds: BackoffSeconds = 30
    resync_seconds: float = Field(default=5.0, gt=0, le=3600)
    mediamtx_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    concurrency: int = Field(default=16, ge=1, le=256)
    health_port: PortOrOff = 8080
    metrics_port: PortOrOff = 9090
    log_level: AnyCaseLogLevel = LogLevel.INFO
    # Who may publish and read (the receiver's auth endpoint, MediaMTX's authHTTPAddress).
    auth_mode: AuthMode = AuthMode.STREAM_KEY
    output_read: OutputRead = OutputRead.KEYED
    max_streams: int = Field(default=0, ge=0, le=100_000)
    max_streams_per_ip: int = Field(default=0, ge=0, le=100_000)
    # The early signal: an allowed publish creates (or wakes) its LiveStream from the
    # auth call, so the worker starts while MediaMTX still analyses the publish. Off:
    # streams start from the ready hook alone.
    early_signal: bool = True
    # How long an admitted publish may take to become available; past it the stream
    # counts as gone and the grace period runs.
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Recording and playback. The receiver lists recordings on MediaMTX's playback
    # server and links to them at its public address; the operator reports a
    # Recording condition of StorageFull below the free space given here, and puts
    # the public addresses of the protocols set in public_urls in status.playback.
    mediamtx_playback_url: str = Field(default="http://mediamtx:9996")
    playback_public_url: str = Field(default="", description="default: mediamtx_playback_url")
    recording_min_free_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    # The longest a segment is kept: mediamtx.yml's recordDeleteAfter (the chart
    # sets both from recording.maxRetention); streams asking more are capped.
    recording_max_retention: Duration = "168h"
    public_urls: PlaybackURLs = Field(default_factory=PlaybackURLs)
    playback_ingest: bool = False
    # Warm worker pool (operator): idle worker Pods claimed by new streams.
    worker_pool_size: int = Field(default=0, ge=0, le=100)
    # Internal credentials (from the chart's generated Secret): the hook wrapper's
    # token, the operator's Control API user, the workers' and forwarders' users.
    hook_token: SecretStr = SecretStr("")
    operator_user: str = "lso-operator"
    operator_password: SecretStr = SecretStr("")
    worker_user: str = "lso-worker"
    worker_password: SecretStr = SecretStr("")
    forwarder_user: str = "lso-forwarder"
    forwarder_password: SecretStr = SecretStr("")
    # The Secret Pods read their credentials from (keys worker-password,
    # forwarder-password, pool-token, forwarder-token).
    internal_secret: str = Field(default="", max_length=253)
    # The token the operator shows a claimed pool worker (pod_contract.POOL_TOKEN_KEY).
    pool_token: SecretStr = SecretStr("")
    # The token the operator shows a forwarder container to retry now
    # (pod_contract.FORWARDER_TOKEN_KEY).
    forwarder_token: SecretStr = SecretStr("")
    # Leader election (operator): only the holder of this Lease, in `namespace`,
    # reconciles and resyncs; the holder renews it every renew_seconds.
    leader_election: bool = True
    lease_name: str = Field(default="livestream-operator", min_length=1, max_length=253)
    lease_seconds: int = Field(default=10, ge=2, le=3600)
    renew_seconds: float = Field(default=2.0, gt=0, le=1200)

    @field_validator("recording_max_retention")
    @classmethod
    def _max_retention_bounds(cls, value: str) -> str:
        # 0s would mean "forever" to MediaMTX, and cap every stream at forever.
        if not duration_within(value, MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS):
            raise ValueError(f"must be {RETENTION_RANGE}")
        return value

    @field_validator("mediamtx_instances")
    @classmethod
    def _instances_once(cls, value: list[str]) -> list[str]:
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once")
        return value

    @field_validator("renew_seconds")
    @classmethod
    def _renew_well_within_the_lease(cls, value: float, info: ValidationInfo) -> float:
        lease = info.data.get("lease_seconds")
        if lease is not None and value > lease / 3:
            raise ValueError(f"must be at most a third of the lease ({lease} s)")
        return value

    @model_validator(mode="after")
    def _default_processing_usable(self) -> Settings:
        # Checked here, not per field: it needs the mode and the internal Secret's name.
        if self.default_worker_mode is WorkerMode.PROCESS and self.default_processing is None:
            raise ValueError(f"{_DEFAULT_PROCESSING}: required when {_DEFAULT_MODE} is process")
        ref = (
            self.default_processing.backend.credentials_secret_ref
            if self.default_processing
            else None
        )
        refused = refused_backend_secret(ref.name, self.internal_secret) if ref else None
        if refused:
            raise ValueError(
                f"{_DEFAULT_PROCESSING}: backend.credentialsSecretRef must not name {refused}"
            )
        return self

    def instances(self) -> Instances:
        """The MediaMTX instances (api/instances.py); none named: the one behind the
        mediamtx_* URLs. Built once per distinct configuration."""
        return _instances(
            tuple(self.mediamtx_instances),
            self.mediamtx_domain,
            self.mediamtx_api_url,
            self.mediamtx_rtsp_url,
            self.mediamtx_rtmp_url,
            self.mediamtx_playback_url,
        )


@functools.lru_cache(maxsize=16)
def _instances(
    names: tuple[str, ...], domain: str, api: str, rtsp: str, rtmp: str, playback: str
) -> Instances:
    return Instances(
        names, domain, api_url=api, rtsp_url=rtsp, rtmp_url=rtmp, playback_url=playback
    )


_DEFAULT_PROCESSING = "LSO_DEFAULT_PROCESSING"
_DEFAULT_MODE = "LSO_DEFAULT_WORKER_MODE"
_ENV = {name: "LSO_" + name.upper() for name in Settings.model_fields}
# Structured settings are JSON in their variable, but for comma-separated lists.
_SCHEMA = model_schema(Settings)["properties"]
COMMA_SEPARATED_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if COMMA_SEPARATED in field.metadata
)
_JSON_FIELDS = {
    name
    for name, field in Settings.model_fields.items()
    if _SCHEMA[field.alias or name].get("type") in ("object", "array")
} - COMMA_SEPARATED_FIELDS


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from LSO_* variables (JSON for structured ones); errors name the variable."""
    env = os.environ if env is None else env
    raw: dict[str, object] = {}
    for field, var in _ENV.items():
        if var not in env:
            continue
        value: object = env[var]
        if field in _JSON_FIELDS:
            try:
                value = json.loads(env[var])
            except ValueError as exc:
                raise SettingsError(f"{var}: not valid JSON ({exc})") from None
        raw[field] = value
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a check across fields: its message names the variables
            raise SettingsError(str(first["msg"]).removeprefix("Value error, ")) from None
        field, *inner = (str(part) for part in first["loc"])
        where = f" ({'.'.join(inner)})" if inner else ""  # within a JSON value
        raise SettingsError(f"{_ENV.get(field, field)}{where}: {first['msg']}") from None


def env_names() -> dict[str, str]:
    return dict(_ENV)
