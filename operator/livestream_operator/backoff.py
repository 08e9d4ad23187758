"""Exponential backoff: the one formula behind the project's retry loops (the
worker's pipeline restarts, the forwarder's ffmpeg restarts, the Gemini adapter's
reconnects, the mtx-hook wrapper's POSTs, the operator's work queue). Each caller
declares its own figures beside its loop; this module only computes.

It imports nothing, not even from the standard library (hence no `from
__future__`): the mtx-hook wrapper, which MediaMTX starts for every event, runs it
as well (the MediaMTX image copies this file one directory above the wrapper, as
in the source tree), and the wrapper's start-up time is the hook's latency.
"""


def exponential(
    attempt: int,
    *,
    base: float,
    cap: float,
    factor: float = 2.0,
    jitter: float = 0.0,
    draw: float | None = None,
) -> float:
    """The delay before retry number `attempt` (0-based): `base` * `factor` **
    `attempt`, at most `cap`.

    `jitter`: the share of that delay left to chance; the delay is scaled by a
    number between 1 - `jitter` and 1 (0.5: between half of it and all of it),
    taken from `draw`, a uniform random number in [0, 1) such as random.random().
    The caller draws it, so the same arguments always give the same delay.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if not 0 <= base <= cap:
        raise ValueError(f"backoff needs 0 <= base <= cap, got base={base}, cap={cap}")
    if factor < 1:
        raise ValueError(f"backoff factor must be >= 1, got {factor}")
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter must be between 0 and 1, got {jitter}")
    try:
        grown = base * float(factor) ** attempt
    except OverflowError:  # past a float's range: the cap was reached long before
        grown = float("inf") if base else 0.0
    delay = float(min(cap, grown))
    if not jitter:
        return delay
    if draw is None or not 0 <= draw < 1:
        raise ValueError(f"jitter needs a draw in [0, 1), got {draw}")
    return delay * (1.0 - jitter + jitter * draw)
