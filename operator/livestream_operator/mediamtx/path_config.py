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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..api import naming
from ..api.v1alpha1 import LiveStream, RecordedPath, duration_seconds

# The fields MediaMTX reloads on a live path; every other one must match the template.
RECORD_FIELDS = ("record", "recordFormat", "recordSegmentDuration", "recordDeleteAfter")


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


def wanted(livestreams: Iterable[LiveStream], max_retention: str) -> dict[str, Recording]:
    """The recorded-path entries the LiveStreams ask for, by path name.

    Retention is capped by the chart's: mediamtx.yml's own recordDeleteAfter is
    the cap, and it is what MediaMTX applies to every file between a restart and
    the operator's next pass, so no stream may count on keeping files longer.
    """
    out: dict[str, Recording] = {}
    for ls in livestreams:
        spec = ls.spec.recording
        if spec is None or ls.metadata.deletion_timestamp:
            continue
        segment, retention = spec.effective(max_retention)
        for role in RecordedPath:
            out[naming.stream_path(ls.spec.stream_id, role)] = Recording(
                record=spec.enabled and role in spec.paths,
                format=spec.format.value,
                segment_duration=segment,
                retention=retention,
            )
    return out


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


def entry(template: Mapping[str, Any], recording: Recording) -> dict[str, Any]:
    """The body to add for a path: the template's fields, record* from the spec."""
    body = {k: v for k, v in template.items() if k != "name"}
    body.update(recording.fields())
    return body


class Verb(StrEnum):
    ADD = "add"
    PATCH = "patch"  # record* fields only: hot-reloaded
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


def _differs(current: Mapping[str, Any], body: Mapping[str, Any], fields: Iterable[str]) -> bool:
    for key in fields:
        a, b = current.get(key), body.get(key)
        if key in ("recordSegmentDuration", "recordDeleteAfter"):
            if not _same_duration(a, b):
                return True
        elif a != b:
            return True
    return False


def plan(want: Mapping[str, Recording], confs: Mapping[str, Mapping[str, Any]]) -> list[Change]:
    """The Control API calls that make MediaMTX's entries what `want` says.

    `confs` is MediaMTX's whole path configuration by name (config/paths/list).
    Paths in unmanaged() are left alone.
    """
    changes: list[Change] = []
    skip = set(unmanaged(want, confs))
    for name, recording in sorted(want.items()):
        template = template_for(name, confs)
        if template is None or name in skip:
            continue
        current = confs.get(name)
        if current is None:
            changes.append(Change(Verb.ADD, name, entry(template, recording)))
        elif _differs(current, recording.fields(), RECORD_FIELDS):
            changes.append(Change(Verb.PATCH, name, recording.fields()))
    for name in sorted(confs):
        if owned(name) and name not in want and _a_copy(name, confs):
            changes.append(Change(Verb.DELETE, name))
    return changes


def unmanaged(want: Mapping[str, Recording], confs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Wanted paths whose recording cannot be switched live: no entry to copy
    (adding one from nothing would close the path), or an entry of their own that
    is not a copy (an admin's, in mediamtx.yml: overwriting it would too)."""
    return [
        name
        for name in sorted(want)
        if template_for(name, confs) is None or (name in confs and not _a_copy(name, confs))
    ]


def _a_copy(name: str, confs: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the entry is one of ours: its template's copy but for record*. An
    entry an admin wrote into mediamtx.yml (a static source, say) is left alone."""
    template = template_for(name, confs)
    if template is None:
        return False
    others = [k for k in template if k != "name" and k not in RECORD_FIELDS]
    return not _differs(confs[name], template, others)
