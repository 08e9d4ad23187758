"""How an attempt ends (Outcome), and what an ERROR or EOS on its bus means: which
part failed (input, output or the rest), whether the input is only not published
yet, or unusable. The Supervisor (runner.py) retries, waits or gives up on that.

No GStreamer here: the attempt parses the bus message and passes its fields and
the failing element's ancestry, so the classification is unit-tested alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..api.v1alpha1 import WorkerMode
from .metrics import ErrorKind
from .pipeline import Codec, input_absent, unsupported_reason


@dataclass(frozen=True)
class Outcome:
    kind: ErrorKind | None  # None: stopped on request
    detail: str
    flowed: bool
    codec: str = ""
    absent: bool = False  # the input is not published (yet): retry quickly, quietly


def unsupported(mode: WorkerMode, codec: Codec) -> Outcome:
    return Outcome(ErrorKind.UNSUPPORTED, unsupported_reason(mode, codec), False, codec.label)


def missing_tracks(mode: WorkerMode, missing: Iterable[str]) -> Outcome:
    return Outcome(
        ErrorKind.UNSUPPORTED,
        f"the input has no usable {'/'.join(sorted(missing))} "
        f"track; the {mode.value} worker needs one",
        False,
        "none",
    )


class BusErrors:
    """Classifies the bus's errors (main loop only, so no lock).

    `outputs()` gives the output's elements built so far; `rejected()` the first
    input stream the mode cannot use, which is why rtspsrc errors out when no
    stream is left to set up.
    """

    def __init__(
        self,
        mode: WorkerMode,
        log: Any,
        source: Any,
        outputs: Callable[[], tuple[Any, ...]],
        rejected: Callable[[], Codec | None],
        *,
        handover: bool = False,
    ) -> None:
        self.mode, self.log, self.source = mode, log, source
        self._outputs, self._rejected = outputs, rejected
        self.handover = handover

    def kind(self, ancestry: Iterable[Any]) -> ErrorKind:
        """Which part an element belongs to, from it and its parent bins."""
        outputs = self._outputs()
        for element in ancestry:
            if element == self.source:
                return ErrorKind.INPUT
            if element in outputs:
                return ErrorKind.OUTPUT
        return ErrorKind.INTERNAL

    def error(
        self,
        ancestry: Iterable[Any],
        element: str,
        message: str,
        *,
        domain: str,
        code: str,
        debug: str | None,
        flowed: bool,
        waited_s: float,
    ) -> Outcome:
        """An ERROR message from `element`: `domain` and `code` (a GstResourceError
        nick, or "") of its GError; `waited_s`: how long the attempt has run."""
        kind = self.kind(ancestry)
        codec = self._rejected()
        if codec is not None:
            return unsupported(self.mode, codec)
        if (
            kind is ErrorKind.INPUT
            and not flowed
            and input_absent(domain, code, debug or "", waited_s)
        ):
            return Outcome(kind, message, False, absent=True)
        self.log.warning(
            "pipeline error from %s: %s",
            element,
            message,
            extra={"element": element, "debug": debug, "errorKind": kind.value},
        )
        return Outcome(kind, message, flowed)

    def warning(self, ancestry: Iterable[Any], message: str, *, flowed: bool) -> Outcome | None:
        """A WARNING that ends the attempt, or None (it is only logged).

        rtspsrc warns "Could not read from resource" the moment MediaMTX drops
        the input (the publisher left: the path is gone) and only errors out
        much later, after its own timeouts. With `handover` (spec.inputLoss.fill
        Slate) the attempt ends at once: its output goes, and MediaMTX's slate
        takes over out without a gap the length of those timeouts. The input is
        then absent: retried quickly, as before a first publish.
        """
        if not (self.handover and flowed) or self.kind(ancestry) is not ErrorKind.INPUT:
            return None
        return Outcome(ErrorKind.INPUT, f"input lost: {message}", True, absent=True)

    def eos(self, flowed: bool) -> Outcome:
        return Outcome(ErrorKind.INPUT, "end of stream", flowed)
