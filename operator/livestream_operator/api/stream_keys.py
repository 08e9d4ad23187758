"""Stream keys: their format, and the Kubernetes Secret that binds one to a stream.

A key lives only in a Secret of the operator's namespace, labelled KEY_LABEL, whose
data holds the stream id and the key. The Secret is the binding: a keyed publish of
a stream id that has no LiveStream yet creates an Ephemeral one, as a hook does, and
a declared (Persistent) LiveStream needs nothing in its spec. Rotating writes a new
key into the same Secret; revoking deletes it.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass

from . import naming
from .v1alpha1 import GROUP, STREAM_ID_PATTERN

KEY_PREFIX = "sk_"
# 32 bytes from a CSPRNG, base64url without padding: 43 characters.
KEY_BYTES = 32
KEY_PATTERN = re.compile(KEY_PREFIX + r"[A-Za-z0-9_-]{43}")
KEY_LABEL = f"{GROUP}/stream-key"
STREAM_ID_FIELD = "streamId"
KEY_FIELD = "streamKey"
_STREAM_ID = re.compile(STREAM_ID_PATTERN)


def generate_key() -> str:
    raw = secrets.token_bytes(KEY_BYTES)
    return KEY_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_key(value: str) -> bool:
    return KEY_PATTERN.fullmatch(value) is not None


def same_key(given: str, expected: str) -> bool:
    """Constant-time comparison, so timing tells nothing about the expected key.
    What a client sent may hold lone surrogates (a header's undecodable byte, a
    JSON escape): they compare unequal instead of failing to encode."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


SECRET_PREFIX = "lso-key-"


def secret_name(stream_id: str) -> str:
    return f"{SECRET_PREFIX}{naming.resource_name(stream_id)}"


@dataclass(frozen=True)
class StreamKey:
    stream_id: str
    key: str
    secret: str  # the Secret's name, for messages (never its content)


class KeySecretError(ValueError):
    """A key Secret that cannot be used; the message says which field and why."""


def from_secret(name: str, data: dict[str, str]) -> StreamKey:
    """The key a Secret holds, from its base64 `data`."""
    try:
        decoded = {k: base64.b64decode(v, validate=True).decode() for k, v in data.items()}
    except (ValueError, UnicodeDecodeError):
        raise KeySecretError(f"Secret {name}: data is not base64 of UTF-8 text") from None
    stream_id = decoded.get(STREAM_ID_FIELD, "")
    key = decoded.get(KEY_FIELD, "")
    if not _STREAM_ID.fullmatch(stream_id):
        raise KeySecretError(f"Secret {name}: data.{STREAM_ID_FIELD} is not a stream id")
    if not is_key(key):
        raise KeySecretError(f"Secret {name}: data.{KEY_FIELD} is not an sk_ stream key")
    return StreamKey(stream_id, key, name)


def to_secret(stream_id: str, key: str, namespace: str) -> dict[str, object]:
    """The Secret manifest binding `key` to `stream_id`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(stream_id),
            "namespace": namespace,
            "labels": {
                KEY_LABEL: "true",
                "app.kubernetes.io/managed-by": "livestream-operator",
            },
        },
        "stringData": {STREAM_ID_FIELD: stream_id, KEY_FIELD: key},
    }
