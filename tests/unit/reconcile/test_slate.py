"""The Slate condition: a stream naming a slate the chart does not declare."""

from __future__ import annotations

from livestream_operator.api.v1alpha1 import (
    ConditionType,
    InputLossFill,
    InputLossSpec,
    LiveStream,
    LiveStreamSpec,
    ObjectMeta,
)
from livestream_operator.reconcile.slate import SLATE_FOUND, SLATE_NOT_FOUND, slate_condition
from livestream_operator.settings import Settings

SETTINGS = Settings.model_validate({"slates": {"black": {"colour": "#000000"}}})


def stream(slate: str | None, fill: InputLossFill = InputLossFill.SLATE) -> LiveStream:
    return LiveStream(
        metadata=ObjectMeta(name="cam", namespace="ns"),
        spec=LiveStreamSpec(stream_id="cam", input_loss=InputLossSpec(fill=fill, slate=slate)),
    )


def test_no_slate_named_no_condition() -> None:
    assert slate_condition(stream(None), SETTINGS) is None
    assert slate_condition(stream(""), SETTINGS) is None
    assert slate_condition(stream("black", InputLossFill.NONE), SETTINGS) is None


def test_a_declared_slate_is_found() -> None:
    cond = slate_condition(stream("black"), SETTINGS)
    assert cond is not None
    assert (cond.type, cond.ok, cond.reason) == (ConditionType.SLATE, True, SLATE_FOUND)


def test_an_undeclared_slate_says_the_built_in_one_plays_and_which_there_are() -> None:
    cond = slate_condition(stream("bars"), SETTINGS)
    assert cond is not None
    assert (cond.ok, cond.reason) == (False, SLATE_NOT_FOUND)
    for said in ("bars", "black", "built-in"):
        assert said in cond.message
