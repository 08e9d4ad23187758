"""What MediaMTX's path configuration must hold for the LiveStreams' recording:
the wanted entries, their templates, and the Control API calls that get there."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livestream_operator.api.slates import SLATES as SLATES_ADAPTER
from livestream_operator.api.slates import file_name
from livestream_operator.api.v1alpha1 import (
    Condition,
    ConditionType,
    InputLossFill,
    InputLossSpec,
    LiveStream,
    LiveStreamSpec,
    LiveStreamStatus,
    ObjectMeta,
    Phase,
    RecordedPath,
    RecordingSpec,
    WorkerSpec,
    duration_seconds,
    format_time,
)
from livestream_operator.mediamtx.path_config import (
    RECORD_FIELDS,
    Change,
    Fill,
    PathEntry,
    Recording,
    Relay,
    Verb,
    entry,
    owned,
    plan,
    relayed,
    template_for,
    unmanaged,
    wanted,
)

IN_REGEXP = "~^live/[^/]+/in$"
OUT_REGEXP = "~^live/[^/]+/out$"


def path_conf(name: str, **fields: Any) -> dict[str, Any]:
    """A config/paths/list item as MediaMTX answers it for the chart's regexps."""
    return {
        "name": name,
        "source": "publisher",
        "sourceOnDemand": False,
        "sourceOnDemandStartTimeout": "10s",
        "maxReaders": 0,
        "overridePublisher": True,
        "record": False,
        "recordPath": "/recordings/%path/%Y-%m-%d_%H-%M-%S-%f",
        "recordFormat": "fmp4",
        "recordPartDuration": "1s",
        "recordMaxPartSize": "50M",
        "recordSegmentDuration": "1h0m0s",
        "recordDeleteAfter": "1d",
        "runOnInit": "",
        "runOnDemand": "sleep 86400",
        "runOnDemandStartTimeout": "10s",
        "runOnReady": "",
        "runOnAvailable": "mtx-hook ready",
        "runOnUnavailable": "mtx-hook not-ready",
        "runOnRecordSegmentCreate": "",
        "runOnRecordSegmentComplete": "mtx-hook segment-complete",
        **fields,
    }


TEMPLATE = path_conf(IN_REGEXP)
OUT_TEMPLATE = path_conf(OUT_REGEXP, runOnDemand="")
ALL_OTHERS = path_conf("all_others", runOnAvailable="", runOnUnavailable="")
CONFS: dict[str, dict[str, Any]] = {
    c["name"]: c for c in (TEMPLATE, OUT_TEMPLATE, ALL_OTHERS, path_conf("other/thing"))
}


def livestream(
    stream_id: str = "cam",
    recording: RecordingSpec | None = None,
    *,
    deleting: bool = False,
    fill: InputLossFill = InputLossFill.NONE,
) -> LiveStream:
    return LiveStream(
        metadata=ObjectMeta(
            name=stream_id,
            namespace="ns",
            uid=f"uid-{stream_id}",
            deletion_timestamp="2026-12-01T16:00:00Z" if deleting else None,
        ),
        spec=LiveStreamSpec(
            stream_id=stream_id, recording=recording, input_loss=InputLossSpec(fill=fill)
        ),
    )


def recording(
    enabled: bool = True, paths: tuple[RecordedPath, ...] = (RecordedPath.IN,), **fields: Any
) -> RecordingSpec:
    return RecordingSpec.model_validate({"enabled": enabled, "paths": list(paths), **fields})


CAP = "8784h"
NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
ON = PathEntry(Recording(record=True, format="fmp4", segment_duration="10m", retention="24h"))
OFF = PathEntry(Recording(record=False, format="fmp4", segment_duration="10m", retention="24h"))


