"""The Slate condition (pure): whether the slate a LiveStream names
(spec.inputLoss.slate) is one of the chart's, so that what its destinations see
during a loss is not a surprise. A name the chart does not declare is not
refused (the CRD cannot know the chart's names, and a slate is not worth a
stream): MediaMTX's built-in slate plays, and this condition says why.
"""

from __future__ import annotations

from ..api.v1alpha1 import ConditionType, InputLossFill, LiveStream
from ..settings import Settings
from .conditions import WantedCondition

SLATE_FOUND = "SlateFound"
SLATE_NOT_FOUND = "SlateNotFound"


def slate_condition(livestream: LiveStream, settings: Settings) -> WantedCondition | None:
    """None unless the stream names a slate and fills with one."""
    spec = livestream.spec.input_loss
    if not spec.slate or spec.fill is not InputLossFill.SLATE:
        return None
    if spec.slate in settings.slates:
        return WantedCondition(
            ConditionType.SLATE,
            True,
            SLATE_FOUND,
            f"live/{livestream.spec.stream_id}/out plays slate {spec.slate} "
            "while the input is lost",
        )
    known = ", ".join(sorted(settings.slates)) or "none"
    return WantedCondition(
        ConditionType.SLATE,
        False,
        SLATE_NOT_FOUND,
        f"the chart declares no slate {spec.slate} (it has: {known}): MediaMTX's built-in "
        "slate plays instead; name one of the chart's slates or declare it under slates",
    )
