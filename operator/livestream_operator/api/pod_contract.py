"""What the operator tells the Pods it creates, and how they read it: environment
variable names, ports and modes, in one place.

The operator builds a container's environment with ``to_env()``; the worker and
the forwarder parse their own with ``from_env()``. A test round-trips both, so the
two sides cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from . import backend_protocol
from .stream_keys import SECRET_PREFIX as KEY_SECRET_PREFIX
from .v1alpha1 import (
    MAX_BACKOFF_SECONDS,
    MAX_DESTINATION_RETRIES,
    MAX_HOLD_LAST_FRAME_SECONDS,
    STREAM_ID_PATTERN,
    DestinationState,
    HoldLastFrameSeconds,
    InputLossFill,
    MixMode,
    ProcessingSpec,
    ProcessingState,
    WorkerMode,
    camel,
)

WORKER_METRICS_PORT = 9100
# Forwarder containers share the Pod's network namespace: one port each.
FORWARDER_FIRST_PORT = 9101
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

# The root filesystem is read-only: HOME, GStreamer's registry cache and ffmpeg's
# temporary files live on the Pod's /tmp emptyDir.
RUNTIME_ENV = {"HOME": "/tmp", "GST_REGISTRY": "/tmp/gst-registry.bin", "PYTHONUNBUFFERED": "1"}


# The Pod's MediaMTX password comes from the internal Secret (secretKeyRef), never a
# value in the manifest; the user is plain (WorkerEnv/ForwarderEnv.media_user).
MEDIA_PASSWORD_VAR = "LSO_MEDIA_PASSWORD"
WORKER_PASSWORD_KEY = "worker-password"
FORWARDER_PASSWORD_KEY = "forwarder-password"


# Warm pool workers (started with `worker --pool`, no stream yet) wait for the
# operator to POST a WorkerAssignment to ASSIGNMENT_PATH on WORKER_METRICS_PORT,
# with "Authorization: Bearer <pool token>"; the token reaches both sides from the
# internal Secret's POOL_TOKEN_KEY (the Pod gets it as POOL_TOKEN_VAR).
ASSIGNMENT_PATH = "/v1/assignment"
POOL_TOKEN_VAR = "LSO_POOL_TOKEN"
POOL_TOKEN_KEY = "pool-token"


# Process mode: the worker's LSO_PROCESSING holds a WorkerProcessing as JSON, its
# backend token (when the spec names one) comes from the user's Secret as
# BACKEND_TOKEN_VAR, and it reports how processing goes as a ProcessingReport at
# PROCESSING_PATH on WORKER_METRICS_PORT, which the operator polls.
PROCESSING_PATH = "/v1/processing"
BACKEND_TOKEN_VAR = "LSO_BACKEND_TOKEN"
# How often the operator asks a process-mode worker for its ProcessingReport.
PROCESSING_POLL_SECONDS = 5.0


# Each forwarder container reports its destination's retry state as a
# DestinationReport at DESTINATION_PATH on its forwarder_port(index); the operator
# asks while the destination is not Active. A POST to RETRY_PATH with
# "Authorization: Bearer <forwarder token>" retries at once (the retry-now
# annotation); the token reaches both sides from the internal Secret's
# FORWARDER_TOKEN_KEY, never the pool token (a forwarder talks to third parties).
DESTINATION_PATH = "/v1/destination"
RETRY_PATH = "/v1/retry"
FORWARDER_TOKEN_VAR = "LSO_FORWARDER_TOKEN"
FORWARDER_TOKEN_KEY = "forwarder-token"
DESTINATION_POLL_SECONDS = 5.0
# The states a forwarder reports; the others are the operator's (DestinationState).
REPORTED_STATES = (
    DestinationState.CONNECTING,
    DestinationState.ACTIVE,
    DestinationState.RETRYING,
    DestinationState.EXHAUSTED,
)
MAX_ERROR_LENGTH = 400
# The AAC (sample rate, channels) a worker of each mode publishes to out. With
# spec.inputLoss.fill Slate, MediaMTX declares out's tracks up front (H.264 and
# this AAC) and refuses a publisher whose audio differs, so the worker re-encodes
# bypass mode's audio to it; tone mode's tone and process mode's backend audio
# are made in it. 44.1 kHz: the FLV audio header has a flag for it, not for 48.
OUTPUT_AUDIO: dict[WorkerMode, tuple[int, int]] = {
    WorkerMode.BYPASS: (44100, 2),
    WorkerMode.TONE: (44100, 2),
    WorkerMode.PROCESS: (backend_protocol.SAMPLE_RATE, backend_protocol.CHANNELS),
}
# Every worker measures its input video's frame rate and keyframe interval (MediaMTX
# does not report them) and answers an InputReport at INPUT_PATH on
# WORKER_METRICS_PORT; the operator asks at most every INPUT_POLL_SECONDS, and
# sooner for a new publish (status.input.frameRate, keyframeInterval).
INPUT_PATH = "/v1/input"
INPUT_POLL_SECONDS = 300.0
# A first answer comes once the output flows and one GOP has passed.
INPUT_FIRST_POLL_SECONDS = 10.0


def refused_backend_secret(secret: str, internal_secret: str) -> str | None:
    """Why a Secret may not be a backend's credentials, or None.

    The worker sends the token to whatever URL the LiveStream names: the
    operator's internal Secret (MediaMTX passwords, the pool token) and the
    stream keys' Secrets must never go there.
    """
    if internal_secret and secret == internal_secret:
        return f'the operator\'s internal Secret "{secret}"'
    if secret.startswith(KEY_SECRET_PREFIX):
        return f'a stream key\'s Secret "{secret}"'
    return None


class FallbackReason(StrEnum):
    """Why a fragment went out with its original audio (metric label values)."""

    BACKEND_UNAVAILABLE = "backend_unavailable"  # not connected, or the connection broke
    BREAKER_OPEN = "breaker_open"  # the backend failed repeatedly: not even tried
    INFLIGHT_LIMIT = "inflight_limit"  # waited for an in-flight slot past the deadline
    DEADLINE = "deadline"  # no answer within deadlineMs
    INVALID_ANSWER = "invalid_answer"  # an answer of the wrong length or shape

    @property
    def condition_reason(self) -> str:
        """The CamelCase form, for status.processing.reason and the condition."""
        return "".join(part.title() for part in self.value.split("_"))


class _Json(BaseModel):
    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="forbid", frozen=True
    )


class WorkerProcessing(_Json):
    """spec.worker.processing as the worker gets it: the backend resolved to a URL,
    the credentials to BACKEND_TOKEN_VAR."""

    backend_url: str = Field(min_length=1, max_length=1024)
    fragment_ms: int = Field(ge=10, le=5000)
    deadline_ms: int = Field(ge=10, le=10000)
    max_in_flight: int = Field(ge=1, le=32)
    mix: MixMode
    duck_db: float = Field(ge=-60.0, le=0.0)
    params: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, spec: ProcessingSpec, namespace: str) -> WorkerProcessing:
        backend = spec.backend
        if backend.service is not None:
            svc = backend.service
            url = f"ws://{svc.name}.{namespace}.svc:{svc.port}{svc.path}"
        else:
            assert backend.url is not None  # one of the two, by the model's validator
            url = backend.url
        return cls(
            backend_url=url,
            fragment_ms=spec.fragment_ms,
            deadline_ms=spec.deadline_ms,
            max_in_flight=spec.max_in_flight,
            mix=spec.mix,
            duck_db=spec.duck_db,
            params=dict(backend.params or {}),
        )


class ProcessingReport(_Json):
    """A process-mode worker's answer at PROCESSING_PATH."""

    state: ProcessingState
    reason: str | None = None  # FallbackReason.condition_reason while in Fallback
    message: str | None = None
    since: str  # RFC 3339
    fragments: int = Field(default=0, ge=0)
    fallback_fragments: int = Field(default=0, ge=0)


