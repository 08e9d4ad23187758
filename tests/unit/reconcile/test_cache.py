"""The controller's cache counts its LiveStreams by phase as they change, so the
gauge never needs a walk over all of them."""

from __future__ import annotations

from collections import Counter

from livestream_operator.api.v1alpha1 import LiveStream, LiveStreamStatus, Phase
from livestream_operator.reconcile.cache import LiveStreamCache

from .test_plan import ls


def named(name: str, phase: Phase | None) -> LiveStream:
    body = ls()
    meta = body.metadata.model_copy(update={"name": name})
    return body.model_copy(update={"metadata": meta, "status": LiveStreamStatus(phase=phase)})


def walked(cache: LiveStreamCache) -> dict[Phase | None, int]:
    """What the gauge used to count, walking every LiveStream."""
    counts = Counter(item.status.phase for item in cache.values())
    return {phase: counts.get(phase, 0) for phase in (*Phase, None)}


def test_counts_follow_adds_replacements_and_deletions() -> None:
    cache = LiveStreamCache()
    for name, phase in (("a", None), ("b", Phase.LIVE), ("c", Phase.LIVE), ("d", Phase.IDLE)):
        stream = named(name, phase)
        cache[stream.key] = stream
    assert cache.by_phase() == walked(cache)
    assert cache.by_phase()[Phase.LIVE] == 2
    assert cache.by_phase()[None] == 1

    a = named("a", Phase.STARTING)  # its status written: the same key, a new phase
    cache[a.key] = a
    b = named("b", Phase.RECONNECTING)
    cache[b.key] = b
    del cache[named("d", None).key]
    assert cache.pop(named("gone", None).key, None) is None
    assert cache.by_phase() == walked(cache)
    assert len(cache) == 3
    assert cache.by_phase() == {
        **dict.fromkeys((*Phase, None), 0),
        Phase.STARTING: 1,
        Phase.RECONNECTING: 1,
        Phase.LIVE: 1,
    }
    assert cache.get(a.key) == a


def test_the_recorded_index_holds_the_streams_with_a_spec_recording() -> None:
    cache = LiveStreamCache()
    plain = named("plain", None)
    recorded = ls(recording={"enabled": False})  # named "cam"; off is still a spec.recording
    cache[plain.key] = plain
    cache[recorded.key] = recorded
    assert dict(cache.recorded) == {recorded.key: recorded}
    # Its spec.recording removed: out of the index; the LiveStream deleted: likewise.
    cache[recorded.key] = ls()
    assert dict(cache.recorded) == {}
    cache[recorded.key] = recorded
    del cache[recorded.key]
    assert dict(cache.recorded) == {}
