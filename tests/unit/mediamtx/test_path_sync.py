"""The recording sync against a fake Control API: what it applies, when it asks
MediaMTX again, and what it does when MediaMTX refuses or is away."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from livestream_operator.api.ownership import FieldManager
from livestream_operator.api.v1alpha1 import (
    InputLossFill,
    InputLossSpec,
    LiveStream,
    LiveStreamStatus,
    Phase,
    RecordedPath,
)
from livestream_operator.ingest.conditional_writer import ConditionalWriter
from livestream_operator.mediamtx.control_api import (
    CircuitOpen,
    MediaMTXClient,
    MediaMTXError,
    Refused,
)
from livestream_operator.mediamtx.instances import Clients
from livestream_operator.mediamtx.path_sync import PathConfigSync
from livestream_operator.reconcile.cache import LiveStreamCache
from livestream_operator.settings import Settings
from tests.unit.ingest.test_receiver import MemoryAPI
from tests.unit.mediamtx.test_path_config import CONFS, livestream, recording

RECHECK = 30.0
# MediaMTX answers the durations it was given in its own form.
_NORMAL = {"10m": "10m0s", "24h": "1d"}


class FakeControlAPI:
    """config/paths/list and config/paths/{add,patch,replace,delete}, in memory."""

    def __init__(self, confs: dict[str, dict[str, Any]]) -> None:
        self.confs = copy.deepcopy(confs)
        self.lists = 0
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []
        self.list_error: MediaMTXError | None = None
        self.refuse: dict[str, MediaMTXError] = {}

    async def list_path_confs(self) -> dict[str, dict[str, Any]]:
        self.lists += 1
        if self.list_error is not None:
            raise self.list_error
        return copy.deepcopy(self.confs)

    async def change_path_conf(
        self, verb: str, name: str, body: dict[str, Any] | None = None
    ) -> None:
        self.calls.append((verb, name, copy.deepcopy(body)))
        if name in self.refuse:
            raise self.refuse[name]
        if verb == "delete":
            del self.confs[name]
            return
        assert body is not None
        fields = {k: _NORMAL.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
        if verb == "patch":
            self.confs[name].update(fields)
        else:  # add, replace
            assert (name in self.confs) is (verb == "replace")
            self.confs[name] = {"name": name, **fields}

    def restart(self) -> None:
        """A restarted MediaMTX has only mediamtx.yml's entries."""
        self.confs = copy.deepcopy(CONFS)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, clients: Clients | None = None) -> None:
        self.api = FakeControlAPI(CONFS)
        self.clock = Clock()
        # The operator's own wiring: the cache's index of the streams that may
        # want entries, and its version.
        self.streams = LiveStreamCache()
        self.sync = PathConfigSync(
            clients or cast(MediaMTXClient, self.api),
            self.streams.with_path_entries,
            recheck=RECHECK,
            clock=self.clock,
            version=self.streams.path_entries_version,
        )

    def put(self, ls: LiveStream) -> None:
        self.streams[ls.key] = ls

    def record(self, name: str) -> Any:
        return self.api.confs[name]["record"] if name in self.api.confs else None


@pytest.fixture
def h() -> Harness:
    return Harness()


async def test_the_first_pass_applies_the_plan(h: Harness) -> None:
    h.put(livestream("cam", recording()))
    assert await h.sync.once() == 2
    assert h.api.lists == 1
    assert [(verb, name) for verb, name, _ in h.api.calls] == [
        ("add", "live/cam/in"),
        ("add", "live/cam/out"),
    ]
    assert (h.record("live/cam/in"), h.record("live/cam/out")) == (True, False)
    # The rest of the entry is the template's.
    assert h.api.confs["live/cam/in"]["runOnAvailable"] == "mtx-hook ready"


async def test_nothing_wanted_and_nothing_there_changes_nothing(h: Harness) -> None:
    h.put(livestream("plain"))
    assert await h.sync.once() == 0
    assert h.api.calls == []


async def test_no_change_within_recheck_does_not_even_list(h: Harness) -> None:
    h.put(livestream("cam", recording()))
    await h.sync.once()
    h.clock.now += RECHECK - 1
    assert await h.sync.once() == 0
    assert h.api.lists == 1
    assert len(h.api.calls) == 2


