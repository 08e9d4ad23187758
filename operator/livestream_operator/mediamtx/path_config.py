"""What MediaMTX's path configuration must hold for the LiveStreams' recording
(pure): the stateless-recording design, with MediaMTX's Control API as the
authority.

A recorded path gets an entry of its own, named like the path (live/<id>/in),
that copies the entry it would otherwise match (the `~^live/[^/]+/in$` regexp of
mediamtx.yml) and changes only the record* fields. MediaMTX moves a live path to
such an entry, or back, without closing it, because it can hot-reload exactly
those fields (v1.20 path_manager.go, pathConfCanBeUpdated); any other difference
would close the path and drop the publisher. So the entry is always a copy of
what MediaMTX itself serves for the regexp, never written from scratch.

The entry stays while its LiveStream has spec.recording (with record: false once
recording is turned off) so that its retention keeps applying to the files; it
goes with the LiveStream, after which the config's own recordDeleteAfter applies.

A LiveStream with spec.inputLoss.fill Slate gets an entry for live/<id>/out too
(merged with its recording fields, if any): `alwaysAvailable`, with the tracks
its worker publishes (H.264 and the AAC of OUTPUT_AUDIO), so that readers of out
(forwarders, viewers, recordings) stay connected, on MediaMTX's offline slate,
while no worker publishes: the publisher is gone or the worker Pod is replaced.
With spec.inputLoss.slate naming one of the chart's slates, the entry plays
its rendered file (alwaysAvailableFile, in the same tracks) instead; a change of
slate replaces the entry like a change of fill. MediaMTX refuses
alwaysAvailable on a regexp entry, hence one per stream. Its
path is available all the time then, so the template's runOnAvailable and
runOnUnavailable hooks move to runOnOnline and runOnOffline, which report the
worker's publish as before. These fields are not hot-reloadable: an entry that
gains or loses them is replaced, which closes the path once; it is added when
the LiveStream appears (before its worker publishes) and goes when the stream
ends (Idle, or deleted after its grace period), or earlier with
spec.inputLoss.fillSeconds: that long into a loss (api/fill.py), so that the
destinations' sessions end; a publisher back brings it back.

With several MediaMTX instances, out is published on the stream's own instance
(api/instances.home) and every other instance keeps a relay entry for it: the
documented on-demand proxy, `source: rtsp://<own instance>/live/<id>/out` with
`sourceOnDemand`, read with the operator's credentials, so that a viewer who
lands on any instance (the Services balance over all of them) plays any stream.
It costs nothing until a viewer reads it. Its hooks are blanked: the relay's
own availability is not the worker's publish. A stream that moves (its publisher
reconnected elsewhere) has its relay replaced, and the one on its new instance
deleted, in the same pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..api import naming
from ..api.fill import fill_ended
from ..api.pod_contract import OUTPUT_AUDIO
from ..api.slates import Slates, file_path
from ..api.v1alpha1 import InputLossFill, LiveStream, Phase, RecordedPath, duration_seconds

# The fields MediaMTX reloads on a live path; every other one must match the template.
RECORD_FIELDS = ("record", "recordFormat", "recordSegmentDuration", "recordDeleteAfter")
# The hooks of an out entry: the fill moves them from available/unavailable to
# online/offline, a relay blanks them.
_HOOK_MOVES = (("runOnAvailable", "runOnOnline"), ("runOnUnavailable", "runOnOffline"))
HOOK_FIELDS = tuple(field for move in _HOOK_MOVES for field in move)
# An always-available out entry's own fields (not hot-reloadable): the hooks too.
FILL_FIELDS = ("alwaysAvailable", "alwaysAvailableTracks", "alwaysAvailableFile", *HOOK_FIELDS)
# A relay entry's source (not hot-reloadable either); with record and the hooks,
# its own fields.
RELAY_SOURCE_FIELDS = ("source", "sourceOnDemand", "rtspTransport")
RELAY_FIELDS = (*RELAY_SOURCE_FIELDS, "record", *HOOK_FIELDS)


@dataclass(frozen=True)
class Recording:
    """The record* fields one path's entry must have."""

    record: bool
    format: str
    segment_duration: str
    retention: str

    def fields(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "recordFormat": self.format,
            "recordSegmentDuration": self.segment_duration,
            "recordDeleteAfter": self.retention,
        }


@dataclass(frozen=True)
class Fill:
    """An always-available out entry: the AAC its worker publishes (OUTPUT_AUDIO),
    and the rendered slate it plays (api/slates.py), or MediaMTX's own without one.

    A file and declared tracks exclude each other (MediaMTX refuses both); the file
    declares the same tracks, since it is rendered in the worker's audio format."""

    sample_rate: int
    channels: int
    file: str = ""

    def fields(self, template: Mapping[str, Any]) -> dict[str, Any]:
        tracks = [
            {"codec": "H264"},
            {"codec": "MPEG4Audio", "sampleRate": self.sample_rate, "channelCount": self.channels},
        ]
        body: dict[str, Any] = {
            "alwaysAvailable": True,
            "alwaysAvailableTracks": [] if self.file else tracks,
            "alwaysAvailableFile": self.file,
        }
        for available, online in _HOOK_MOVES:
            body[available] = ""
            body[online] = template.get(available) or template.get(online) or ""
        return body


