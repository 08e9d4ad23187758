"""The LiveStream API, version v1alpha1, as pydantic v2 models.

These types are the runtime contract, as kubebuilder's api/ types are: the ingest
and reconcile code read and write LiveStream objects through them, and the CRD in
``crds/`` is generated from them (``livestream-operator crd``; a test fails when
the two drift apart). camelCase wire names are spelled only here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

GROUP = "media.livestream-operator.dev"
VERSION = "v1alpha1"
KIND = "LiveStream"
PLURAL = "livestreams"
SINGULAR = "livestream"
SHORT_NAMES = ["ls", "lstream"]
API_VERSION = f"{GROUP}/{VERSION}"

# One path segment that MediaMTX accepts in a path name and RTMP/RTSP URLs carry
# without escaping.
STREAM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$"
# RFC 1123 label: destination names become container names.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# Names of most Kubernetes objects (Secrets, PVCs, StorageClasses): DNS-1123 subdomains.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
# Secret names are DNS-1123 subdomains; keys are [-._a-zA-Z0-9]+.
SECRET_NAME_PATTERN = DNS_SUBDOMAIN_PATTERN
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]{1,253}$"
# A slate's name (a DNS label, as the chart's `slates` keys), or empty for none.
SLATE_NAME_PATTERN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$"
MAX_DESTINATIONS = 8
# Children are named "<name>-worker"/"<name>-forwarder" and must stay within the
# 63 characters of a label value.
MAX_NAME_LENGTH = 50
# A MediaMTX instance is named by its Pod's name (a DNS label): the hooks and the
# auth call say which instance makes them (LSO_MEDIAMTX_INSTANCE in its Pod).
InstanceName = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, max_length=63)]
DAY_SECONDS = 86400
DEFAULT_GRACE_SECONDS = 30
MAX_GRACE_SECONDS = DAY_SECONDS
# spec.gracePeriodSeconds, and the operator's default for hook-created streams.
GraceSeconds = Annotated[int, Field(ge=0, le=MAX_GRACE_SECONDS)]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def list_map(*keys: str) -> dict[str, Any]:
    """A field's json_schema_extra for a list whose items are known by `keys`
    (kubebuilder's +listType=map, +listMapKey): server-side apply merges such a
    list item by item, so two writers' items never replace each other's."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


LIST_SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}  # +listType=set


class WireModel(BaseModel):
    """Base: camelCase on the wire, unknown fields rejected by pydantic."""

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def wire(self) -> dict[str, Any]:
        """The object as Kubernetes stores it: camelCase keys, no unset optionals."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Lifecycle(StrEnum):
    EPHEMERAL = "Ephemeral"
    PERSISTENT = "Persistent"


class WorkerMode(StrEnum):
    BYPASS = "bypass"
    TONE = "tone"
    PROCESS = "process"  # the audio goes through a processing backend (spec.worker.processing)


class MixMode(StrEnum):
    """How the backend's audio is combined with the original."""

    REPLACE = "replace"  # the backend's audio only
    DUCK = "duck"  # the backend's audio over the original, lowered by duckDb where it speaks


class OutputProtocol(StrEnum):
    """How the worker publishes live/<id>/out to MediaMTX."""

    RTSP = "rtsp"  # available as soon as RECORD starts (tracks come from the SDP)
    RTMP = "rtmp"  # MediaMTX analyses 2 s of an RTMP publish before it is available


class Phase(StrEnum):
    PENDING = "Pending"
    CONNECTING = "Connecting"  # a publisher was admitted; MediaMTX is still analysing
    STARTING = "Starting"
    LIVE = "Live"
    RECONNECTING = "Reconnecting"
    IDLE = "Idle"
    FAILED = "Failed"


class DestinationState(StrEnum):
    """A destination's state. Connecting, Active, Retrying and Exhausted are what its
    forwarder container reports; the others the operator derives from the Pod."""

    PENDING = "Pending"  # its container has not started, or not reported yet
    CONNECTING = "Connecting"  # the first attempt (or one after retry-now / a lost input)
    ACTIVE = "Active"  # bytes reach the destination
    RETRYING = "Retrying"  # attempts failed; the next one is at nextRetryTime
    EXHAUSTED = "Exhausted"  # maxRetries used up: it waits for retry-now or a spec change
    FAILING = "Failing"  # the container cannot run (a missing Secret, a crash loop)
    STOPPED = "Stopped"  # no forwarder Pod (the stream is idle)


# --------------------------------------------------------------------------- spec


# The resources a worker may ask for (the CRD's CEL rule names them).
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
# Bounded so the API server can afford the CEL rules on them.
Quantity = Annotated[str, Field(max_length=32)]
ResourceList = Annotated[dict[str, Quantity], Field(max_length=len(RESOURCE_NAMES))]


