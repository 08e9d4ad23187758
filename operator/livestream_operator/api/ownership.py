"""Who writes which status field: one server-side apply field manager per writer.

Several writers share a LiveStream's status: the operator, the hook receiver
(hooks, the early signal and, in the operator's process, the resync), the
segment index, the recording sync, snapshots. Each applies its own fields with
its own field manager (``application/apply-patch+yaml``), so the API server
keeps what belongs to whom (``kubectl get livestream <name> -o yaml
--show-managed-fields``): an apply that would change another manager's field is
refused with 409 instead of nulling it, and an apply removes the fields its
manager owned and left out. Hence managers per role, not per process, and each
apply carries every field its manager owns, derived from what it read.

The table below is the one place that says who owns what.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from .v1alpha1 import API_VERSION, KIND, LiveStreamStatus, ManagedFieldsEntry, camel


class FieldManager(StrEnum):
    OPERATOR = "livestream-operator"  # reconcile: phase, Pods' state, conditions
    INGEST = "livestream-ingest"  # hooks, the early signal, the resync: one set of rules
    RECORDING_INDEX = "livestream-recording-index"  # the receiver's segment hooks
    RECORDING_SYNC = "livestream-recording-sync"  # MediaMTX's answer to the path entries
    SNAPSHOTS = "livestream-snapshots"  # the users' snapshot endpoint


# LiveStreamStatus fields by their Python names; "recording.paths" is a field of a
# struct that two managers share (each owns its own fields of it).
OWNED: Mapping[FieldManager, tuple[str, ...]] = {
    FieldManager.OPERATOR: (
        "phase",
        "message",
        "observed_generation",
        "grace_deadline",
        "worker",
        "forwarder",
        "processing",
        "playback",
        "failover",
        "conditions",
        "input.frame_rate",  # from the worker's InputReport
        "input.keyframe_interval",
    ),
    FieldManager.INGEST: (
        "ingest",
        "backup",
        "output",
        "input.source_id",
        "input.since",
        "input.video",
        "input.audio",
        "input.bitrate_kbps",
        "input.bitrate_time",
    ),
    FieldManager.RECORDING_INDEX: ("recording.paths", "recording.free_bytes"),
    FieldManager.RECORDING_SYNC: ("recording.applied", "recording.message"),
    FieldManager.SNAPSHOTS: ("snapshot",),
}

# Earlier releases merge-patched status (operation Update, manager OpenAPI-Generator,
# the client library's user agent); their entries are moved to the managers above.
STATUS = "status"
_UPDATE, _APPLY = "Update", "Apply"


class NotOwned(ValueError):
    """A writer changed a field that is not its manager's (a bug, refused here as
    the API server would refuse it)."""


def _tree(manager: FieldManager) -> dict[str, Any]:
    """The manager's fields as a pydantic include: {"phase": True, "recording": {"paths": True}}."""
    tree: dict[str, Any] = {}
    for path in OWNED[manager]:
        head, _, sub = path.partition(".")
        if sub:
            tree.setdefault(head, {})[sub] = True
        else:
            tree[head] = True
    return tree


def owned_part(status: LiveStreamStatus, manager: FieldManager) -> dict[str, Any]:
    """The manager's fields of `status` as they go on the wire and are stored: the
    `status` of its apply, compared with what is stored to tell whether a write is due."""
    tree = _tree(manager)
    dumped = status.model_dump(by_alias=True, exclude_none=True, mode="json", include=tree)
    # A shared struct with none of this manager's fields is not this manager's to send.
    shared = {camel(name) for name, sub in tree.items() if sub is not True}
    return {k: v for k, v in dumped.items() if not (k in shared and v == {})}


def apply_body(
    name: str, manager: FieldManager, status: LiveStreamStatus, resource_version: str | None
) -> dict[str, Any]:
    """The apply configuration of the manager's fields; with `resource_version`, the
    API server refuses it (409) unless the object is still the one read."""
    metadata: dict[str, Any] = {"name": name}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "status": owned_part(status, manager),
    }


def _merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 on dicts: None removes, dicts merge, anything else replaces."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def changed(
    current: LiveStreamStatus, change: LiveStreamStatus, manager: FieldManager
) -> LiveStreamStatus:
    """`current` with the fields set on `change` (nested ones too; None clears one),
    the status a writer's decision makes of what it read. Raises NotOwned when the
    change touches a field that is not the manager's."""
    touched = change.model_dump(exclude_unset=True)
    tree = _tree(manager)
    for name, value in touched.items():
        owned = tree.get(name)
        if owned is True:
            continue
        subs = set(value) if isinstance(value, dict) else {"."}
        if owned is None or not subs <= set(owned):
            raise NotOwned(f"status.{camel(name)} is not written by {manager.value}")
    return LiveStreamStatus.model_validate(_merge(current.model_dump(exclude_none=True), touched))