@dataclass(frozen=True)
class Relay:
    """Another instance's out, read on demand: `source` is its RTSP URL with the
    operator's credentials (never logged: PathConfigSync._redacted)."""

    source: str

    def fields(self) -> dict[str, Any]:
        # TCP, as every component of the project reads RTSP (no UDP port to
        # reach between Pods); not recorded here: the stream's own instance is.
        return {
            "source": self.source,
            "sourceOnDemand": True,
            "rtspTransport": "tcp",
            "record": False,
            **dict.fromkeys(HOOK_FIELDS, ""),
        }


@dataclass(frozen=True)
class PathEntry:
    """What one stream path's own entry holds: recording fields, the fill, or both;
    or, on an instance the stream does not live on, a relay of its out."""

    recording: Recording | None = None
    fill: Fill | None = None
    relay: Relay | None = None


def wanted(
    livestreams: Iterable[LiveStream],
    max_retention: str,
    now: datetime,
    slates: Slates | None = None,
) -> dict[str, PathEntry]:
    """The path entries the LiveStreams ask for, by path name.

    Retention is capped by the chart's: mediamtx.yml's own recordDeleteAfter is
    the cap, and it is what MediaMTX applies to every file between a restart and
    the operator's next pass, so no stream may count on keeping files longer.
    `slates` are the chart's (LSO_SLATES), for the fill's file.
    """
    out: dict[str, PathEntry] = {}
    for ls in livestreams:
        if ls.metadata.deletion_timestamp:
            continue
        spec = ls.spec.recording
        if spec is not None:
            segment, retention = spec.effective(max_retention)
            for role in RecordedPath:
                out[naming.stream_path(ls.spec.stream_id, role)] = PathEntry(
                    Recording(
                        record=spec.enabled and role in spec.paths,
                        format=spec.format.value,
                        segment_duration=segment,
                        retention=retention,
                    )
                )
        fill = fill_for(ls, now, slates)
        if fill is not None:
            name = naming.output_path(ls.spec.stream_id)
            out[name] = PathEntry(out.get(name, PathEntry()).recording, fill)
    return out


def relayed(
    livestreams: Iterable[LiveStream],
    here: str,
    homes: Mapping[str, str],
    sources: Mapping[str, str],
) -> dict[str, PathEntry]:
    """The relay entries instance `here` keeps: one for the out of every stream that
    lives elsewhere. `homes` is each stream's instance (by stream id), `sources`
    each instance's RTSP base URL, with credentials."""
    out: dict[str, PathEntry] = {}
    for ls in livestreams:
        sid = ls.spec.stream_id
        home = homes.get(sid, here)
        if ls.metadata.deletion_timestamp or home == here or home not in sources:
            continue
        name = naming.output_path(sid)
        out[name] = PathEntry(relay=Relay(f"{sources[home].rstrip('/')}/{name}"))
    return out


def fill_for(livestream: LiveStream, now: datetime, slates: Slates | None = None) -> Fill | None:
    """The out entry's fill while the stream lives: from its creation (before its
    worker publishes, so adding the entry closes nothing) until its grace deadline
    passed (Idle; an Ephemeral one is deleted then), or until fillSeconds into a
    loss (api/fill.py); a publisher back brings it back."""
    spec = livestream.spec
    phase = livestream.status.phase
    if spec.input_loss.fill is not InputLossFill.SLATE or phase is Phase.IDLE:
        return None
    if fill_ended(livestream, now):
        return None
    rate, channels = OUTPUT_AUDIO[spec.worker.mode]
    return Fill(rate, channels, slate_file(livestream, slates))


def slate_file(livestream: LiveStream, slates: Slates | None) -> str:
    """The rendered slate the stream names, "" for MediaMTX's own (none named, or
    one the chart does not declare: the Slate condition says so)."""
    rate, channels = OUTPUT_AUDIO[livestream.spec.worker.mode]
    path = file_path(slates or {}, livestream.spec.input_loss.slate, rate, channels)
    return path or ""


def owned(name: str) -> bool:
    """Entries this module manages: plain (not regexp) names of stream paths."""
    if name.startswith("~"):
        return False
    try:
        naming.parse_path(name)
    except naming.PathError:
        return False
    return True


