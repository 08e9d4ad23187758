"""The controller's cache of LiveStreams, with what is read over all of them kept
as it changes.

Every reconcile reports the LiveStreams by phase (a gauge). Counting them
there walked the whole cache once per reconcile, so the cost of an event grew
with the number of LiveStreams (5000 created at once took minutes). The counts
are adjusted here on every write to the cache instead: O(1) per event. So is
the index of the LiveStreams that ask for recording, which the recording sync
reads several times a second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import ItemsView, Iterator, Mapping, MutableMapping, ValuesView
from types import MappingProxyType

from ..api.v1alpha1 import LiveStream, Phase

Key = tuple[str, str]  # (namespace, name)


class LiveStreamCache(MutableMapping[Key, LiveStream]):
    """LiveStreams by (namespace, name), as the watch and the operator's own writes
    last saw them."""

    def __init__(self) -> None:
        self._items: dict[Key, LiveStream] = {}
        self._phases: Counter[Phase | None] = Counter()
        self._recorded: dict[Key, LiveStream] = {}

    def __getitem__(self, key: Key) -> LiveStream:
        return self._items[key]

    def __setitem__(self, key: Key, livestream: LiveStream) -> None:
        old = self._items.get(key)
        if old is not None:
            self._phases[old.status.phase] -= 1
        self._items[key] = livestream
        self._phases[livestream.status.phase] += 1
        if livestream.spec.recording is not None:
            self._recorded[key] = livestream
        else:
            self._recorded.pop(key, None)

    def __delitem__(self, key: Key) -> None:
        old = self._items.pop(key)
        self._phases[old.status.phase] -= 1
        self._recorded.pop(key, None)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    # The dict's own views: the resync and the recording sync walk them often.
    def values(self) -> ValuesView[LiveStream]:
        return self._items.values()

    def items(self) -> ItemsView[Key, LiveStream]:
        return self._items.items()

    @property
    def recorded(self) -> Mapping[Key, LiveStream]:
        """The LiveStreams with a spec.recording (enabled or not), kept current."""
        return MappingProxyType(self._recorded)

    def by_phase(self) -> dict[Phase | None, int]:
        """How many LiveStreams are in each phase (None: no phase yet), every phase named."""
        return {phase: self._phases[phase] for phase in (*Phase, None)}
