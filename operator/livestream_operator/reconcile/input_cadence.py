"""status.input's frame rate and keyframe interval, from the worker's InputReport
(pure). The rest of status.input is the ingest's (MediaMTX's view of the path).

The operator asks a running worker at most every INPUT_POLL_SECONDS (sooner
until a first answer, and again for a new publish), and the values are rounded
so that a steady stream's answers match what is stored: no write.
"""

from __future__ import annotations

from ..api.pod_contract import InputReport
from ..api.v1alpha1 import InputStatus


def cadence_status(stored: InputStatus | None, report: InputReport | None) -> InputStatus | None:
    """The operator's part of status.input: what the worker said this time, else
    what the status held (a report without a sample yet keeps it too)."""
    frame_rate = stored.frame_rate if stored else None
    interval = stored.keyframe_interval if stored else None
    if report is not None and report.frame_rate is not None:
        frame_rate = round(report.frame_rate, 2)
        interval = round(report.keyframe_interval, 2) if report.keyframe_interval else None
    if frame_rate is None and interval is None:
        return None
    return InputStatus(frame_rate=frame_rate, keyframe_interval=interval)


def complete(report: InputReport | None) -> bool:
    """The worker has measured its input: ask again only at the long interval."""
    return report is not None and report.frame_rate is not None