def stored(name: str, rec: PathEntry, template: dict[str, Any] = TEMPLATE) -> dict[str, Any]:
    """The entry MediaMTX lists after it was added with `rec`: durations normalised."""
    body = {"name": name, **entry(template, rec)}
    normal = {"10m": "10m0s", "1h": "1h0m0s", "24h": "1d", "72h": "3d"}
    for key in ("recordSegmentDuration", "recordDeleteAfter"):
        body[key] = normal.get(body[key], body[key])
    return body


# ------------------------------------------------------------------------ wanted


def test_a_livestream_without_spec_recording_wants_nothing() -> None:
    assert wanted([livestream()], CAP, NOW) == {}


def test_enabled_records_the_listed_paths_and_keeps_an_entry_for_the_other() -> None:
    assert wanted([livestream(recording=recording())], CAP, NOW) == {
        "live/cam/in": ON,
        "live/cam/out": OFF,
    }


def test_both_paths_and_the_spec_fields_are_carried() -> None:
    spec = recording(
        paths=(RecordedPath.OUT, RecordedPath.IN),
        format="mpegts",
        segmentDuration="90s",
        retention="72h",
    )
    want = PathEntry(
        Recording(record=True, format="mpegts", segment_duration="90s", retention="72h")
    )
    assert wanted([livestream(recording=spec)], CAP, NOW) == {
        "live/cam/in": want,
        "live/cam/out": want,
    }


def test_disabled_keeps_both_entries_with_record_false() -> None:
    # The entries stay so that their retention keeps applying to the files.
    spec = recording(enabled=False, paths=(RecordedPath.IN, RecordedPath.OUT))
    assert wanted([livestream(recording=spec)], CAP, NOW) == {
        "live/cam/in": OFF,
        "live/cam/out": OFF,
    }


def test_a_deleting_livestream_wants_nothing() -> None:
    assert wanted([livestream(recording=recording(), deleting=True)], CAP, NOW) == {}


def test_several_livestreams() -> None:
    streams = [
        livestream("a", recording(paths=(RecordedPath.OUT,))),
        livestream("b"),
        livestream("c", recording(), deleting=True),
        livestream("d", recording(enabled=False)),
    ]
    assert wanted(streams, CAP, NOW) == {
        "live/a/in": OFF,
        "live/a/out": ON,
        "live/d/in": OFF,
        "live/d/out": OFF,
    }


def test_recording_fields_are_the_control_api_names() -> None:
    assert ON.recording is not None
    assert ON.recording.fields() == {
        "record": True,
        "recordFormat": "fmp4",
        "recordSegmentDuration": "10m",
        "recordDeleteAfter": "24h",
    }
    assert tuple(ON.recording.fields()) == RECORD_FIELDS


# ------------------------------------------------------------------------- owned


@pytest.mark.parametrize(
    ("name", "mine"),
    [
        ("live/cam/in", True),
        ("live/cam/out", True),
        ("live/a.b_c~d-e/in", True),
        (IN_REGEXP, False),
        ("~^live/cam/in$", False),
        ("all_others", False),
        ("all", False),
        ("other/thing", False),
        ("live/cam", False),
        ("live/cam/in/extra", False),
        ("live/cam/sideways", False),
        ("other/cam/in", False),
        ("live/-cam/in", False),
        ("", False),
    ],
)
def test_owned_entries_are_plain_stream_paths(name: str, mine: bool) -> None:
    assert owned(name) is mine


# ------------------------------------------------------------------ template_for


def test_the_template_is_the_regexp_matching_the_path() -> None:
    assert template_for("live/cam/in", CONFS) is TEMPLATE
    assert template_for("live/cam/out", CONFS) is OUT_TEMPLATE


def test_regexps_are_tried_in_name_order_not_insertion_order() -> None:
    broad = path_conf("~^live/.+$")
    confs = {IN_REGEXP: TEMPLATE, "~^live/.+$": broad}
    # "~^live/.+$" sorts before "~^live/[^/]+/in$" ('.' < '['), so it wins for both.
    assert template_for("live/cam/in", confs) is broad
    assert template_for("live/cam/out", confs) is broad