class ResourceRequirements(WireModel):
    """The subset of core/v1 ResourceRequirements a worker needs."""

    requests: ResourceList | None = Field(
        default=None, description="Minimum resources, e.g. {cpu: 250m, memory: 128Mi}."
    )
    limits: ResourceList | None = Field(
        default=None, description="Maximum resources, e.g. {cpu: '1', memory: 512Mi}."
    )


class SecretKeyRef(WireModel):
    name: str = Field(pattern=SECRET_NAME_PATTERN, max_length=253, description="Secret name.")
    key: str = Field(pattern=SECRET_KEY_PATTERN, max_length=253, description="Key in the Secret.")


Port = Annotated[int, Field(ge=1, le=65535)]
# A host name in a URL (no credentials before it).
HOST_PATTERN = r"[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?"
# A WebSocket URL without credentials or query: ws[s]://host[:port][/path].
BACKEND_URL_PATTERN = rf"^wss?://{HOST_PATTERN}(:[0-9]{{1,5}})?(/[-A-Za-z0-9._~/%]*)?$"
BACKEND_PATH_PATTERN = r"^/[-A-Za-z0-9._~/%]{0,255}$"
PARAM_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
MAX_PARAMS = 16


class BackendServiceRef(WireModel):
    """A Service in the LiveStream's namespace that speaks the backend protocol."""

    name: str = Field(pattern=DNS_LABEL_PATTERN, max_length=63, description="Service name.")
    port: Port = Field(description="Service port.")
    path: str = Field(
        default="/", pattern=BACKEND_PATH_PATTERN, description="WebSocket path, e.g. /v1/audio."
    )


class BackendSpec(WireModel):
    """Where the worker sends audio: exactly one of url and service."""

    url: str | None = Field(
        default=None,
        pattern=BACKEND_URL_PATTERN,
        max_length=512,
        description="ws:// or wss:// URL of the backend, without credentials or query.",
    )
    service: BackendServiceRef | None = Field(
        default=None, description="A Service in this namespace (ws://<name>.<ns>.svc:<port>)."
    )
    credentials_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding a token the worker sends as "
        "'Authorization: Bearer <token>'; never in the spec, status or logs.",
    )
    params: (
        Annotated[
            dict[
                Annotated[str, Field(pattern=PARAM_KEY_PATTERN)],
                Annotated[str, Field(max_length=256)],
            ],
            Field(max_length=MAX_PARAMS),
        ]
        | None
    ) = Field(
        default=None,
        description="Backend-specific settings passed in the hello, e.g. {targetLufs: '-16'}.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> BackendSpec:
        if sum(getattr(self, name) is not None for name in BACKEND_TARGETS) != 1:
            raise ValueError(BACKEND_TARGET_MESSAGE)
        return self


# The fields of BackendSpec of which exactly one is set (the CRD's CEL rule, the
# chart's schema); wire and Python names alike.
BACKEND_TARGETS: tuple[str, str] = ("url", "service")
BACKEND_TARGET_MESSAGE = (
    f"spec.worker.processing.backend: set exactly one of {' and '.join(BACKEND_TARGETS)}"
)
PROCESSING_REQUIRED_MESSAGE = "spec.worker.processing is required when spec.worker.mode is process"


class ProcessingSpec(WireModel):
    """Process mode: how audio fragments go to the backend and come back."""

    backend: BackendSpec = Field(description="The processing backend.")
    fragment_ms: int = Field(
        default=500, ge=100, le=5000, description="Length of each audio fragment sent, in ms."
    )
    deadline_ms: int = Field(
        default=1000,
        ge=50,
        le=10000,
        description="How long after a fragment is complete its answer may take; later, the "
        "original audio is used for that span.",
    )
    max_in_flight: int = Field(
        default=4, ge=1, le=32, description="Fragments sent and not yet answered, at most."
    )
    mix: MixMode = Field(
        default=MixMode.DUCK,
        description="replace: the backend's audio only; duck: the backend's audio over the "
        "original, lowered by duckDb where the backend's audio is not silent.",
    )
    duck_db: float = Field(
        default=-12.0,
        ge=-60.0,
        le=0.0,
        description="Gain of the original under the backend's audio.",
    )


# Time for the decode, the encode and the scheduling around one fragment.
PROCESSING_MARGIN_MS = 250


class WorkerSpec(WireModel):
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Worker image; the operator's default when unset.",
    )
    mode: WorkerMode = Field(
        default=WorkerMode.BYPASS,
        description="bypass remuxes H.264/AAC untouched; tone replaces the audio with "
        "a 440 Hz tone (a deterministic stand-in for real processing); process sends the "
        "audio through a backend (spec.worker.processing), video untouched.",
    )
    output: OutputProtocol = Field(
        default=OutputProtocol.RTSP,
        description="How the worker publishes live/<id>/out: rtsp (available at once) or "
        "rtmp (MediaMTX analyses 2 s of it first). Readers use any protocol either way.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Worker container resources; operator defaults when unset."
    )
    processing: ProcessingSpec | None = Field(
        default=None, description="Process mode's backend and fragments (mode: process)."
    )

    @model_validator(mode="after")
    def _processing_set(self) -> WorkerSpec:
        if self.mode is WorkerMode.PROCESS and self.processing is None:
            raise ValueError(PROCESSING_REQUIRED_MESSAGE)
        return self


