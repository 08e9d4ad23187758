"""The track gate: which tracks an attempt uses, when their frames go, and when
the tone starts."""

from __future__ import annotations

import threading

from livestream_operator.api.v1alpha1 import WorkerMode
from livestream_operator.worker.pipeline import Action, classify
from livestream_operator.worker.track_gate import (
    KeyframeStart,
    Release,
    ToneAlignment,
    TrackGate,
)

H264 = classify("video", "H264")
AAC = classify("audio", "MPEG4-GENERIC")
LATM = classify("audio", "MP4A-LATM")
HEVC = classify("video", "H265")
OPUS = classify("audio", "OPUS")


def test_one_track_per_media_is_used_the_rest_skipped() -> None:
    gate = TrackGate(WorkerMode.BYPASS)
    assert gate.select(H264) is Action.USE
    assert gate.select(AAC) is Action.USE
    assert gate.select(LATM) is Action.SKIP  # a second audio track
    assert gate.select(classify("application", "SMPTE336M")) is Action.SKIP
    assert gate.rejected() is None


def test_the_tone_worker_never_sets_the_input_audio_up() -> None:
    gate = TrackGate(WorkerMode.TONE)
    assert gate.select(OPUS) is Action.SKIP
    assert not gate.uses(AAC)
    assert gate.uses(H264)


def test_the_first_unusable_stream_is_the_reason() -> None:
    gate = TrackGate(WorkerMode.BYPASS)
    assert gate.select(HEVC) is Action.REJECT
    assert gate.select(OPUS) is Action.REJECT
    assert gate.rejected() == HEVC
    assert not gate.uses(HEVC)


def test_complete_once_every_selected_track_arrived() -> None:
    gate = TrackGate(WorkerMode.BYPASS)
    gate.select(H264)
    gate.select(AAC)
    assert not gate.arrived("audio")
    assert gate.arrived("video")


def test_missing_names_what_the_mode_needs_and_never_came() -> None:
    tone = TrackGate(WorkerMode.TONE)
    tone.select(H264)
    assert tone.missing() == {"video"}
    tone.arrived("video")
    assert tone.missing() == frozenset()
    process = TrackGate(WorkerMode.PROCESS)
    process.arrived("video")
    assert process.missing() == {"audio"}
    assert TrackGate(WorkerMode.BYPASS).missing() == frozenset()  # video-only or audio-only


def test_open_lets_each_held_track_go_once() -> None:
    gate = TrackGate(WorkerMode.BYPASS)
    released: list[str] = []
    gate.hold(lambda: released.append("video"))
    gate.hold(lambda: released.append("audio"))
    gate.open()
    gate.open()  # PAD_WAIT's timer after the tracks completed: nothing left
    assert released == ["video", "audio"]


def test_clear_forgets_holds_without_releasing() -> None:
    gate = TrackGate(WorkerMode.BYPASS)
    released: list[str] = []
    gate.hold(lambda: released.append("video"))
    gate.clear()
    gate.open()
    assert released == []


class Pads:
    """Records what the alignment does to the tone's pads, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def release_source(self) -> None:
        self.calls.append("release source")

    def block_frames(self) -> Release:
        self.calls.append("block frames")
        return lambda: self.calls.append("release frames")

    def shift(self, offset: int) -> None:
        self.calls.append(f"offset {offset}")

    def alignment(self) -> ToneAlignment:
        return ToneAlignment(self.release_source, self.block_frames, self.shift)


def test_output_first_holds_the_frames_until_the_first_video_frame() -> None:
    pads = Pads()
    tone = pads.alignment()
    tone.output_ready()
    # Its events go (the output needs its caps); its frames wait at the gate.
    assert pads.calls == ["block frames", "release source"]
    tone.first_video(2_000_000_000)
    assert pads.calls[2:] == ["offset 2000000000", "release frames"]
    tone.output_ready()  # a second release of the gate (PAD_WAIT's timer): nothing more
    assert len(pads.calls) == 4


def test_video_first_starts_the_tone_shifted_at_once() -> None:
    pads = Pads()
    tone = pads.alignment()
    tone.first_video(40_000_000)
    assert pads.calls == []  # nothing goes before the output exists
    tone.output_ready()
    assert pads.calls == ["offset 40000000", "release source"]


def test_no_output_no_tone() -> None:
    pads = Pads()
    tone = pads.alignment()
    tone.first_video(0)
    assert pads.calls == []


def test_concurrent_callers_make_each_step_once() -> None:
    for _ in range(50):
        pads = Pads()
        tone = pads.alignment()
        go = threading.Barrier(2)

        def ready(t: ToneAlignment = tone, b: threading.Barrier = go) -> None:
            b.wait()
            t.output_ready()

        thread = threading.Thread(target=ready)
        thread.start()
        go.wait()
        tone.first_video(7)
        thread.join()
        assert pads.calls in (
            ["block frames", "release source", "offset 7", "release frames"],
            ["offset 7", "release source"],
        )


def test_the_output_starts_with_a_keyframe_and_the_audio_with_it() -> None:
    start = KeyframeStart()
    assert not start.admit("audio", False)
    assert not start.admit("video", True)  # a delta frame before the first keyframe
    assert start.admit("video", False)
    assert start.admit("audio", False)
    assert start.admit("video", True)  # from then on, everything goes