def test_all_others_comes_last_and_all_after_it() -> None:
    confs = {"all_others": ALL_OTHERS, IN_REGEXP: TEMPLATE}
    assert template_for("live/cam/in", confs) is TEMPLATE
    assert template_for("live/cam/out", confs) is ALL_OTHERS
    only_all = path_conf("all")
    assert template_for("live/cam/out", {"all": only_all, IN_REGEXP: TEMPLATE}) is only_all
    both = {"all": only_all, "all_others": ALL_OTHERS}
    assert template_for("live/cam/out", both) is ALL_OTHERS


def test_exact_names_are_never_templates() -> None:
    mine = stored("live/cam/in", ON)
    assert template_for("live/cam/in", {"live/cam/in": mine, IN_REGEXP: TEMPLATE}) is TEMPLATE
    assert template_for("live/cam/in", {"live/cam/in": mine}) is None
    assert template_for("live/cam/in", {}) is None


def test_a_go_only_regexp_is_skipped() -> None:
    go_only = path_conf(r"~^live/\pL+/in$")  # \pL: Go's RE2 has it, Python's re does not
    confs = {go_only["name"]: go_only, "all_others": ALL_OTHERS}
    assert template_for("live/cam/in", confs) is ALL_OTHERS


# ------------------------------------------------------------------------- entry


def test_entry_copies_the_template_but_its_name_and_sets_the_record_fields() -> None:
    before = copy.deepcopy(TEMPLATE)
    body = entry(TEMPLATE, ON)
    assert "name" not in body
    assert body == {
        **{k: v for k, v in TEMPLATE.items() if k != "name"},
        "record": True,
        "recordFormat": "fmp4",
        "recordSegmentDuration": "10m",
        "recordDeleteAfter": "24h",
    }
    # The fields MediaMTX cannot reload on a live path are the template's.
    assert body["recordPath"] == TEMPLATE["recordPath"]
    assert body["runOnAvailable"] == "mtx-hook ready"
    assert body["runOnRecordSegmentComplete"] == "mtx-hook segment-complete"
    assert body["runOnDemand"] == "sleep 86400"
    assert before == TEMPLATE  # not changed in place


# ----------------------------------------------------------------------- _seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1h", 3600.0),
        ("1h0m0s", 3600.0),
        ("10m", 600.0),
        ("10m0s", 600.0),
        ("24h", 86400.0),
        ("1d", 86400.0),
        ("3d", 259200.0),
        ("1d1h0m0s", 90000.0),
        ("1h30m", 5400.0),
        ("90s", 90.0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("0s", 0.0),
    ],
)
def test_seconds_reads_what_mediamtx_answers(value: str, seconds: float) -> None:
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize("value", ["", "10", "h", "1x", "1h junk", " 1h", "None", "1h-5m"])
def test_seconds_refuses_what_is_not_a_duration(value: str) -> None:
    assert duration_seconds(value) is None


# -------------------------------------------------------------------------- plan


def test_absent_entries_are_added_from_the_template() -> None:
    changes = plan({"live/cam/in": ON, "live/cam/out": OFF}, CONFS)
    assert changes == [
        Change(Verb.ADD, "live/cam/in", entry(TEMPLATE, ON)),
        Change(Verb.ADD, "live/cam/out", entry(OUT_TEMPLATE, OFF)),
    ]


def test_entries_as_mediamtx_lists_them_need_nothing() -> None:
    # It answers "10m0s" for the "10m" it was given, and "1d" for "24h".
    confs = {
        **CONFS,
        "live/cam/in": stored("live/cam/in", ON),
        "live/cam/out": stored("live/cam/out", OFF, OUT_TEMPLATE),
    }
    assert confs["live/cam/in"]["recordSegmentDuration"] == "10m0s"
    assert confs["live/cam/in"]["recordDeleteAfter"] == "1d"
    assert plan({"live/cam/in": ON, "live/cam/out": OFF}, confs) == []