# Retries of a failing destination (0: forever) and its backoff in whole seconds:
# spec.forwarder.retry, a destination's retry, and the operator's defaults.
MAX_DESTINATION_RETRIES = 10_000
MAX_BACKOFF_SECONDS = 3600
MaxRetries = Annotated[int, Field(ge=0, le=MAX_DESTINATION_RETRIES)]
BackoffSeconds = Annotated[int, Field(ge=1, le=MAX_BACKOFF_SECONDS)]


class RetryPolicy(WireModel):
    """When a destination fails: retry after backoffSeconds, doubling up to
    backoffCapSeconds, at most maxRetries times in a row, then Exhausted."""

    max_retries: MaxRetries | None = Field(
        default=None,
        description="Failed attempts in a row retried before the destination is "
        "Exhausted; 0 retries forever.",
    )
    backoff_seconds: BackoffSeconds | None = Field(
        default=None, description="Seconds before the first retry; each retry doubles it."
    )
    backoff_cap_seconds: BackoffSeconds | None = Field(
        default=None, description="The longest wait between retries, in seconds."
    )


class Destination(WireModel):
    name: str = Field(
        pattern=DNS_LABEL_PATTERN,
        max_length=40,
        description="Destination name (DNS label); names the forwarder container.",
    )
    url_secret_ref: SecretKeyRef = Field(
        description="Secret key holding the full RTMP(S) URL, stream key included. "
        "URLs never appear in the spec, status or logs."
    )
    retry: RetryPolicy | None = Field(
        default=None, description="This destination's retries, over spec.forwarder.retry."
    )


def _unique_names(value: list[Destination]) -> list[Destination]:
    names = [d.name for d in value]
    if len(names) != len(set(names)):
        raise ValueError("destination names must be unique")
    return value


# A stream's destinations, and the operator's default ones for hook-created streams.
Destinations = Annotated[
    list[Destination], Field(max_length=MAX_DESTINATIONS), AfterValidator(_unique_names)
]


class ForwarderSpec(WireModel):
    destinations: Destinations = Field(
        default_factory=list,
        description="Third-party RTMP destinations; each gets its own container.",
        json_schema_extra=list_map("name"),
    )
    retry: RetryPolicy | None = Field(
        default=None,
        description="How every destination retries (a destination's own retry overrides "
        "it field by field); the operator's defaults where unset.",
    )


class InputChoice(StrEnum):
    """spec.ingest.input: which publish point the worker reads."""

    AUTO = "Auto"  # the primary, the backup while the primary is offline
    PRIMARY = "Primary"  # live/<id>/in, whatever the backup does
    BACKUP = "Backup"  # live/<id>/backup, whatever the primary does


class InputRole(StrEnum):
    PRIMARY = "Primary"  # live/<id>/in
    BACKUP = "Backup"  # live/<id>/backup


class SwitchReason(StrEnum):
    """Why status.failover.active is what it is (the last switch's reason)."""

    PRIMARY_OFFLINE = "PrimaryOffline"  # failover, after failoverAfterSeconds
    PRIMARY_RECOVERED = "PrimaryRecovered"  # failback, after failbackHoldSeconds
    BACKUP_OFFLINE = "BackupOffline"  # the backup went away while the primary is up
    OVERRIDE = "Override"  # spec.ingest.input names it


DEFAULT_FAILOVER_AFTER_SECONDS = 3
DEFAULT_FAILBACK_HOLD_SECONDS = 30
MAX_FAILOVER_SECONDS = 3600
FailoverSeconds = Annotated[int, Field(ge=1, le=MAX_FAILOVER_SECONDS)]
FailbackSeconds = Annotated[int, Field(ge=0, le=MAX_FAILOVER_SECONDS)]