def stored_after(
    stored: LiveStreamStatus, manager: FieldManager, applied: LiveStreamStatus
) -> LiveStreamStatus:
    """What the API server stores when `manager` applies `applied` onto `stored`:
    the other managers' fields as they were, the manager's as applied."""
    tree = _tree(manager)
    rest = stored.model_dump(exclude_none=True)
    for name, sub in tree.items():
        if sub is True:
            rest.pop(name, None)
        elif isinstance(rest.get(name), dict):
            rest[name] = {k: v for k, v in rest[name].items() if k not in sub}
    merged = _merge(rest, applied.model_dump(exclude_none=True, include=tree))
    shared = {name for name, sub in tree.items() if sub is not True}
    return LiveStreamStatus.model_validate(
        {k: v for k, v in merged.items() if not (k in shared and v == {})}
    )


# --------------------------------------------------- fields of earlier writers


def _owner(alias: str, sub: str | None) -> FieldManager | None:
    """The manager of status.<alias> (sub None) or of status.<alias>.<sub>."""
    for manager, paths in OWNED.items():
        for path in paths:
            head, _, rest = path.partition(".")
            if camel(head) == alias and (camel(rest) if rest else None) == sub:
                return manager
    return None


def _shared(alias: str) -> bool:
    return any(camel(p.partition(".")[0]) == alias for ps in OWNED.values() for p in ps if "." in p)


def _union(a: dict[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = _union(out.get(key) or {}, value) if isinstance(value, Mapping) else value
    return out


def _split(fields: Mapping[str, Any]) -> tuple[dict[FieldManager, dict[str, Any]], dict[str, Any]]:
    """An earlier writer's status fields (a fieldsV1 tree) by the manager that owns
    them now, and the rest (fields no manager owns)."""
    by_manager: dict[FieldManager, dict[str, Any]] = {}
    rest: dict[str, Any] = {}
    for key, sub in fields.items():
        alias = key.removeprefix("f:")
        whole = _owner(alias, None)
        if whole is not None:
            by_manager.setdefault(whole, {})[key] = sub
            continue
        if not _shared(alias):
            if key != ".":
                rest[key] = sub
            continue
        for inner, leaf in sub.items():
            owner = _owner(alias, inner.removeprefix("f:")) if inner != "." else None
            if owner is not None:
                part = by_manager.setdefault(owner, {}).setdefault(key, {".": {}})
                part[inner] = leaf
            elif inner != ".":
                rest.setdefault(key, {})[inner] = leaf
    return by_manager, rest


def upgraded_managed_fields(
    entries: list[ManagedFieldsEntry],
) -> list[ManagedFieldsEntry] | None:
    """managedFields with the status fields of earlier merge-patch writers (Update
    entries) moved to the managers that own them now, as if those had applied them,
    so that their next apply neither conflicts with them nor leaves behind a field
    it no longer sets. None when there is nothing to move (fields no manager owns
    stay with their writer). (client-go's csaupgrade does the same for one manager.)"""
    legacy = [e for e in entries if e.subresource == STATUS and e.operation == _UPDATE]
    if not legacy:
        return None
    moved: dict[FieldManager, dict[str, Any]] = {}
    kept: list[ManagedFieldsEntry] = []
    for entry in legacy:
        by_manager, rest = _split(entry.fields_v1.get("f:status") or {})
        for manager, fields in by_manager.items():
            moved[manager] = _union(moved.get(manager, {}), fields)
        if rest:
            kept.append(entry.model_copy(update={"fields_v1": {"f:status": rest}}))
    if not moved:
        return None
    out = [e for e in entries if e not in legacy]
    template = legacy[0]
    for manager, fields in moved.items():
        tree = {"f:status": {".": {}, **fields}}
        at = next(
            (
                i
                for i, e in enumerate(out)
                if e.manager == manager.value and e.operation == _APPLY and e.subresource == STATUS
            ),
            None,
        )
        if at is None:
            out.append(
                template.model_copy(
                    update={"manager": manager.value, "operation": _APPLY, "fields_v1": tree}
                )
            )
        else:
            out[at] = out[at].model_copy(update={"fields_v1": _union(out[at].fields_v1, tree)})
    return out + kept