def test_the_same_durations_unnormalised_need_nothing_either() -> None:
    confs = {**CONFS, "live/cam/in": {"name": "live/cam/in", **entry(TEMPLATE, ON)}}
    assert plan({"live/cam/in": ON}, confs) == []


@pytest.mark.parametrize(
    ("now", "want"),
    [
        (ON, OFF),  # recording turned off
        (OFF, ON),  # and on
        (ON, PathEntry(Recording(True, "mpegts", "10m", "24h"))),
        (ON, PathEntry(Recording(True, "fmp4", "20m", "24h"))),
        (ON, PathEntry(Recording(True, "fmp4", "10m", "72h"))),
    ],
)
def test_a_record_field_change_is_a_patch_of_those_fields_only(
    now: PathEntry, want: PathEntry
) -> None:
    confs = {**CONFS, "live/cam/in": stored("live/cam/in", now)}
    assert want.recording is not None
    assert plan({"live/cam/in": want}, confs) == [
        Change(Verb.PATCH, "live/cam/in", want.recording.fields())
    ]


def test_an_entry_that_is_no_longer_a_copy_is_left_alone_and_reported() -> None:
    # The regexp's hook changed under the entry (or an admin wrote it): overwriting
    # it would close the path, so it is not touched, and unmanaged() says so.
    old = stored("live/cam/in", ON)
    new_template = path_conf(IN_REGEXP, runOnAvailable="mtx-hook ready --v2")
    confs = {**CONFS, IN_REGEXP: new_template, "live/cam/in": old}
    assert plan({"live/cam/in": OFF}, confs) == []
    assert unmanaged({"live/cam/in": OFF}, confs) == ["live/cam/in"]


def test_a_path_without_a_template_is_unmanaged() -> None:
    assert unmanaged({"live/cam/in": ON}, {}) == ["live/cam/in"]
    assert unmanaged({"live/cam/in": ON}, CONFS) == []


def test_retention_is_capped_by_the_operator() -> None:
    spec = recording(retention="720h", segmentDuration="1h")
    capped = wanted([livestream(recording=spec)], "168h", NOW)["live/cam/in"].recording
    assert capped is not None
    assert capped.retention == "168h"
    kept = wanted([livestream(recording=recording(retention="1h"))], "168h", NOW)["live/cam/in"]
    assert kept.recording is not None
    assert kept.recording.retention == "1h"


def test_owned_entries_no_longer_wanted_are_deleted() -> None:
    confs = {
        **CONFS,
        "live/gone/in": stored("live/gone/in", ON),
        "live/gone/out": stored("live/gone/out", OFF, OUT_TEMPLATE),
        "live/cam/in": stored("live/cam/in", ON),
    }
    assert plan({"live/cam/in": ON}, confs) == [
        Change(Verb.DELETE, "live/gone/in"),
        Change(Verb.DELETE, "live/gone/out"),
    ]


def test_regexp_and_non_stream_entries_are_never_deleted() -> None:
    confs = {
        **CONFS,
        "~^live/cam/in$": path_conf("~^live/cam/in$"),
        "all": path_conf("all"),
        "live/cam": path_conf("live/cam"),
        "live/cam/in/extra": path_conf("live/cam/in/extra"),
        "cam": path_conf("cam"),
    }
    assert plan({}, confs) == []


def test_a_path_without_a_template_is_left_alone() -> None:
    # Adding an entry from nothing would close the path; an existing one is kept.
    confs = {OUT_REGEXP: OUT_TEMPLATE, "live/cam/in": path_conf("live/cam/in", record=True)}
    assert plan({"live/cam/in": OFF, "live/cam/out": ON}, confs) == [
        Change(Verb.ADD, "live/cam/out", entry(OUT_TEMPLATE, ON))
    ]