class IngestSpec(WireModel):
    allow_takeover: bool = Field(
        default=False,
        description="Whether a second publisher with the stream's key may replace the "
        "current one; otherwise it is refused while the stream is live.",
    )
    input: InputChoice = Field(
        default=InputChoice.AUTO,
        description="Which publish point the worker reads: Auto (live/<id>/in, and "
        "live/<id>/backup while it is offline), or Primary or Backup (a manual override).",
    )
    failover_after_seconds: FailoverSeconds = Field(
        default=DEFAULT_FAILOVER_AFTER_SECONDS,
        description="Seconds the primary must be offline, with the backup live, before "
        "the worker switches to the backup.",
    )
    failback_hold_seconds: FailbackSeconds = Field(
        default=DEFAULT_FAILBACK_HOLD_SECONDS,
        description="Seconds the primary must have been live again before the worker "
        "switches back to it.",
    )


class InputLossFill(StrEnum):
    """What live/<id>/out carries while no worker output reaches it."""

    SLATE = "Slate"  # out stays up: MediaMTX's offline slate and silence, same session
    NONE = "None"  # out ends with the input, as in earlier releases


# spec.inputLoss.holdLastFrameSeconds: how long the worker may hold the last picture
# (each second of it costs a decode and an H.264 encode); MediaLive's default is 1 s.
MAX_HOLD_LAST_FRAME_SECONDS = 60
DEFAULT_HOLD_LAST_FRAME_SECONDS = 1
HoldLastFrameSeconds = Annotated[int, Field(ge=0, le=MAX_HOLD_LAST_FRAME_SECONDS)]

# A fill never outlasts the grace period (the stream ends then), hence its bound.
FillSeconds = Annotated[int, Field(ge=1, le=MAX_GRACE_SECONDS)]


class InputLossSpec(WireModel):
    fill: InputLossFill = Field(
        default=InputLossFill.SLATE,
        description="Slate: while the publisher is gone (or the worker is replaced), "
        "live/<id>/out plays a slate (black, STREAM IS OFFLINE) with silence until the "
        "grace deadline, so destinations and viewers keep their session; the worker "
        "normalises its audio to a fixed format for that. None: out ends with the input.",
    )
    fill_seconds: FillSeconds | None = Field(
        default=None,
        description="Seconds the fill plays after the publisher went; then, if it is still "
        "gone, out ends and so do the destinations' sessions. Unset: until the grace "
        "deadline.",
    )
    slate: str | None = Field(
        default=None,
        pattern=SLATE_NAME_PATTERN,
        max_length=63,
        description="With fill Slate: one of the chart's slates (values.yaml `slates`: "
        "a colour or an image, silence or a tone) instead of MediaMTX's built-in one; "
        "absent or empty: the built-in slate. A name the chart does not declare plays the "
        "built-in slate, and the Slate condition says why.",
    )
    hold_last_frame_seconds: HoldLastFrameSeconds = Field(
        default=DEFAULT_HOLD_LAST_FRAME_SECONDS,
        description="With fill Slate: for this long after the publisher is gone, out "
        "carries the input's last keyframe as a still picture, with silence, before the "
        f"slate (0 to {MAX_HOLD_LAST_FRAME_SECONDS}; 0: the slate at once). A publisher "
        "back within it is taken at once. Ignored with fill None.",
    )


class RecordedPath(StrEnum):
    """Which MediaMTX path of a stream is recorded."""

    IN = "in"  # what the publisher sent
    OUT = "out"  # what the worker produced


class RecordFormat(StrEnum):
    FMP4 = "fmp4"  # fragmented MP4 (.mp4): plays while being written, seekable
    MPEGTS = "mpegts"  # MPEG-TS (.ts): survives truncation, no index


# Go durations as MediaMTX reads them, restricted to h, m and s: 90s, 10m, 1h30m.
DURATION_PATTERN = r"^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}s)?$"
# And as MediaMTX writes them back: 1h0m0s, 1d, 1.5s, 500ms.
_GO_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(d|h|ms|m|s)")
_UNIT_SECONDS = {"d": float(DAY_SECONDS), "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS = 1, DAY_SECONDS
MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS = 10, 366 * DAY_SECONDS
# Bounded in length so the API server can afford CEL's duration() on it.
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, min_length=2, max_length=20)]


