"""Stream ids, MediaMTX path names and Kubernetes object names (pure functions)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, unquote_plus

from .v1alpha1 import MAX_NAME_LENGTH, STREAM_ID_PATTERN, RecordedPath

PATH_PREFIX = "live"
_STREAM_ID = re.compile(STREAM_ID_PATTERN)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# A name ending like this would be indistinguishable from a hashed one, so it is
# hashed too: only hashed names carry this suffix, and two ids never share a name.
_HASH_SUFFIX = re.compile(r"-[0-9a-f]{10}$")
_HASH_LEN = 10


class PathRole(StrEnum):
    INGEST = "in"
    OUTPUT = "out"
    # A second publish point, keyed like `in`: the worker switches to it when `in`
    # is offline (spec.ingest.failoverAfterSeconds) and back once `in` is healthy.
    BACKUP = "backup"

    @property
    def published_by_users(self) -> bool:
        """A path a publisher (OBS, ffmpeg) pushes to with the stream's key."""
        return self is not PathRole.OUTPUT


_ROLES = ", ".join(f"/{r.value}" for r in PathRole)


@dataclass(frozen=True)
class StreamPath:
    stream_id: str
    role: PathRole


class PathError(ValueError):
    """A MediaMTX path that is not live/<streamId>/<role>, role one of PathRole."""


def parse_path(path: str) -> StreamPath:
    """Map a MediaMTX path name to (stream id, role) or raise PathError saying why."""
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != PATH_PREFIX:
        raise PathError(f"path must look like {PATH_PREFIX}/<streamId>/<role> ({_ROLES})")
    _, stream_id, role = parts
    if role not in set(PathRole):
        raise PathError(f"path must end in one of {_ROLES}, not /{role}")
    if not is_stream_id(stream_id):
        raise PathError(STREAM_ID_RULE)
    return StreamPath(stream_id, PathRole(role))


STREAM_ID_RULE = (
    "stream id must be 1-128 characters of letters, digits, '.', '_', '~' or '-', "
    "starting with a letter or digit"
)


def is_stream_id(value: str) -> bool:
    return _STREAM_ID.fullmatch(value) is not None


def stream_path(stream_id: str, role: PathRole | RecordedPath) -> str:
    """live/<id>/in or live/<id>/out (RecordedPath, the API's name for a role, has
    the same values)."""
    return f"{PATH_PREFIX}/{stream_id}/{role.value}"


def ingest_path(stream_id: str) -> str:
    return stream_path(stream_id, PathRole.INGEST)


def backup_path(stream_id: str) -> str:
    return stream_path(stream_id, PathRole.BACKUP)


def output_path(stream_id: str) -> str:
    return stream_path(stream_id, PathRole.OUTPUT)


def resource_name(stream_id: str) -> str:
    """Deterministic DNS-1123 name for a stream id.

    Ids that are already short lower-case DNS labels are used as they are; any
    other id is sanitised, truncated and given a hash of the original, so that
    different ids never map to the same name.
    """
    if (
        len(stream_id) <= MAX_NAME_LENGTH
        and _DNS_LABEL.fullmatch(stream_id)
        and not _HASH_SUFFIX.search(stream_id)
    ):
        return stream_id
    digest = hashlib.sha256(stream_id.encode()).hexdigest()[:_HASH_LEN]
    base = re.sub(r"[^a-z0-9]+", "-", stream_id.lower()).strip("-")
    base = base[: MAX_NAME_LENGTH - _HASH_LEN - 1].rstrip("-")
    return f"{base}-{digest}" if base else f"s-{digest}"


def worker_pod_name(name: str) -> str:
    return f"{name}-worker"


def forwarder_pod_name(name: str) -> str:
    return f"{name}-forwarder"


# Query parameters that carry credentials in common publisher setups (OBS stream
# keys, MediaMTX user/pass, JWTs). Their values never reach status or logs.
_SECRET_PARAMS = re.compile(r"(key|token|pass|password|secret|sig|signature|auth|jwt|user)", re.I)


def redact_query(query: str) -> str:
    """The query with credential-looking values replaced by "redacted".

    A bare token (no "=") is redacted whole: OBS users often paste the stream key
    as the entire query. ffmpeg percent-encodes a query it puts in the RTMP stream
    name ("a%3D1%26b%3D2"), so such a query is decoded first.
    """
    if "=" not in query:
        query = unquote(query)
    parts = []
    for segment in query.split("&"):
        if not segment:
            continue
        key, sep, _ = segment.partition("=")
        if not sep:
            parts.append("redacted")
        elif _SECRET_PARAMS.search(unquote_plus(key)):
            parts.append(f"{key}=redacted")
        else:
            parts.append(segment)
    return "&".join(parts)
