"""The controller's cache counts its LiveStreams by phase, and indexes those that
may want MediaMTX path entries, as they change: neither needs a walk over all of
them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from livestream_operator.api.v1alpha1 import LiveStream, LiveStreamStatus, Phase
from livestream_operator.reconcile.cache import LiveStreamCache

from .test_plan import ls


def named(name: str, phase: Phase | None, **spec: Any) -> LiveStream:
    body = ls(**spec)
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


def test_the_path_entry_index_holds_the_streams_that_may_want_entries() -> None:
    cache = LiveStreamCache()
    plain = named("plain", None, inputLoss={"fill": "None"})
    filled = named("filled", None)  # the default fill, Slate: out gets an entry
    recorded = ls(recording={"enabled": False}, inputLoss={"fill": "None"})  # off is a spec
    for item in (plain, filled, recorded):
        cache[item.key] = item
    assert dict(cache.with_path_entries) == {filled.key: filled, recorded.key: recorded}
    # Its spec.recording removed: out of the index; the LiveStream deleted: likewise.
    version = cache.path_entries_version()
    cache[recorded.key] = ls(inputLoss={"fill": "None"})
    assert recorded.key not in cache.with_path_entries
    assert cache.path_entries_version() > version
    cache[recorded.key] = recorded
    del cache[recorded.key]
    assert recorded.key not in cache.with_path_entries
    # A stream outside the index changes nothing the path sync reads.
    version = cache.path_entries_version()
    cache[plain.key] = named("plain", Phase.LIVE, inputLoss={"fill": "None"})
    assert cache.path_entries_version() == version


def test_with_several_instances_every_stream_is_indexed_for_its_relays() -> None:
    cache = LiveStreamCache(relayed=True)
    plain = named("plain", None, inputLoss={"fill": "None"})
    cache[plain.key] = plain
    assert dict(cache.with_path_entries) == {plain.key: plain}
    version = cache.path_entries_version()
    cache[plain.key] = named("plain", Phase.LIVE, inputLoss={"fill": "None"})  # it may have moved
    assert cache.path_entries_version() > version
