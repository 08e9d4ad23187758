"""Decided conditions meet the stored ones: transition times, and Warnings once."""

from __future__ import annotations

from datetime import timedelta

from livestream_operator.api.v1alpha1 import ConditionType
from livestream_operator.kube_events import EventType, KubeEvent
from livestream_operator.reconcile.conditions import WantedCondition, merge_conditions, warn_once

from .test_plan import T0

DOWN = WantedCondition(ConditionType.WORKER_READY, False, "Pending", "starting")
UP = WantedCondition(ConditionType.WORKER_READY, True, "Ready")


def test_transition_time_moves_only_when_the_status_does() -> None:
    first = merge_conditions(None, [DOWN], T0, 1)
    assert first[0].wire()["lastTransitionTime"] == "2026-11-21T06:00:00Z"
    later = T0 + timedelta(seconds=5)
    same = merge_conditions(first, [DOWN], later, 2)
    assert same[0].last_transition_time == first[0].last_transition_time
    assert same[0].observed_generation == 2
    flipped = merge_conditions(first, [UP], later, 2)
    assert flipped[0].wire()["status"] == "True"
    assert flipped[0].wire()["lastTransitionTime"] == "2026-11-21T06:00:05Z"


def test_a_warning_reason_is_posted_once_while_it_holds() -> None:
    missing = WantedCondition(ConditionType.WORKER_READY, False, "SecretNotFound", "no keys")
    reasons = {"SecretNotFound"}
    assert warn_once(None, [missing], reasons) == [
        KubeEvent(EventType.WARNING, "SecretNotFound", "no keys")
    ]
    stored = merge_conditions(None, [missing], T0, 1)
    assert warn_once(stored, [missing], reasons) == []
    assert warn_once(None, [DOWN, UP], reasons) == []  # not a warning reason, or True