def test_changes_come_in_name_order_adds_before_deletes() -> None:
    confs = {**CONFS, "live/a/in": stored("live/a/in", ON)}
    want = {"live/z/in": ON, "live/b/in": ON}
    assert [(c.verb, c.name) for c in plan(want, confs)] == [
        (Verb.ADD, "live/b/in"),
        (Verb.ADD, "live/z/in"),
        (Verb.DELETE, "live/a/in"),
    ]


def test_plan_from_livestreams_end_to_end() -> None:
    streams = [livestream("cam", recording()), livestream("plain")]
    first = plan(wanted(streams, CAP, NOW), CONFS)
    assert [(c.verb, c.name, (c.body or {}).get("record")) for c in first] == [
        (Verb.ADD, "live/cam/in", True),
        (Verb.ADD, "live/cam/out", False),
    ]


def test_an_entry_an_admin_wrote_is_never_deleted() -> None:
    # A static source for live/lobby/in: not a copy of the template, so not ours.
    admin = {**path_conf("live/lobby/in"), "source": "rtsp://camera.local/stream"}
    confs = {IN_REGEXP: TEMPLATE, "live/lobby/in": admin}
    assert plan({}, confs) == []
    ours = stored("live/cam/in", OFF)
    assert plan({}, {**confs, "live/cam/in": ours}) == [Change(Verb.DELETE, "live/cam/in")]


# ------------------------------------------------------------------ input-loss fill

SLATE = InputLossFill.SLATE
FILL = Fill(sample_rate=44100, channels=2)


def with_phase(ls: LiveStream, phase: Phase | None) -> LiveStream:
    return ls.model_copy(update={"status": LiveStreamStatus(phase=phase)})


def filled(stream_id: str = "cam", **kwargs: Any) -> LiveStream:
    return livestream(stream_id, fill=SLATE, **kwargs)


def test_a_slate_fill_wants_an_always_available_out_entry_with_the_workers_tracks() -> None:
    assert wanted([filled()], CAP, NOW) == {"live/cam/out": PathEntry(fill=FILL)}
    body = entry(OUT_TEMPLATE, PathEntry(fill=FILL))
    assert body["alwaysAvailable"] is True
    assert body["alwaysAvailableTracks"] == [
        {"codec": "H264"},
        {"codec": "MPEG4Audio", "sampleRate": 44100, "channelCount": 2},
    ]
    # out is available all the time now: the hooks report the worker's publish.
    assert (body["runOnAvailable"], body["runOnUnavailable"]) == ("", "")
    assert (body["runOnOnline"], body["runOnOffline"]) == ("mtx-hook ready", "mtx-hook not-ready")
    assert body["runOnDemand"] == ""  # refused beside alwaysAvailable; out's template has none


@pytest.mark.parametrize(
    ("mode", "tracks"), [("bypass", (44100, 2)), ("tone", (44100, 2)), ("process", (48000, 2))]
)
def test_the_declared_audio_is_what_the_mode_publishes(mode: str, tracks: tuple[int, int]) -> None:
    ls = filled()
    processing = {"backend": {"url": "ws://b:1/v1/audio"}} if mode == "process" else None
    spec = ls.spec.model_copy(
        update={"worker": WorkerSpec.model_validate({"mode": mode, "processing": processing})}
    )
    ls = ls.model_copy(update={"spec": spec})
    assert wanted([ls], CAP, NOW)["live/cam/out"].fill == Fill(*tracks)


def test_the_fill_merges_with_out_recording() -> None:
    spec = recording(paths=(RecordedPath.OUT,))
    want = wanted([filled(recording=spec)], CAP, NOW)
    assert want["live/cam/out"] == PathEntry(ON.recording, FILL)
    assert want["live/cam/in"] == OFF
    body = entry(OUT_TEMPLATE, want["live/cam/out"])
    assert body["record"] is True
    assert body["alwaysAvailable"] is True


