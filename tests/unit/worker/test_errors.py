"""What a bus error means for an attempt: which part failed, and its Outcome."""

from __future__ import annotations

import logging

import pytest

from livestream_operator.api.v1alpha1 import WorkerMode
from livestream_operator.worker.errors import BusErrors, Outcome, missing_tracks
from livestream_operator.worker.metrics import ErrorKind
from livestream_operator.worker.pipeline import Codec, classify

RESOURCE = "gst-resource-error-quark"
LOG = logging.getLogger("test.worker.errors")


class Element:
    """A stand-in for a GStreamer element: only its identity matters here."""

    def __init__(self, name: str) -> None:
        self.name = name


SRC, SINK, MUX, QUEUE, BIN, PIPELINE = (
    Element(n) for n in ("src", "out", "mux", "queue", "bin", "worker")
)


def errors(
    *, outputs: tuple[object, ...] = (None, None), rejected: Codec | None = None
) -> BusErrors:
    return BusErrors(WorkerMode.BYPASS, LOG, SRC, lambda: outputs, lambda: rejected)


def test_an_element_belongs_to_the_input_the_output_or_neither() -> None:
    e = errors(outputs=(SINK, MUX))
    assert e.kind([SRC, PIPELINE]) is ErrorKind.INPUT
    # An element inside rtspsrc's or rtspclientsink's own bins: its parent decides.
    assert e.kind([Element("udpsrc0"), BIN, SRC, PIPELINE]) is ErrorKind.INPUT
    assert e.kind([Element("appsink0"), BIN, SINK, PIPELINE]) is ErrorKind.OUTPUT
    assert e.kind([MUX, PIPELINE]) is ErrorKind.OUTPUT
    assert e.kind([QUEUE, PIPELINE]) is ErrorKind.INTERNAL


def test_before_the_output_is_built_nothing_is_an_output_error() -> None:
    assert errors().kind([QUEUE, PIPELINE]) is ErrorKind.INTERNAL


def error(
    e: BusErrors,
    *ancestry: Element,
    code: str = "read",
    debug: str = "",
    flowed: bool = False,
    waited_s: float = 0.5,
) -> Outcome:
    """rtspsrc's "Could not read" (a GstResourceError) from the first element."""
    return e.error(
        list(ancestry),
        ancestry[0].name,
        "Could not read",
        domain=RESOURCE,
        code=code,
        debug=debug,
        flowed=flowed,
        waited_s=waited_s,
    )


def test_a_rejected_stream_is_the_reason_whatever_failed() -> None:
    hevc = classify("video", "H265")
    outcome = error(errors(rejected=hevc), SRC, PIPELINE)
    assert outcome.kind is ErrorKind.UNSUPPORTED
    assert outcome.codec == "H.265/HEVC"
    assert "needs H.264" in outcome.detail
    assert not outcome.flowed


@pytest.mark.parametrize(
    ("code", "debug", "waited_s"),
    [
        ("not-found", "Not Found (404)", 0.1),
        ("read", "Bad Request (400)", 9.5),  # MediaMTX's hold of an early reader ran out
        ("open-read-write", "Failed to connect. (Generic error)", 0.1),
    ],
)
def test_an_input_not_published_yet_is_absent_and_not_logged(
    caplog: pytest.LogCaptureFixture, code: str, debug: str, waited_s: float
) -> None:
    with caplog.at_level(logging.WARNING, LOG.name):
        outcome = error(errors(), SRC, PIPELINE, code=code, debug=debug, waited_s=waited_s)
    assert outcome == Outcome(ErrorKind.INPUT, "Could not read", False, absent=True)
    assert caplog.records == []


def test_the_same_error_once_flowing_is_a_fault_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, LOG.name):
        outcome = error(errors(), SRC, PIPELINE, code="not-found", flowed=True)
    assert outcome == Outcome(ErrorKind.INPUT, "Could not read", True)
    [record] = caplog.records
    assert record.getMessage() == "pipeline error from src: Could not read"
    assert record.__dict__["errorKind"] == "input"


def test_a_400_at_once_is_a_fault() -> None:
    outcome = error(errors(), SRC, PIPELINE, debug="Bad Request (400)", waited_s=0.2)
    assert not outcome.absent


def test_an_output_error_keeps_whether_it_flowed() -> None:
    outcome = error(errors(outputs=(SINK, None)), SINK, PIPELINE, flowed=True)
    assert outcome == Outcome(ErrorKind.OUTPUT, "Could not read", True)


def test_end_of_stream_is_the_input_ending() -> None:
    assert errors().eos(True) == Outcome(ErrorKind.INPUT, "end of stream", True)


def test_missing_tracks_name_the_media_and_the_mode() -> None:
    outcome = missing_tracks(WorkerMode.TONE, ["video"])
    assert outcome == Outcome(
        ErrorKind.UNSUPPORTED,
        "the input has no usable video track; the tone worker needs one",
        False,
        "none",
    )


def handing_over() -> BusErrors:
    return BusErrors(WorkerMode.BYPASS, LOG, SRC, lambda: (SINK, None), lambda: None, handover=True)


def test_with_a_slate_fill_the_inputs_read_warning_ends_the_attempt_at_once() -> None:
    # rtspsrc warns the moment MediaMTX drops the input; its error comes much later.
    outcome = handing_over().warning([SRC, PIPELINE], "Could not read", flowed=True)
    assert outcome == Outcome(ErrorKind.INPUT, "input lost: Could not read", True, absent=True)


def test_other_warnings_and_fill_none_only_log() -> None:
    assert errors().warning([SRC, PIPELINE], "Could not read", flowed=True) is None
    assert handing_over().warning([SINK, PIPELINE], "Could not write", flowed=True) is None
    assert handing_over().warning([QUEUE, PIPELINE], "late", flowed=True) is None
    # Before the output flowed there is nothing to hand over: the usual waits apply.
    assert handing_over().warning([SRC, PIPELINE], "Could not read", flowed=False) is None
