"""Resync: the events that would make the LiveStreams agree with MediaMTX."""

from __future__ import annotations

from typing import Any, cast

from livestream_operator.api.v1alpha1 import LiveStream
from livestream_operator.ingest.conditional_writer import ConditionalWriter
from livestream_operator.ingest.hook_event import HookKind
from livestream_operator.ingest.resync import Resync, diff, diff_instances
from livestream_operator.mediamtx.control_api import MediaMTXClient, MediaMTXError, PathInfo
from livestream_operator.mediamtx.instances import Clients
from livestream_operator.settings import Settings
from tests.unit.ingest.test_receiver import MemoryAPI


def _ls(
    stream: str, ingest: dict[str, Any] | None = None, output: dict[str, Any] | None = None
) -> LiveStream:
    return LiveStream.model_validate(
        {
            "metadata": {"name": stream.lower()},
            "spec": {"streamId": stream},
            "status": {"ingest": ingest or {}, "output": output or {}},
        }
    )


def test_resync_diff() -> None:
    paths = [
        PathInfo("live/missed/in", True, "rtmpConn", "m"),
        PathInfo("live/known/in", True, "rtmpConn", "k"),
        PathInfo("live/known/out", True, "rtmpConn", "w"),
        PathInfo("live/orphan/out", True, "rtmpConn", "o"),
        PathInfo("other/thing", True, "rtmpConn", "z"),
        PathInfo("live/idle/in", False, "", ""),
    ]
    livestreams = [
        _ls("known", {"available": True, "sourceId": "k"}),
        _ls("gone", {"available": True, "sourceId": "g"}, {"available": True, "sourceId": "gw"}),
    ]
    repairs = {(r.kind, r.event.path, r.event.source_id) for r in diff(paths, livestreams)}
    assert repairs == {
        (HookKind.READY, "live/missed/in", "m"),
        (HookKind.READY, "live/known/out", "w"),
        (HookKind.NOT_READY, "live/gone/in", "g"),
        (HookKind.NOT_READY, "live/gone/out", "gw"),
    }


def test_a_ready_recorded_after_the_listing_is_not_ended_by_it() -> None:
    from datetime import UTC, datetime

    listed_at = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
    fresh = _ls(
        "fresh", {"available": True, "sourceId": "f", "lastEventTime": "2026-12-01T10:00:00.2Z"}
    )
    stale = _ls(
        "stale", {"available": True, "sourceId": "s", "lastEventTime": "2026-12-01T09:59:00Z"}
    )
    repairs = {(r.kind, r.event.path) for r in diff([], [fresh, stale], listed_at)}
    assert repairs == {(HookKind.NOT_READY, "live/stale/in")}


# ------------------------------------------------------------ several instances

A, B = "lso-mediamtx-0", "lso-mediamtx-1"


def _repairs(listings: Any, livestreams: list[LiveStream]) -> set[tuple[str, str, str, str]]:
    return {
        (r.kind.value, r.event.path, r.event.source_id, r.event.instance)
        for r in diff_instances(listings, livestreams)
    }


def test_an_instance_that_could_not_be_listed_ends_nothing_of_its_own() -> None:
    on_a = _ls("cam", {"available": True, "sourceId": "c", "instance": A})
    on_b = _ls("show", {"available": True, "sourceId": "s", "instance": B})
    # A is away: its stream stays; B was listed without its stream: that one ends.
    assert _repairs({A: None, B: []}, [on_a, on_b]) == {("not-ready", "live/show/in", "s", "")}


def test_a_stream_recorded_without_an_instance_is_on_the_default_one() -> None:
    old = _ls("cam", {"available": True, "sourceId": "c"})  # an older wrapper's hooks
    assert _repairs({A: None, B: []}, [old]) == set()
    assert _repairs({A: [], B: None}, [old]) == {("not-ready", "live/cam/in", "c", "")}


def test_a_publisher_that_moved_is_a_ready_that_carries_its_new_instance() -> None:
    cam = _ls("cam", {"available": True, "sourceId": "c1", "instance": A})
    moved = {A: [], B: [PathInfo("live/cam/in", True, "rtmpConn", "c2")]}
    assert _repairs(moved, [cam]) == {("ready", "live/cam/in", "c2", B)}
    # The same while A cannot be listed: B's word is news.
    assert _repairs({**moved, A: None}, [cam]) == {("ready", "live/cam/in", "c2", B)}


def test_a_missed_publish_on_any_instance_creates_its_stream_there() -> None:
    listings = {A: [], B: [PathInfo("live/new/in", True, "srtConn", "n")]}
    assert _repairs(listings, []) == {("ready", "live/new/in", "n", B)}


def test_out_counts_only_on_the_streams_own_instance() -> None:
    cam = _ls("cam", {"available": True, "sourceId": "c", "instance": B})
    ingest = PathInfo("live/cam/in", True, "rtmpConn", "c")
    out = PathInfo("live/cam/out", True, "rtspSession", "w")
    # A worker still publishing to A (its old instance) is not the stream's out.
    assert _repairs({A: [out], B: [ingest]}, [cam]) == set()
    assert _repairs({A: [], B: [ingest, out]}, [cam]) == {("ready", "live/cam/out", "w", B)}
    live_out = _ls(
        "cam",
        {"available": True, "sourceId": "c", "instance": B},
        {"available": True, "sourceId": "w"},
    )
    assert _repairs({A: [out], B: [ingest]}, [live_out]) == {("not-ready", "live/cam/out", "w", "")}
    assert _repairs({A: [out], B: None}, [live_out]) == set()


def test_one_instance_is_todays_diff() -> None:
    cam = _ls("cam", {"available": True, "sourceId": "c"})
    paths = [PathInfo("live/new/in", True, "rtmpConn", "n")]
    assert _repairs({"": paths}, [cam]) == {
        ("ready", "live/new/in", "n", ""),
        ("not-ready", "live/cam/in", "c", ""),
    }


class FakePaths:
    """The Control API's paths/list of one instance."""

    def __init__(self, paths: list[PathInfo], error: MediaMTXError | None = None) -> None:
        self.paths, self.error = paths, error

    async def list_paths(self) -> list[PathInfo]:
        if self.error is not None:
            raise self.error
        return self.paths


async def test_the_resync_lists_every_instance_and_one_away_blocks_no_other() -> None:
    api = MemoryAPI()
    for ls in (
        _ls("cam", {"available": True, "sourceId": "c", "instance": A}),
        _ls("show", {"available": True, "sourceId": "s", "instance": B}),
    ):
        await api.create_livestream("ns", ls)
        api.objects[ls.metadata.name]["status"] = ls.status.model_dump(
            by_alias=True, exclude_none=True
        )
    cache = {name: LiveStream.model_validate(body) for name, body in api.objects.items()}
    clients = Clients(
        {
            A: cast(MediaMTXClient, FakePaths([], MediaMTXError("connection refused"))),
            B: cast(MediaMTXClient, FakePaths([PathInfo("live/new/in", True, "rtmpConn", "n")])),
        }
    )
    resync = Resync(clients, ConditionalWriter(api, "ns", Settings()), cache, interval=5)
    assert await resync.once() == 2
    assert api.objects["cam"]["status"]["ingest"]["available"] is True  # A was away
    assert api.objects["show"]["status"]["ingest"]["available"] is False
    assert api.objects["new"]["status"]["ingest"]["instance"] == B
    clients[B].error = MediaMTXError("gone too")  # type: ignore[attr-defined]
    assert await resync.once() == 0
