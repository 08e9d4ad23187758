"""The controller's cache of LiveStreams, with what is read over all of them kept
as it changes.

Every reconcile reports the LiveStreams by phase (a gauge). Counting them
there walked the whole cache once per reconcile, so the cost of an event grew
with the number of LiveStreams (5000 created at once took minutes). The counts
are adjusted here on every write to the cache instead: O(1) per event. So is
the index of the LiveStreams that may need MediaMTX path entries of their own
(recording, the input-loss fill; every stream with several MediaMTX instances,
for the relays of its out), with a version that moves when it changes:
the path sync reads it several times a second and skips a pass that would see
nothing new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, ItemsView, Iterator, Mapping, MutableMapping, ValuesView
from types import MappingProxyType

from ..api.v1alpha1 import LiveStream, Phase

Key = tuple[str, str]  # (namespace, name)


class LiveStreamCache(MutableMapping[Key, LiveStream]):
    """LiveStreams by (namespace, name), as the watch and the operator's own writes
    last saw them."""

    def __init__(self, relayed: bool = False) -> None:
        """`relayed`: several MediaMTX instances relay every stream's out, so that
        every stream wants path entries somewhere."""
        self._wants_entries: Callable[[LiveStream], bool] = (
            (lambda _ls: True) if relayed else (lambda ls: ls.spec.wants_path_entries())
        )
        self._items: dict[Key, LiveStream] = {}
        self._phases: Counter[Phase | None] = Counter()
        self._with_entries: dict[Key, LiveStream] = {}
        self._entries_version = 0

    def __getitem__(self, key: Key) -> LiveStream:
        return self._items[key]

    def __setitem__(self, key: Key, livestream: LiveStream) -> None:
        old = self._items.get(key)
        if old is not None:
            self._phases[old.status.phase] -= 1
        self._items[key] = livestream
        self._phases[livestream.status.phase] += 1
        if self._wants_entries(livestream):
            self._with_entries[key] = livestream
            self._entries_version += 1
        elif self._with_entries.pop(key, None) is not None:
            self._entries_version += 1

    def __delitem__(self, key: Key) -> None:
        old = self._items.pop(key)
        self._phases[old.status.phase] -= 1
        if self._with_entries.pop(key, None) is not None:
            self._entries_version += 1

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
    def with_path_entries(self) -> Mapping[Key, LiveStream]:
        """The LiveStreams whose spec may want path entries (a spec.recording, enabled
        or not, or the input-loss fill; all of them when relayed), kept current."""
        return MappingProxyType(self._with_entries)

    def path_entries_version(self) -> int:
        """Moves whenever with_path_entries changes."""
        return self._entries_version

    def by_phase(self) -> dict[Phase | None, int]:
        """How many LiveStreams are in each phase (None: no phase yet), every phase named."""
        return {phase: self._phases[phase] for phase in (*Phase, None)}