def go_duration(seconds: int) -> str:
    """Whole seconds as DURATION_PATTERN spells them: 86400 -> 24h, 90 -> 1m30s."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = ((hours, "h"), (minutes, "m"), (secs, "s"))
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


SEGMENT_RANGE = f"between {go_duration(MIN_SEGMENT_SECONDS)} and {go_duration(MAX_SEGMENT_SECONDS)}"
RETENTION_RANGE = (
    f"between {go_duration(MIN_RETENTION_SECONDS)} and {go_duration(MAX_RETENTION_SECONDS)} "
    f"({MAX_RETENTION_SECONDS // DAY_SECONDS} days)"
)


def duration_seconds(value: str) -> float | None:
    """Seconds in a Go duration (DURATION_PATTERN's, or MediaMTX's answer); None
    for anything else."""
    parts = _GO_DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def duration_within(value: str, low: int, high: int) -> bool:
    """Whether a Go duration is from low to high seconds (a malformed one never is)."""
    return low <= (duration_seconds(value) or 0) <= high


def capped_retention(asked: str, cap: str) -> str:
    """A stream's retention under the operator's cap (LSO_RECORDING_MAX_RETENTION)."""
    return cap if (duration_seconds(asked) or 0) > (duration_seconds(cap) or 0) else asked


class RecordingSpec(WireModel):
    """Recording to the release's recordings volume, applied live through MediaMTX's
    Control API: no restart, no interruption of the stream."""

    enabled: bool = Field(default=False, description="Record now; false stops recording.")
    paths: Annotated[list[RecordedPath], Field(min_length=1, max_length=2)] = Field(
        default=[RecordedPath.IN],  # pydantic copies it; a factory would leave the CRD without
        description="Which paths to record: in (what the publisher sent), out (the "
        "worker's output), or both.",
        json_schema_extra=LIST_SET,
    )
    format: RecordFormat = Field(default=RecordFormat.FMP4, description="fmp4 or mpegts.")
    segment_duration: Duration = Field(
        default="10m",
        description=f"Length of each recorded file, {go_duration(MIN_SEGMENT_SECONDS)} to "
        f"{go_duration(MAX_SEGMENT_SECONDS)}, e.g. 10m.",
    )
    retention: Duration = Field(
        default="24h",
        description="How long segments are kept before MediaMTX deletes them, "
        f"{go_duration(MIN_RETENTION_SECONDS)} to {MAX_RETENTION_SECONDS // DAY_SECONDS} days "
        f"({go_duration(MAX_RETENTION_SECONDS)}), e.g. 72h.",
    )

    @field_validator("paths")
    @classmethod
    def _unique_paths(cls, value: list[RecordedPath]) -> list[RecordedPath]:
        if len(value) != len(set(value)):
            raise ValueError(RECORDING_PATHS_MESSAGE)
        return value

    @field_validator("segment_duration")
    @classmethod
    def _segment_bounds(cls, value: str) -> str:
        if not duration_within(value, MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS):
            raise ValueError(SEGMENT_DURATION_MESSAGE)
        return value

    @field_validator("retention")
    @classmethod
    def _retention_bounds(cls, value: str) -> str:
        if not duration_within(value, MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS):
            raise ValueError(RETENTION_MESSAGE)
        return value

    def effective(self, max_retention: str) -> tuple[str, str]:
        """(segment duration, retention) as MediaMTX gets them: the retention capped
        by the operator's, and no segment longer than the retention (MediaMTX
        refuses an entry whose recordDeleteAfter is below its segment length).
        The CRD refuses such a spec on write (CEL); this holds for objects stored
        before that rule, and under a lower cap."""
        retention = capped_retention(self.retention, max_retention)
        segment = self.segment_duration
        if (duration_seconds(segment) or 0) > (duration_seconds(retention) or 0):
            segment = retention
        return segment, retention


RETENTION_SEGMENT_MESSAGE = (
    "spec.recording.retention must be at least spec.recording.segmentDuration"
)
RECORDING_PATHS_MESSAGE = "spec.recording.paths: each of in and out at most once"
SEGMENT_DURATION_MESSAGE = f"spec.recording.segmentDuration must be {SEGMENT_RANGE}"
RETENTION_MESSAGE = f"spec.recording.retention must be {RETENTION_RANGE}"


class LiveStreamSpec(WireModel):
    stream_id: str = Field(
        pattern=STREAM_ID_PATTERN,
        description="Stream id: publishers push to live/<streamId>/in. Immutable.",
    )
    lifecycle: Lifecycle = Field(
        default=Lifecycle.EPHEMERAL,
        description="Ephemeral: created by hooks, deleted after the grace period. "
        "Persistent: declared up front; after the grace period its Pods are removed "
        "and it waits (phase Idle) for the next publish.",
    )
    grace_period_seconds: GraceSeconds = Field(
        default=DEFAULT_GRACE_SECONDS,
        description="How long the ingest may be unavailable before the stream is ended.",
    )
    ingest: IngestSpec = Field(
        default_factory=IngestSpec, description="Who may publish to live/<streamId>/in."
    )
    worker: WorkerSpec = Field(default_factory=WorkerSpec, description="The processing worker.")
    forwarder: ForwarderSpec | None = Field(
        default=None, description="Optional restreaming to third-party RTMP destinations."
    )
    recording: RecordingSpec | None = Field(
        default=None, description="Recording of in and/or out; off unless enabled."
    )
    input_loss: InputLossSpec = Field(
        default_factory=InputLossSpec,
        description="What destinations and viewers of out receive while the input is lost.",
    )

    def wants_path_entries(self) -> bool:
        """Whether MediaMTX may need path entries of this stream's own (its recording
        fields, or out's input-loss fill; mediamtx/path_config.py builds them)."""
        return self.recording is not None or self.input_loss.fill is InputLossFill.SLATE