async def test_a_spec_change_is_applied_at_the_next_pass_within_recheck(h: Harness) -> None:
    h.put(livestream("cam", recording()))
    await h.sync.once()
    h.clock.now += 1
    h.put(livestream("cam", recording(paths=(RecordedPath.IN, RecordedPath.OUT))))
    assert await h.sync.once() == 1
    assert h.api.calls[-1] == (
        "patch",
        "live/cam/out",
        {
            "record": True,
            "recordFormat": "fmp4",
            "recordSegmentDuration": "10m",
            "recordDeleteAfter": "24h",
        },
    )
    assert h.record("live/cam/out") is True


async def test_turning_recording_off_patches_and_removing_it_deletes(h: Harness) -> None:
    h.put(livestream("cam", recording()))
    await h.sync.once()
    h.put(livestream("cam", recording(enabled=False)))
    assert await h.sync.once() == 1
    assert (h.record("live/cam/in"), h.record("live/cam/out")) == (False, False)
    h.put(livestream("cam"))  # spec.recording removed
    assert await h.sync.once() == 2
    assert "live/cam/in" not in h.api.confs
    assert "live/cam/out" not in h.api.confs
    assert [verb for verb, _, _ in h.api.calls[-2:]] == ["delete", "delete"]


async def test_after_recheck_it_lists_again_and_re_adds_what_a_restart_lost(h: Harness) -> None:
    h.put(livestream("cam", recording()))
    await h.sync.once()
    h.api.restart()
    h.clock.now += RECHECK - 1
    assert await h.sync.once() == 0  # not yet: the sync does not know
    assert "live/cam/in" not in h.api.confs
    h.clock.now += 1
    assert await h.sync.once() == 2
    assert h.api.lists == 2
    assert (h.record("live/cam/in"), h.record("live/cam/out")) == (True, False)


async def test_after_recheck_an_unchanged_mediamtx_gets_no_calls(h: Harness) -> None:
    h.put(livestream("cam", recording()))
    await h.sync.once()
    calls = len(h.api.calls)
    h.clock.now += RECHECK
    assert await h.sync.once() == 0
    assert h.api.lists == 2
    assert len(h.api.calls) == calls  # "10m0s" and "1d" are what it was given


async def test_a_refusal_is_an_answer_asked_again_at_recheck_not_every_poll(h: Harness) -> None:
    h.put(livestream("cam", recording()))
    h.api.refuse["live/cam/in"] = Refused("add live/cam/in: HTTP 400 invalid")
    assert await h.sync.once() == 1  # out still went through
    h.clock.now += 0.25  # the next poll: MediaMTX is not asked again
    assert await h.sync.once() == 0
    assert h.api.lists == 1
    del h.api.refuse["live/cam/in"]
    h.clock.now += RECHECK
    assert await h.sync.once() == 1
    assert h.record("live/cam/in") is True


@pytest.mark.parametrize(
    "error",
    [
        MediaMTXError("add live/cam/in: ClientConnectorError"),
        CircuitOpen("MediaMTX Control API circuit is open"),
    ],
)
async def test_a_failed_change_is_retried_at_the_next_pass(
    h: Harness, error: MediaMTXError
) -> None:
    h.put(livestream("cam", recording()))
    h.api.refuse["live/cam/in"] = error
    assert await h.sync.once() == 1  # out still went through
    assert "live/cam/in" not in h.api.confs
    assert "live/cam/out" in h.api.confs
    del h.api.refuse["live/cam/in"]
    h.clock.now += 0.25  # the next poll, well within recheck
    assert await h.sync.once() == 1
    assert h.api.lists == 2
    assert h.record("live/cam/in") is True
    assert [(verb, name) for verb, name, _ in h.api.calls] == [
        ("add", "live/cam/in"),
        ("add", "live/cam/out"),
        ("add", "live/cam/in"),
    ]
    # Now done: the pass after lists nothing.
    assert await h.sync.once() == 0
    assert h.api.lists == 2


@pytest.mark.parametrize(
    "error", [MediaMTXError("GET /v3/config/paths/list: timeout"), CircuitOpen("open")]
)
async def test_an_unreachable_mediamtx_changes_nothing_and_is_asked_again(
    h: Harness, error: MediaMTXError
) -> None:
    h.put(livestream("cam", recording()))
    h.api.list_error = error
    assert await h.sync.once() == 0
    assert h.api.calls == []
    h.clock.now += 0.25
    assert await h.sync.once() == 0
    assert h.api.lists == 2  # not remembered as applied
    h.api.list_error = None
    assert await h.sync.once() == 2
    assert h.record("live/cam/in") is True