@pytest.mark.parametrize(("phase", "deleting"), [(Phase.IDLE, False), (Phase.LIVE, True)])
def test_the_fill_ends_with_the_stream(phase: Phase, deleting: bool) -> None:
    # Idle: the grace deadline passed (a Persistent stream); deleting: an Ephemeral one.
    ls = with_phase(filled(deleting=deleting), phase)
    assert wanted([ls], CAP, NOW) == {}


@pytest.mark.parametrize("phase", [None, Phase.CONNECTING, Phase.LIVE, Phase.RECONNECTING])
def test_the_fill_lasts_from_the_first_publish_to_the_grace_deadline(phase: Phase | None) -> None:
    ls = with_phase(filled(), phase)
    assert "live/cam/out" in wanted([ls], CAP, NOW)


def lost(ls: LiveStream, since: datetime | None, fill_seconds: int | None) -> LiveStream:
    """`ls` with spec.inputLoss.fillSeconds, and the publisher gone since `since`
    as the operator's InputLoss condition says (None: no loss)."""
    spec = ls.spec.model_copy(
        update={"input_loss": InputLossSpec(fill=SLATE, fill_seconds=fill_seconds)}
    )
    loss = Condition(
        type=ConditionType.INPUT_LOSS,
        status="True" if since else "False",
        reason="PublisherGone" if since else "Publishing",
        last_transition_time=format_time(since or NOW - timedelta(hours=1)),
    )
    status = LiveStreamStatus(phase=Phase.RECONNECTING if since else Phase.LIVE, conditions=[loss])
    return ls.model_copy(update={"spec": spec, "status": status})


@pytest.mark.parametrize(
    ("gone_for", "fill_seconds", "kept"),
    [
        (59, 60, True),  # within fillSeconds
        (60, 60, False),  # at the deadline: out's entry goes, the sessions end
        (3600, None, True),  # no limit: until the grace deadline (the phase says)
        (None, 60, True),  # no loss (a worker replaced, the publisher there)
    ],
)
def test_fill_seconds_ends_the_fill_that_long_into_a_loss(
    gone_for: int | None, fill_seconds: int | None, kept: bool
) -> None:
    since = None if gone_for is None else NOW - timedelta(seconds=gone_for)
    ls = lost(filled(), since, fill_seconds)
    assert ("live/cam/out" in wanted([ls], CAP, NOW)) is kept


def test_an_ended_fill_leaves_out_recording_alone() -> None:
    spec = recording(paths=(RecordedPath.OUT,))
    ls = lost(filled(recording=spec), NOW - timedelta(seconds=61), 60)
    assert wanted([ls], CAP, NOW)["live/cam/out"] == PathEntry(ON.recording)


def listed_fill(template: dict[str, Any], want: PathEntry) -> dict[str, Any]:
    """The entry as MediaMTX lists it: every track field, zero where unused."""
    body = {"name": "live/cam/out", **entry(template, want)}
    body["alwaysAvailableTracks"] = [
        {"codec": t["codec"], "sampleRate": 0, "channelCount": 0, "muLaw": False, **t}
        for t in body["alwaysAvailableTracks"]
    ]
    return body


def test_an_applied_fill_needs_nothing() -> None:
    confs = {**CONFS, "live/cam/out": listed_fill(OUT_TEMPLATE, PathEntry(fill=FILL))}
    assert plan({"live/cam/out": PathEntry(fill=FILL)}, confs) == []


def test_gaining_or_changing_the_fill_replaces_the_entry() -> None:
    # Not hot-reloadable: MediaMTX closes the path, once.
    confs = {**CONFS, "live/cam/out": stored("live/cam/out", OFF, OUT_TEMPLATE)}
    want = PathEntry(OFF.recording, FILL)
    assert plan({"live/cam/out": want}, confs) == [
        Change(Verb.REPLACE, "live/cam/out", entry(OUT_TEMPLATE, want))
    ]
    other = PathEntry(fill=Fill(48000, 2))
    confs = {**CONFS, "live/cam/out": listed_fill(OUT_TEMPLATE, PathEntry(fill=FILL))}
    assert plan({"live/cam/out": other}, confs) == [
        Change(Verb.REPLACE, "live/cam/out", entry(OUT_TEMPLATE, other))
    ]