# ------------------------------------------------------------------------- status


class PodState(StrEnum):
    """The state of a worker or forwarder Pod, as status.worker/forwarder report it."""

    ABSENT = "Absent"
    PENDING = "Pending"
    RUNNING = "Running"
    READY = "Ready"
    FAILED = "Failed"
    TERMINATING = "Terminating"


class ConditionType(StrEnum):
    READY = "Ready"
    INGEST_AVAILABLE = "IngestAvailable"
    WORKER_READY = "WorkerReady"
    OUTPUT_AVAILABLE = "OutputAvailable"
    DESTINATIONS_HEALTHY = "DestinationsHealthy"
    PROCESSING = "Processing"  # process mode: the backend answers in time
    RECORDING = "Recording"  # spec.recording: recording, off, or out of storage
    INPUT_LOSS = "InputLoss"  # the publisher is gone while the stream lives (its grace period)
    SLATE = "Slate"  # spec.inputLoss.slate: the chart declares it (else the built-in slate plays)


# RFC 3339 times as Kubernetes stores them; see format_time().
Time = str


class IngestStatus(WireModel):
    """What MediaMTX reports about live/<id>/in, or live/<id>/backup (written by the
    hook receiver)."""

    path: str | None = Field(default=None, description="MediaMTX path name.")
    available: bool = Field(default=False, description="Whether the path has a ready source.")
    source_type: str | None = Field(default=None, description="e.g. rtmpConn, rtspSession.")
    source_id: str | None = Field(default=None, description="Id of the current source.")
    query: str | None = Field(
        default=None, description="Publish query string, credentials redacted."
    )
    connecting_since: Time | None = Field(
        default=None,
        description="RFC 3339 time a publisher (sourceId) was admitted, before the path "
        "became available; unset once it is available or gone.",
    )
    available_since: Time | None = Field(default=None, description="RFC 3339 time.")
    unavailable_since: Time | None = Field(
        default=None, description="RFC 3339 time the grace period started; unset while live."
    )
    last_event_time: Time | None = Field(default=None, description="Last hook or resync event.")
    instance: InstanceName | None = Field(
        default=None,
        description="The MediaMTX instance (its Pod) the publisher is on, as its hooks say.",
    )


class FailoverStatus(WireModel):
    """Which publish point the worker reads, and the last switch (written by the operator)."""

    active: InputRole = Field(description="Primary (live/<id>/in) or Backup (live/<id>/backup).")
    last_switch_time: Time | None = Field(default=None, description="RFC 3339 time.")
    reason: SwitchReason | None = Field(
        default=None, description="PrimaryOffline, PrimaryRecovered, BackupOffline or Override."
    )


class OutputStatus(WireModel):
    """What MediaMTX reports about live/<id>/out (the worker's processed output)."""

    path: str | None = Field(default=None, description="MediaMTX path name.")
    available: bool = Field(default=False, description="Whether processed output is flowing.")
    source_id: str | None = Field(default=None, description="Id of the worker's publish.")
    available_since: Time | None = Field(default=None, description="RFC 3339 time.")
    instance: InstanceName | None = Field(
        default=None, description="The MediaMTX instance (its Pod) the worker publishes to."
    )


class VideoProperties(WireModel):
    """The publisher's video track, as MediaMTX parsed it (its Control API's tracks2)."""

    codec: str | None = Field(default=None, description="e.g. H264, H265, AV1, VP9.")
    profile: str | None = Field(default=None, description="e.g. High, Main.")
    level: str | None = Field(default=None, description="e.g. 3.1.")
    width: int | None = Field(default=None, ge=0, description="Pixels.")
    height: int | None = Field(default=None, ge=0, description="Pixels.")
    resolution: str | None = Field(
        default=None, description="<width>x<height>, e.g. 1280x720 (for -o wide)."
    )


class AudioProperties(WireModel):
    """The publisher's audio track, as MediaMTX parsed it."""

    codec: str | None = Field(default=None, description="e.g. AAC, Opus, AC-3.")
    sample_rate: int | None = Field(default=None, ge=0, description="Hz, e.g. 48000.")
    channels: int | None = Field(default=None, ge=0, description="e.g. 2.")