async def test_mediamtxs_answer_is_the_syncs_write_beside_the_segment_index() -> None:
    api = MemoryAPI()
    ls = livestream("cam", recording())
    await api.create_livestream("ns", ls)
    api.objects["cam"]["status"] = {"recording": {"paths": [{"path": "in", "segments": 3}]}}
    h = Harness()
    h.sync.update = ConditionalWriter(api, "ns", Settings()).update
    h.put(ls)
    await h.sync.once()
    assert api.applied == [(FieldManager.RECORDING_SYNC, {"recording": {"applied": True}})]
    assert api.objects["cam"]["status"]["recording"]["paths"][0]["segments"] == 3


async def test_a_fill_is_added_kept_and_removed_with_the_stream(h: Harness) -> None:
    h.put(livestream("cam", fill=InputLossFill.SLATE))
    assert await h.sync.once() == 1
    assert h.api.confs["live/cam/out"]["alwaysAvailable"] is True
    assert h.api.confs["live/cam/out"]["runOnOnline"] == "mtx-hook ready"
    # Applied and rechecked: MediaMTX's own answer is taken as the same entry.
    h.clock.now += RECHECK + 1
    assert await h.sync.once() == 0
    # The grace deadline passed: Idle, and out ends with it.
    h.clock.now += 1
    idle = livestream("cam", fill=InputLossFill.SLATE)
    h.put(idle.model_copy(update={"status": LiveStreamStatus(phase=Phase.IDLE)}))
    assert await h.sync.once() == 1
    assert h.api.calls[-1] == ("delete", "live/cam/out", None)


async def test_recording_turned_on_under_a_fill_is_a_patch(h: Harness) -> None:
    h.put(livestream("cam", fill=InputLossFill.SLATE))
    await h.sync.once()
    h.clock.now += 1
    spec = recording(paths=(RecordedPath.OUT,))
    h.put(livestream("cam", spec, fill=InputLossFill.SLATE))
    assert await h.sync.once() == 2  # in added, out's record* patched: out stays open
    assert [(verb, name) for verb, name, _ in h.api.calls[-2:]] == [
        ("add", "live/cam/in"),
        ("patch", "live/cam/out"),
    ]
    assert h.api.confs["live/cam/out"]["alwaysAvailable"] is True


async def test_the_default_fill_alone_gets_out_its_entry(h: Harness) -> None:
    """A stream with no recording and the default spec.inputLoss (a Slate fill)."""
    h.put(livestream("cam", fill=InputLossSpec().fill))
    assert await h.sync.once() == 1
    assert h.api.confs["live/cam/out"]["alwaysAvailable"] is True


async def test_a_change_outside_the_index_costs_no_pass(h: Harness) -> None:
    h.put(livestream("cam", fill=InputLossFill.SLATE))
    await h.sync.once()
    h.clock.now += 1
    lists, calls = h.api.lists, len(h.api.calls)
    h.put(livestream("plain"))  # fill None, no recording: nothing for MediaMTX
    assert await h.sync.once() == 0
    assert (h.api.lists, len(h.api.calls)) == (lists, calls)


# ------------------------------------------------------------ several instances

A, B = "lso-mediamtx-0", "lso-mediamtx-1"


def on(ls: LiveStream, instance: str) -> LiveStream:
    """The stream as its publisher's hooks on `instance` left it."""
    status = LiveStreamStatus.model_validate({"ingest": {"available": True, "instance": instance}})
    return ls.model_copy(update={"status": status})


class TwoInstances(Harness):
    def __init__(self) -> None:
        self.a, self.b = FakeControlAPI(CONFS), FakeControlAPI(CONFS)
        super().__init__(
            Clients({A: cast(MediaMTXClient, self.a), B: cast(MediaMTXClient, self.b)})
        )


async def test_a_streams_entries_go_to_the_instance_it_lives_on() -> None:
    t = TwoInstances()
    t.put(on(livestream("cam", recording()), B))
    t.put(livestream("idle", recording()))  # no publisher yet: the default instance
    assert await t.sync.once() == 4
    assert {name for _, name, _ in t.a.calls} == {"live/idle/in", "live/idle/out"}
    assert {name for _, name, _ in t.b.calls} == {"live/cam/in", "live/cam/out"}
    assert t.b.confs["live/cam/in"]["record"] is True


