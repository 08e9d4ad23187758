"""When a stream's input-loss fill ends (pure): one fact read by two sides, the
path entries (mediamtx/path_config.py drops out's always-available entry then,
so the destinations' sessions end) and the reconcile, which wakes up then to
say so in the InputLoss condition. That status write is also what makes the
PathConfigSync look again (it skips passes while its cache is unchanged).

spec.inputLoss.fillSeconds counts from the loss: the InputLoss condition's
transition to True, which the operator writes when the publisher went (and
both publishers, with a backup). Without it the fill lasts until the grace
deadline, when the stream itself ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .v1alpha1 import ConditionType, InputLossFill, InputLossSpec, LiveStream, parse_time


def fill_deadline(spec: InputLossSpec, lost_since: datetime | None) -> datetime | None:
    """When the fill of a loss that began at `lost_since` stops; None: no limit
    (or no fill, or no loss)."""
    if spec.fill is not InputLossFill.SLATE or spec.fill_seconds is None or lost_since is None:
        return None
    # To the second, as the condition stores it: both sides find the same moment.
    return lost_since.replace(microsecond=0) + timedelta(seconds=spec.fill_seconds)


def fill_ended(livestream: LiveStream, now: datetime) -> bool:
    """Whether the current loss (the stored InputLoss condition) outlasted fillSeconds."""
    loss = next(
        (c for c in livestream.status.conditions or [] if c.type is ConditionType.INPUT_LOSS),
        None,
    )
    lost = loss is not None and loss.status == "True"
    since = parse_time(loss.last_transition_time) if loss is not None and lost else None
    ends = fill_deadline(livestream.spec.input_loss, since)
    return ends is not None and now >= ends
