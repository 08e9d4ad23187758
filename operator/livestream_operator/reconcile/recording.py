"""The Recording condition (pure): what MediaMTX does with spec.recording, as
the operator's recording sync and the last segment reported it in
status.recording.
"""

from __future__ import annotations

from ..api.v1alpha1 import ConditionType, LiveStream, RecordingStatus
from ..settings import Settings
from .conditions import WantedCondition

STORAGE_FULL = "StorageFull"
RECORDING_REFUSED = "MediaMTXRefused"


def recording_condition(livestream: LiveStream, settings: Settings) -> WantedCondition | None:
    """Recording, Off, Pending (not applied yet), MediaMTXRefused, or StorageFull
    when the recordings volume has less free space than the chart allows (as the
    last segment found it)."""
    spec = livestream.spec.recording
    if spec is None:
        return None
    status = livestream.status.recording or RecordingStatus()
    kind = ConditionType.RECORDING
    if status.applied is False:
        return WantedCondition(kind, False, RECORDING_REFUSED, status.message or "")
    if not spec.enabled:
        return WantedCondition(kind, False, "Off", "spec.recording.enabled is false")
    if status.applied is None:
        return WantedCondition(
            kind, False, "Pending", "the operator has not applied it to MediaMTX yet"
        )
    free = status.free_bytes
    if free is not None and free < settings.recording_min_free_bytes:
        return WantedCondition(
            kind,
            False,
            STORAGE_FULL,
            f"the recordings volume has {free} bytes free, under the "
            f"{settings.recording_min_free_bytes} the operator keeps: free space or grow it",
        )
    paths = " and ".join(p.value for p in spec.paths)
    segment, kept = spec.effective(settings.recording_max_retention)
    capped = " (capped by the chart's recording.maxRetention)" if kept != spec.retention else ""
    return WantedCondition(
        kind,
        True,
        "Recording",
        f"recording {paths} as {spec.format.value} while live, "
        f"{segment} segments kept {kept}{capped}",
    )