async def test_an_unreachable_instance_does_not_block_the_others() -> None:
    t = TwoInstances()
    t.a.list_error = MediaMTXError("connection refused")
    t.put(on(livestream("cam", recording()), A))
    t.put(on(livestream("show", recording()), B))
    assert await t.sync.once() == 2  # B's two entries
    assert "live/show/in" in t.b.confs
    t.clock.now += 0.25
    assert await t.sync.once() == 0  # B is applied; A is asked again, alone
    assert (t.a.lists, t.b.lists) == (2, 1)
    t.a.list_error = None
    assert await t.sync.once() == 2
    assert t.a.confs["live/cam/in"]["record"] is True


async def test_a_stream_that_moved_takes_its_entries_along() -> None:
    t = TwoInstances()
    t.put(on(livestream("cam", recording()), A))
    assert await t.sync.once() == 2
    t.put(on(livestream("cam", recording()), B))
    assert await t.sync.once() == 4
    assert "live/cam/in" not in t.a.confs
    assert t.b.confs["live/cam/in"]["record"] is True


async def test_a_deletion_is_confirmed_on_the_instance_the_api_server_says() -> None:
    t = TwoInstances()
    cam = on(livestream("cam", recording()), A)
    truth = [cam]

    async def confirm() -> list[LiveStream]:
        return truth

    t.sync.confirm = confirm
    t.put(cam)
    assert await t.sync.once() == 2
    del t.streams[cam.key]  # a cache that does not have it (yet)
    assert await t.sync.once() == 0
    assert "live/cam/in" in t.a.confs  # the API server says it lives on A
    truth[:] = [on(cam, B)]
    t.clock.now += RECHECK + 1
    assert await t.sync.once() == 2  # it lives on B now: A's entries go
    assert "live/cam/in" not in t.a.confs


# -------------------------------------------------------- relays of out

SOURCES = {
    A: "rtsp://lso-operator:s3cret%2F@a.pods:8554",
    B: "rtsp://lso-operator:s3cret%2F@b.pods:8554",
}


class Relayed(TwoInstances):
    """Two instances that relay each other's out, with the operator's cache as the
    operator builds it for several instances."""

    def __init__(self) -> None:
        super().__init__()
        self.streams = LiveStreamCache(relayed=True)
        self.sync.livestreams = self.streams.with_path_entries
        self.sync.version = self.streams.path_entries_version
        self.sync.relays = dict(SOURCES)


async def test_every_other_instance_relays_a_streams_out_and_only_it() -> None:
    t = Relayed()
    t.put(on(livestream("cam"), A))  # nothing of its own to record or fill
    assert await t.sync.once() == 1
    assert t.a.calls == []
    [(verb, name, body)] = t.b.calls
    assert (verb, name) == ("add", "live/cam/out")
    assert (body or {})["source"] == f"{SOURCES[A]}/live/cam/out"
    t.clock.now += RECHECK + 1
    assert await t.sync.once() == 0  # what MediaMTX lists is what was wanted


async def test_a_stream_that_moved_is_relayed_from_its_new_instance() -> None:
    t = Relayed()
    t.put(on(livestream("cam", recording()), A))
    assert await t.sync.once() == 3  # A: in and out recorded; B: the relay
    t.put(on(livestream("cam", recording()), B))
    assert await t.sync.once() == 4  # A: in goes, out becomes the relay; B: the reverse
    assert t.a.confs["live/cam/out"]["source"] == f"{SOURCES[B]}/live/cam/out"
    assert "live/cam/in" not in t.a.confs
    assert t.b.confs["live/cam/out"]["source"] == "publisher"
    assert t.b.confs["live/cam/in"]["record"] is True
    t.clock.now += RECHECK + 1
    assert await t.sync.once() == 0


async def test_a_deleted_stream_takes_its_relays_along() -> None:
    t = Relayed()
    cam = on(livestream("cam"), A)
    t.put(cam)
    await t.sync.once()
    del t.streams[cam.key]
    assert await t.sync.once() == 1
    assert "live/cam/out" not in t.b.confs


async def test_a_refusal_that_quotes_a_relays_source_logs_no_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = Relayed()
    t.b.refuse["live/cam/out"] = Refused(f"add live/cam/out: HTTP 400 bad source {SOURCES[A]}")
    t.put(on(livestream("cam"), A))
    assert await t.sync.once() == 0
    assert "refused a path change" in caplog.text
    assert "s3cret" not in caplog.text
