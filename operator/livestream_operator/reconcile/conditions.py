"""Conditions as the plan's concerns decide them, and how they become
status.conditions: the timestamps and the Warning Events that are posted once.

Each concern (phase, destinations, processing, recording) says what its
condition should be; only here does that meet what the status held before.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from ..api.v1alpha1 import Condition, ConditionType, format_time
from ..kube_events import EventType, KubeEvent


@dataclass(frozen=True)
class WantedCondition:
    """A condition as decided, before it meets the stored one."""

    type: ConditionType
    ok: bool
    reason: str
    message: str = ""
    # When the status turned, where the concern knows it better than the reconcile
    # that sees it (InputLoss: the publisher's not-ready, not the reconcile after).
    since: datetime | None = None


def merge_conditions(
    old: list[Condition] | None, new: list[WantedCondition], now: datetime, generation: int | None
) -> list[Condition]:
    """Keep lastTransitionTime unless a condition's status changed."""
    before = {c.type: c for c in old or []}
    merged = []
    for cond in new:
        status = "True" if cond.ok else "False"
        prev = before.get(cond.type)
        changed = prev is None or prev.status != status
        merged.append(
            Condition(
                type=cond.type,
                status=status,
                reason=cond.reason,
                message=cond.message,
                last_transition_time=format_time(cond.since or now)
                if changed or prev is None
                else prev.last_transition_time,
                observed_generation=generation,
            )
        )
    return merged


def warn_once(
    old: list[Condition] | None, new: list[WantedCondition], reasons: Collection[str]
) -> list[KubeEvent]:
    """A Warning when a condition turns False for one of `reasons`.

    Once: a condition that was already False with the same reason (the status
    written by an earlier reconcile) posts nothing again.
    """
    before = {c.type: c for c in old or []}
    events = []
    for cond in new:
        if cond.ok or cond.reason not in reasons:
            continue
        prev = before.get(cond.type)
        if prev is not None and prev.status == "False" and prev.reason == cond.reason:
            continue
        events.append(KubeEvent(EventType.WARNING, cond.reason, cond.message))
    return events