def test_losing_the_fill_replaces_or_deletes_the_entry() -> None:
    confs = {**CONFS, "live/cam/out": listed_fill(OUT_TEMPLATE, PathEntry(OFF.recording, FILL))}
    assert plan({"live/cam/out": OFF}, confs) == [
        Change(Verb.REPLACE, "live/cam/out", entry(OUT_TEMPLATE, OFF))
    ]
    assert plan({}, confs) == [Change(Verb.DELETE, "live/cam/out")]


@pytest.mark.parametrize("fill", list(InputLossFill))
@pytest.mark.parametrize("spec", [None, recording(), recording(enabled=False)])
def test_only_streams_the_cache_indexes_get_entries(
    fill: InputLossFill, spec: RecordingSpec | None
) -> None:
    """The path sync reads only the LiveStreams whose spec wants_path_entries()."""
    stream = livestream("cam", spec, fill=fill)
    assert bool(wanted([stream], CAP, NOW)) == stream.spec.wants_path_entries()


# ------------------------------------------------------------------ named slates

SLATES = SLATES_ADAPTER.validate_python(
    {"black": {"colour": "#000000"}, "bars": {"colour": "#3366cc", "audio": "tone"}}
)


def slated(slate: str | None, stream_id: str = "cam") -> LiveStream:
    ls = filled(stream_id)
    spec = ls.spec.model_copy(update={"input_loss": InputLossSpec(fill=SLATE, slate=slate)})
    return ls.model_copy(update={"spec": spec})


def test_a_declared_slate_plays_its_rendered_file_in_the_workers_format() -> None:
    fill = wanted([slated("bars")], CAP, NOW, slates=SLATES)["live/cam/out"].fill
    name = file_name("bars", SLATES["bars"], 44100, 2)
    assert fill == Fill(44100, 2, f"/slates/{name}")
    body = entry(OUT_TEMPLATE, PathEntry(fill=fill))
    # MediaMTX refuses a file beside declared tracks: the file declares them.
    assert body["alwaysAvailableFile"] == f"/slates/{name}"
    assert body["alwaysAvailableTracks"] == []
    assert body["alwaysAvailable"] is True
    assert (body["runOnOnline"], body["runOnOffline"]) == ("mtx-hook ready", "mtx-hook not-ready")


@pytest.mark.parametrize("slate", [None, "", "nope"])
def test_no_slate_or_an_undeclared_one_is_the_built_in_slate_as_before(slate: str | None) -> None:
    assert wanted([slated(slate)], CAP, NOW, slates=SLATES)["live/cam/out"].fill == FILL
    body = entry(OUT_TEMPLATE, PathEntry(fill=FILL))
    assert body["alwaysAvailableFile"] == ""
    assert len(body["alwaysAvailableTracks"]) == 2


def test_without_the_charts_slates_a_named_one_is_the_built_in_slate() -> None:
    assert wanted([slated("bars")], CAP, NOW)["live/cam/out"].fill == FILL


def test_a_change_of_slate_replaces_the_entry() -> None:
    bars = PathEntry(fill=Fill(44100, 2, "/slates/bars.mp4"))
    black = PathEntry(fill=Fill(44100, 2, "/slates/black.mp4"))
    for before, after in (
        (PathEntry(fill=FILL), bars),
        (bars, black),
        (bars, PathEntry(fill=FILL)),
    ):
        confs = {**CONFS, "live/cam/out": listed_fill(OUT_TEMPLATE, before)}
        assert plan({"live/cam/out": after}, confs) == [
            Change(Verb.REPLACE, "live/cam/out", entry(OUT_TEMPLATE, after))
        ]
        confs = {**CONFS, "live/cam/out": listed_fill(OUT_TEMPLATE, after)}
        assert plan({"live/cam/out": after}, confs) == []