class InputStatus(WireModel):
    """What the publisher sends (status.input). Codecs and sizes change only with a
    new publish; the bitrate changes all the time, so status holds a rounded value
    rewritten at most every few minutes (the live figure is the metric
    livestream_input_bitrate_bits_per_second). MediaMTX's path list gives all but
    the frame rate and keyframe interval, which the worker measures."""

    source_id: str | None = Field(
        default=None, description="The ingest source (status.ingest.sourceId) described."
    )
    since: Time | None = Field(default=None, description="RFC 3339 time these were first seen.")
    video: VideoProperties | None = Field(default=None, description="The video track.")
    audio: AudioProperties | None = Field(default=None, description="The audio track.")
    bitrate_kbps: int | None = Field(
        default=None,
        ge=0,
        description="Bitrate of the whole publish in kbit/s, two significant digits.",
    )
    bitrate_time: Time | None = Field(
        default=None, description="RFC 3339 time bitrateKbps was measured."
    )
    frame_rate: float | None = Field(
        default=None, ge=0, description="Video frames per second, as the worker measures them."
    )
    keyframe_interval: float | None = Field(
        default=None, ge=0, description="Seconds between video keyframes, as the worker measures."
    )


class PodStatusSummary(WireModel):
    pod_name: str | None = Field(default=None, description="Name of the Pod.")
    state: PodState | None = Field(
        default=None, description="Absent, Pending, Running, Ready, Failed or Terminating."
    )
    restarts: int | None = Field(default=None, description="Container restarts.")
    message: str | None = Field(default=None, description="Why it is not ready.")

    @property
    def running(self) -> bool:
        return self.state in (PodState.RUNNING, PodState.READY)


class ProcessingState(StrEnum):
    STARTING = "Starting"  # no fragment decided yet
    PROCESSING = "Processing"  # the backend's audio is on the output
    FALLBACK = "Fallback"  # the original audio is on the output (backend slow, down, wrong)


class ProcessingStatus(WireModel):
    """Process mode, as the worker reports it (the operator polls it). Counts of
    fragments are the worker's metrics, not status: they would rewrite it at
    every poll."""

    state: ProcessingState = Field(description="Starting, Processing or Fallback.")
    reason: str | None = Field(
        default=None, description="Why it falls back, e.g. BackendUnavailable, Deadline."
    )
    message: str | None = Field(default=None, description="Detail of the last fallback.")
    since: Time | None = Field(default=None, description="RFC 3339 time the state began.")


RECENT_SEGMENTS = 16


class RecordedPathStatus(WireModel):
    """The complete segments MediaMTX reported for one path (runOnRecordSegmentComplete).
    Counts are of segments recorded; retention deletes old files afterwards."""

    path: RecordedPath = Field(description="in or out.")
    segments: int = Field(default=0, ge=0, description="Segments completed.")
    bytes: int = Field(default=0, ge=0, description="Bytes in those segments.")
    first_segment_time: Time | None = Field(
        default=None, description="RFC 3339 start of the first segment."
    )
    last_segment_time: Time | None = Field(
        default=None, description="RFC 3339 start of the latest complete segment."
    )
    recent: Annotated[list[Time], Field(max_length=RECENT_SEGMENTS)] | None = Field(
        default=None,
        description="Starts of the latest segments counted, so that each counts once "
        "whatever order its hook arrives in.",
    )


class RecordingStatus(WireModel):
    """Recording as MediaMTX reports it: whether it holds the stream's settings (the
    operator's recording sync), and the segments it completed (the hook receiver)."""

    applied: bool | None = Field(
        default=None, description="Whether MediaMTX holds spec.recording for this stream."
    )
    message: str | None = Field(
        default=None, max_length=400, description="Why not, when applied is false."
    )
    paths: list[RecordedPathStatus] | None = Field(
        default=None, description="Per path.", json_schema_extra=list_map("path")
    )
    free_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Free space on the recordings volume when the last segment started "
        "or completed.",
    )


class PlaybackURLs(WireModel):
    rtmp: str | None = Field(default=None, description="e.g. rtmp://host:1935/live/<id>/out")
    rtsp: str | None = Field(default=None, description="e.g. rtsp://host:8554/live/<id>/out")
    hls: str | None = Field(default=None, description="HLS playlist URL.")
    webrtc: str | None = Field(default=None, description="WebRTC (WHEP) page URL.")


class PlaybackStatus(WireModel):
    """Where the stream can be played, from the chart's public addresses."""

    out: PlaybackURLs | None = Field(default=None, description="The processed output.")
    in_: PlaybackURLs | None = Field(
        default=None, alias="in", description="The ingest, where the chart allows reading it."
    )


class SnapshotStatus(WireModel):
    last_time: Time | None = Field(default=None, description="RFC 3339 time of the last snapshot.")
    path: RecordedPath | None = Field(default=None, description="in or out: what it shows.")