class DestinationReport(_Json):
    """A forwarder container's answer at DESTINATION_PATH: its destination's retry
    state. Errors are redacted by the forwarder (no URL, no stream key)."""

    state: DestinationState
    retries: int = Field(default=0, ge=0)
    max_retries: int = Field(default=0, ge=0)  # 0: forever
    last_error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH)
    last_retry_time: str | None = None  # RFC 3339
    next_retry_time: str | None = None  # RFC 3339
    since: str  # RFC 3339: when the state began


class InputReport(_Json):
    """A worker's answer at INPUT_PATH: its last sample of the input video."""

    frame_rate: float | None = Field(default=None, ge=0, le=1000)
    keyframe_interval: float | None = Field(default=None, ge=0, le=3600)  # seconds


class ContractError(ValueError):
    """An environment variable that cannot be used; the message names it."""


def _parse(kind: type[Any], var: str, raw: str) -> Any:
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ContractError(f"{var} must be an integer, got {raw!r}") from None
    if kind in (WorkerMode, InputLossFill):
        try:
            return kind(raw)
        except ValueError:
            choices = ", ".join(m.value for m in kind)
            raise ContractError(f"{var} must be one of {choices}, got {raw!r}") from None
    return raw


@dataclass(frozen=True)
class _EnvContract:
    """Fields map to LSO_<FIELD> variables; every field has a default so that a
    process run by hand can take the rest from its flags."""

    def to_env(self) -> dict[str, str]:
        return {_var(f.name): str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for name, annotation in types.items():
            var = _var(name)
            if env.get(var):
                values[name] = _parse(_TYPES[str(annotation)], var, env[var])
        return cls(**values)


_TYPES: dict[str, type[Any]] = {
    "str": str,
    "int": int,
    "WorkerMode": WorkerMode,
    "InputLossFill": InputLossFill,
}


def _var(field: str) -> str:
    return "LSO_" + field.upper()


@dataclass(frozen=True)
class WorkerEnv(_EnvContract):
    """The worker container's environment."""

    stream_id: str = ""
    input_url: str = ""  # RTSP URL of live/<id>/in
    output_url: str = ""  # RTSP or RTMP URL of live/<id>/out (the scheme picks the sink)
    mode: WorkerMode = WorkerMode.BYPASS
    metrics_port: int = WORKER_METRICS_PORT
    media_user: str = ""  # MediaMTX user; the password is MEDIA_PASSWORD_VAR
    processing: str = ""  # process mode: a WorkerProcessing as JSON
    # spec.inputLoss.fill: Slate makes out's format fixed (OUTPUT_AUDIO) and hands
    # out over to MediaMTX's slate as soon as the input is lost.
    fill: InputLossFill = InputLossFill.NONE
    # spec.inputLoss.holdLastFrameSeconds (with fill Slate); 0 by hand: the slate at once.
    hold_last_frame_seconds: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.hold_last_frame_seconds <= MAX_HOLD_LAST_FRAME_SECONDS:
            raise ContractError(
                f"LSO_HOLD_LAST_FRAME_SECONDS must be 0 to {MAX_HOLD_LAST_FRAME_SECONDS}"
            )


@dataclass(frozen=True)
class ForwarderEnv(_EnvContract):
    """A forwarder container's environment, but for the destination URL: that comes
    from the user's Secret (DESTINATION_URL_VAR, through secretKeyRef), never a value."""

    DESTINATION_URL_VAR: ClassVar[str] = "LSO_DESTINATION_URL"

    stream_id: str = ""
    input_url: str = ""  # RTSP URL of live/<id>/out
    destination_name: str = ""
    metrics_port: int = 0
    media_user: str = ""  # MediaMTX user; the password is MEDIA_PASSWORD_VAR
    # The destination's RetryPolicy, resolved (spec, then the operator's defaults).
    max_retries: int = 0
    backoff_seconds: int = 1
    backoff_cap_seconds: int = 30

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= MAX_DESTINATION_RETRIES:
            raise ContractError(f"LSO_MAX_RETRIES must be 0 to {MAX_DESTINATION_RETRIES}")
        for name in ("backoff_seconds", "backoff_cap_seconds"):
            if not 1 <= getattr(self, name) <= MAX_BACKOFF_SECONDS:
                raise ContractError(f"{_var(name)} must be 1 to {MAX_BACKOFF_SECONDS}")


def forwarder_port(index: int) -> int:
    return FORWARDER_FIRST_PORT + index


class WorkerAssignment(BaseModel):
    """The stream a claimed pool worker serves: the JSON body of ASSIGNMENT_PATH.

    The same fields as the stream part of WorkerEnv; the rest (ports, MediaMTX
    user and password) the pool Pod already has. Strict: nothing is coerced.
    """

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )

    stream_id: str = Field(pattern=STREAM_ID_PATTERN)
    input_url: str = Field(min_length=1, max_length=2048)
    output_url: str = Field(min_length=1, max_length=2048)
    mode: WorkerMode
    fill: InputLossFill = InputLossFill.NONE
    hold_last_frame_seconds: HoldLastFrameSeconds = 0

    @classmethod
    def of(cls, env: WorkerEnv) -> WorkerAssignment:
        return cls(
            stream_id=env.stream_id,
            input_url=env.input_url,
            output_url=env.output_url,
            mode=env.mode,
            fill=env.fill,
            hold_last_frame_seconds=env.hold_last_frame_seconds,
        )