def test_an_entry_listed_without_the_file_field_is_the_built_in_slate() -> None:
    # An answer without alwaysAvailableFile is not a difference to fix every pass.
    listed = listed_fill(OUT_TEMPLATE, PathEntry(fill=FILL))
    del listed["alwaysAvailableFile"]
    assert plan({"live/cam/out": PathEntry(fill=FILL)}, {**CONFS, "live/cam/out": listed}) == []


# ------------------------------------------------------------------- relays

SOURCES = {"a": "rtsp://lso-operator:pw@a.pods:8554", "b": "rtsp://lso-operator:pw@b.pods:8554/"}


def test_an_instance_relays_the_out_of_every_stream_living_elsewhere() -> None:
    streams = [livestream("cam"), livestream("show"), livestream("gone", deleting=True)]
    homes = {"cam": "a", "show": "b", "gone": "a"}
    assert relayed(streams, "b", homes, SOURCES) == {
        "live/cam/out": PathEntry(relay=Relay("rtsp://lso-operator:pw@a.pods:8554/live/cam/out"))
    }
    assert list(relayed(streams, "a", homes, SOURCES)) == ["live/show/out"]
    # An instance not among the sources (not configured any more) is relayed from nowhere.
    assert relayed(streams, "b", {"cam": "c"}, SOURCES) == {}


def test_a_relay_is_an_on_demand_rtsp_source_over_tcp_without_hooks_or_recording() -> None:
    relay = PathEntry(relay=Relay("rtsp://lso-operator:pw@a.pods:8554/live/cam/out"))
    template = path_conf(OUT_REGEXP, record=True)  # an admin records every out
    [change] = plan({"live/cam/out": relay}, {**CONFS, OUT_REGEXP: template})
    assert (change.verb, change.name) == (Verb.ADD, "live/cam/out")
    body = change.body or {}
    assert body["source"] == "rtsp://lso-operator:pw@a.pods:8554/live/cam/out"
    assert (body["sourceOnDemand"], body["rtspTransport"], body["record"]) == (True, "tcp", False)
    assert (body["runOnAvailable"], body["runOnUnavailable"]) == ("", "")
    assert body["overridePublisher"] is True  # the rest is the template's


def test_a_relay_in_place_stays_a_moved_one_is_replaced_an_unwanted_one_goes() -> None:
    relay = PathEntry(relay=Relay("rtsp://lso-operator:pw@a.pods:8554/live/cam/out"))
    confs = {**CONFS, "live/cam/out": {"name": "live/cam/out", **entry(OUT_TEMPLATE, relay)}}
    assert plan({"live/cam/out": relay}, confs) == []
    moved = PathEntry(relay=Relay("rtsp://lso-operator:pw@b.pods:8554/live/cam/out"))
    assert [c.verb for c in plan({"live/cam/out": moved}, confs)] == [Verb.REPLACE]
    # The stream now lives here, with the fill: the relay becomes the fill's entry.
    filled = PathEntry(fill=Fill(48000, 2))
    [change] = plan({"live/cam/out": filled}, confs)
    assert change.verb is Verb.REPLACE
    assert (change.body or {})["source"] == "publisher"
    assert (change.body or {})["alwaysAvailable"] is True
    assert plan({}, confs) == [Change(Verb.DELETE, "live/cam/out")]


def test_an_admins_static_source_for_a_stream_path_is_left_alone() -> None:
    camera = path_conf("live/lobby/out", source="rtsp://camera.lan/stream", sourceOnDemand=True)
    assert plan({}, {**CONFS, "live/lobby/out": camera}) == []