def template_for(path: str, confs: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The regexp entry MediaMTX would give `path` without an entry of its own:
    regexps in name order, all_others last, as conf.FindPathConf does."""
    regexps = sorted(
        (n for n in confs if n.startswith("~")),
        key=lambda n: (n in ("all", "all_others"), n),
    )
    for name in regexps:
        try:
            if re.search(name[1:], path):
                return confs[name]
        except re.error:
            continue  # a Go-only construct; not one of ours
    return confs.get("all_others") or confs.get("all")


def entry(template: Mapping[str, Any], want: PathEntry) -> dict[str, Any]:
    """The body to add for a path: the template's fields, then the entry's own."""
    body = {k: v for k, v in template.items() if k != "name"}
    return body | own_fields(template, want)


def own_fields(template: Mapping[str, Any], want: PathEntry) -> dict[str, Any]:
    """The fields an entry sets over its template's."""
    body: dict[str, Any] = {}
    if want.recording is not None:
        body.update(want.recording.fields())
    if want.fill is not None:
        body.update(want.fill.fields(template))
    if want.relay is not None:
        body.update(want.relay.fields())
    return body


class Verb(StrEnum):
    ADD = "add"
    PATCH = "patch"  # record* fields only: hot-reloaded
    REPLACE = "replace"  # the fill or relay gained, lost or changed: closes the path
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    verb: Verb
    name: str
    body: dict[str, Any] | None = None


def _same_duration(a: Any, b: Any) -> bool:
    # MediaMTX answers "1h0m0s" for a "1h" it was given.
    sa, sb = duration_seconds(str(a)), duration_seconds(str(b))
    return sa == sb if sa is not None and sb is not None else a == b


def _tracks(value: Any) -> list[tuple[Any, int, int]]:
    # MediaMTX answers every field of a track, zero where it does not apply.
    return [
        (t.get("codec"), t.get("sampleRate") or 0, t.get("channelCount") or 0)
        for t in (value or [])
        if isinstance(t, Mapping)
    ]


def _differs(current: Mapping[str, Any], body: Mapping[str, Any], fields: Iterable[str]) -> bool:
    for key in fields:
        a, b = current.get(key), body.get(key)
        if key == "alwaysAvailableTracks":
            if _tracks(a) != _tracks(b):
                return True
        elif key == "alwaysAvailableFile":
            if (a or "") != (b or ""):  # "" and absent: MediaMTX's built-in slate
                return True
        elif key in ("recordSegmentDuration", "recordDeleteAfter"):
            if not _same_duration(a, b):
                return True
        elif a != b:
            return True
    return False


def plan(want: Mapping[str, PathEntry], confs: Mapping[str, Mapping[str, Any]]) -> list[Change]:
    """The Control API calls that make MediaMTX's entries what `want` says.

    `confs` is MediaMTX's whole path configuration by name (config/paths/list).
    Paths in unmanaged() are left alone.
    """
    changes: list[Change] = []
    skip = set(unmanaged(want, confs))
    for name, path_entry in sorted(want.items()):
        template = template_for(name, confs)
        if template is None or name in skip:
            continue
        current = confs.get(name)
        if current is None:
            changes.append(Change(Verb.ADD, name, entry(template, path_entry)))
            continue
        special = path_entry.fill is not None or path_entry.relay is not None
        if (special or _filled(current) or _relay(name, current)) and _differs(
            current, {**template, **own_fields(template, path_entry)}, _REPLACED
        ):
            changes.append(Change(Verb.REPLACE, name, entry(template, path_entry)))
        elif path_entry.recording is not None and _differs(
            current, path_entry.recording.fields(), RECORD_FIELDS
        ):
            changes.append(Change(Verb.PATCH, name, path_entry.recording.fields()))
    for name in sorted(confs):
        if owned(name) and name not in want and _a_copy(name, confs):
            changes.append(Change(Verb.DELETE, name))
    return changes


def unmanaged(want: Mapping[str, PathEntry], confs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Wanted paths whose recording cannot be switched live: no entry to copy
    (adding one from nothing would close the path), or an entry of their own that
    is not a copy (an admin's, in mediamtx.yml: overwriting it would too)."""
    return [
        name
        for name in sorted(want)
        if template_for(name, confs) is None or (name in confs and not _a_copy(name, confs))
    ]


# What decides a replace: the fill's fields and the relay's (but record, patched).
_REPLACED = (*FILL_FIELDS, *RELAY_SOURCE_FIELDS)


def _filled(conf: Mapping[str, Any]) -> bool:
    return bool(conf.get("alwaysAvailable"))


def _relay(name: str, conf: Mapping[str, Any]) -> bool:
    """Whether an entry is a relay as Relay writes it: an on-demand RTSP source of
    the same path. An admin's static source for a stream path would rarely be
    that, and is left alone otherwise."""
    source = str(conf.get("source") or "")
    return (
        bool(conf.get("sourceOnDemand"))
        and source.startswith(("rtsp://", "rtsps://"))
        and source.endswith("/" + name)
    )


def _a_copy(name: str, confs: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the entry is one of ours: its template's copy but for record*, the
    fill and the relay. An entry an admin wrote into mediamtx.yml (a static
    source, say) is left alone."""
    template = template_for(name, confs)
    if template is None:
        return False
    conf = confs[name]
    ours = (
        *RECORD_FIELDS,
        *(FILL_FIELDS if _filled(conf) else ()),
        *(RELAY_FIELDS if _relay(name, conf) else ()),
    )
    others = [k for k in template if k != "name" and k not in ours]
    return not _differs(conf, template, others)