class DestinationStatus(WireModel):
    """One destination, as its forwarder container reports it (the operator asks it
    while it is not Active) or, when it cannot, as its container status says.
    Written on a change of state or retries only, never per byte."""

    name: str = Field(description="Destination name.")
    state: DestinationState = Field(
        description="Pending, Connecting, Active, Retrying, Exhausted, Failing or Stopped."
    )
    restarts: int = Field(default=0, description="Restarts of this destination's container.")
    message: str | None = Field(default=None, description="Why it is not active.")
    retries: int | None = Field(
        default=None, ge=0, description="Failed attempts in a row, retried or given up."
    )
    last_error: str | None = Field(
        default=None,
        max_length=400,
        description="The last failed attempt's error (the destination URL redacted).",
    )
    last_retry_time: Time | None = Field(
        default=None, description="RFC 3339 time the last retry started."
    )
    next_retry_time: Time | None = Field(
        default=None, description="RFC 3339 time of the next retry, while Retrying."
    )

    @field_validator("state", mode="before")
    @classmethod
    def _earlier_names(cls, value: Any) -> Any:
        # Stored by releases before retries: Up is Active now (the next write renames it).
        return DestinationState.ACTIVE if value == "Up" else value


class ForwarderStatus(PodStatusSummary):
    ready: str | None = Field(default=None, description="Destinations up, e.g. 1/2.")
    destinations: list[DestinationStatus] | None = Field(
        default=None,
        description="Per-destination state from containerStatuses.",
        json_schema_extra=list_map("name"),
    )


class Condition(WireModel):
    type: ConditionType = Field(
        description="Ready, IngestAvailable, WorkerReady, OutputAvailable, "
        "DestinationsHealthy, Processing, Recording or InputLoss."
    )
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(description="CamelCase reason.")
    message: str = Field(default="", description="Human readable detail.")
    last_transition_time: Time = Field(description="RFC 3339 time.")
    observed_generation: int | None = Field(default=None)


class LiveStreamStatus(WireModel):
    """Observed state: what MediaMTX reports, and what the operator derives from it."""

    # Each field has one writer, a field manager of its own: api/ownership.py.

    phase: Phase | None = Field(default=None, description="Derived from children and ingest.")
    message: str | None = Field(default=None, description="Why the stream is in its phase.")
    observed_generation: int | None = Field(default=None)
    grace_deadline: Time | None = Field(
        default=None, description="When the stream ends unless the publisher returns."
    )
    ingest: IngestStatus | None = None
    backup: IngestStatus | None = Field(
        default=None, description="What MediaMTX reports about live/<id>/backup."
    )
    failover: FailoverStatus | None = None
    output: OutputStatus | None = None
    input: InputStatus | None = None
    worker: PodStatusSummary | None = None
    forwarder: ForwarderStatus | None = None
    processing: ProcessingStatus | None = None
    recording: RecordingStatus | None = None
    playback: PlaybackStatus | None = None
    snapshot: SnapshotStatus | None = None
    conditions: list[Condition] | None = Field(default=None, json_schema_extra=list_map("type"))


# -------------------------------------------------------------- the whole object


class ManagedFieldsEntry(BaseModel):
    """One field manager's fields (metadata.managedFields), as server-side apply
    records them; read to move an earlier writer's fields to their manager."""

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="allow", frozen=True
    )

    manager: str = ""
    operation: str = ""  # Apply or Update
    api_version: str | None = None
    time: Time | None = None
    fields_type: str | None = None
    fields_v1: dict[str, Any] = Field(default_factory=dict)
    subresource: str | None = None


class ObjectMeta(BaseModel):
    """The parts of metadata this project reads or sets."""

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="ignore", frozen=True
    )

    name: str
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    managed_fields: list[ManagedFieldsEntry] = Field(default_factory=list)


class LiveStream(BaseModel):
    """A LiveStream object as the API server stores it."""

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="ignore", frozen=True
    )

    api_version: Literal["media.livestream-operator.dev/v1alpha1"] = (
        "media.livestream-operator.dev/v1alpha1"
    )
    kind: Literal["LiveStream"] = "LiveStream"
    metadata: ObjectMeta
    spec: LiveStreamSpec
    status: LiveStreamStatus = Field(default_factory=LiveStreamStatus)

    @property
    def key(self) -> tuple[str, str]:
        return (self.metadata.namespace or "", self.metadata.name)

    def manifest(self) -> dict[str, Any]:
        """The object to POST: no status, no server-set metadata."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata.model_dump(
                by_alias=True,
                exclude_none=True,
                include={"name", "namespace", "labels", "annotations"},
            ),
            "spec": self.spec.wire(),
        }


# ------------------------------------------------------------------------- times


def format_time(value: datetime) -> Time:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time_precise(value: datetime) -> Time:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Time | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
