"""The track gate: which of the input's tracks an attempt uses, and when their
frames may go. Each used track is held until the output is built with all of
them (rtspclientsink announces, and flvmux writes its header from, exactly the
tracks it has when it starts); and in tone mode, the tone is held until it can
start with the first video frame.

No GStreamer here: what is held comes as callables that let it go (graph.py's
block()), so the decisions are unit-tested alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..api.v1alpha1 import WorkerMode
from .pipeline import Action, Codec, decide, required_media

Release = Callable[[], None]


class TrackGate:
    """The tracks selected at SETUP, those linked since, and their holds.

    select() runs in rtspsrc's thread, hold() and arrived() in the pad-added
    threads, open() in either of those or on the main loop.
    """

    def __init__(self, mode: WorkerMode) -> None:
        self.mode = mode
        self._lock = threading.Lock()
        self._expected: set[str] = set()  # media selected at SETUP
        self._linked: set[str] = set()
        self._rejected: list[Codec] = []
        self._held: list[Release] = []

    def select(self, codec: Codec) -> Action:
        """What to do with a stream the input offers (rtspsrc's select-stream)."""
        action = decide(self.mode, codec)
        with self._lock:
            if action is Action.REJECT:
                self._rejected.append(codec)
            elif action is Action.USE and codec.media in self._expected:
                action = Action.SKIP  # one track per media: the output has one of each
            elif action is Action.USE:
                self._expected.add(codec.media)
        return action

    def uses(self, codec: Codec) -> bool:
        """Is this pad one of the used tracks? (Rejected streams end the attempt;
        skipped ones are never set up.)"""
        return decide(self.mode, codec) is Action.USE

    def rejected(self) -> Codec | None:
        """The first stream the mode cannot use, if any."""
        with self._lock:
            return self._rejected[0] if self._rejected else None

    def hold(self, release: Release) -> None:
        with self._lock:
            self._held.append(release)

    def arrived(self, media: str) -> bool:
        """A track is linked (and held); True once every selected one is."""
        with self._lock:
            self._linked.add(media)
            return self._linked >= self._expected

    def missing(self) -> frozenset[str]:
        """Media the mode needs that no linked track carries."""
        with self._lock:
            return required_media(self.mode) - self._linked

    def open(self) -> None:
        """Let every held track go (the output is built)."""
        with self._lock:
            held, self._held = self._held, []
        for release in held:
            release()

    def clear(self) -> None:
        """Forget the holds without releasing them (the pipeline is stopped)."""
        with self._lock:
            self._held.clear()


class ToneAlignment:
    """Sample 0 of the tone plays with video frame 0.

    The tone's frames wait at its gate for the first video frame, whose running
    time becomes the gate's offset (GStreamer re-sends the segment with it before
    the next frame). Its events wait only for the output: rtspclientsink holds
    the video's caps, and so its first frame, until every track has caps, the
    tone's included (the tone's caps come with its first encoded frame). So the
    whole tone is held at its source until the output is ready; then, if the
    first video frame's time is not known yet, only its frames, at the gate.
    """

    def __init__(
        self,
        release_source: Release,
        block_frames: Callable[[], Release],
        shift_frames: Callable[[int], None],
    ) -> None:
        self._lock = threading.Lock()  # one caller makes each step
        self._release_source: Release | None = release_source  # None once released
        self._block_frames = block_frames
        self._shift_frames = shift_frames
        self._release_frames: Release | None = None  # while its frames are held at the gate
        self._output_ready = False
        self._start: int | None = None  # running time of the first video frame

    def output_ready(self) -> None:
        """The output is built and linked to every track."""
        with self._lock:
            self._output_ready = True
            self._step()

    def first_video(self, running_time: int) -> None:
        with self._lock:
            self._start = running_time
            self._step()

    def _step(self) -> None:
        """Release what can go (with _lock; the pad calls do not re-enter)."""
        if not self._output_ready:
            return
        start = self._start
        if self._release_source is not None:
            release, self._release_source = self._release_source, None
            if start is None:
                self._release_frames = self._block_frames()
            else:
                self._shift_frames(start)
            release()
        elif self._release_frames is not None and start is not None:
            self._shift_frames(start)
            self._release_frames()
            self._release_frames = None


class KeyframeStart:
    """The output starts with a keyframe (spec.inputLoss.fill Slate).

    MediaMTX switches out from its slate to the worker at RECORD; video frames
    before the input's first keyframe cannot be decoded, so a reader would see
    nothing until it (up to a GOP, a second with most encoders). Those frames,
    and the audio until then, are dropped before the output, whose RECORD then
    comes with the keyframe: the slate plays until the picture does.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False

    def admit(self, media: str, delta: bool) -> bool:
        """Whether a frame of `media` (`delta`: not a keyframe) may go."""
        with self._lock:
            if not self._started and media == "video" and not delta:
                self._started = True
            return self._started
