"""Media URLs that carry credentials (pure): building one for a subprocess's
argv, and keeping its secrets (a destination's stream key, an internal
password) out of every line that process prints. Shared by the forwarder and
the receiver's snapshots.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

MASK = "****"
MIN_SECRET = 4


def redact_url(url: str) -> str:
    """`rtmp://user:pw@host:1935/app/key?x=y` -> `rtmp://host:1935/app/****`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    host = parts.hostname or ""
    if port:
        host = f"{host}:{port}"
    segments = [s for s in parts.path.split("/") if s]
    shown = f"{parts.scheme}://{host}"
    if segments:
        shown += f"/{segments[0]}"
    if len(segments) > 1 or parts.query or parts.fragment or parts.username or parts.password:
        shown += f"/{MASK}"
    return shown


def secrets_of(url: str) -> list[str]:
    """Substrings of the URL that must never be printed (decoded), longest first.

    The stream key (everything after the application name), and, when at least
    MIN_SECRET characters long, its path segments, the query and its values,
    the fragment and the credentials. Shorter fragments are left alone so that
    a query like `?x=1` does not blank every "1" in ffmpeg's output; the key
    itself is always a secret.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    always: set[str] = set()
    maybe: set[str] = set()
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) > 1:
        always.add("/".join(segments[1:]))
        maybe.update(segments[1:])
    if parts.query:
        maybe.add(parts.query)
        maybe.update(v for _, v in parse_qsl(parts.query, keep_blank_values=True))
    maybe.update(x for x in (parts.fragment, parts.username, parts.password) if x)
    found = {unquote(s) for s in always} | {
        unquote(s) for s in maybe if len(unquote(s)) >= MIN_SECRET
    }
    return sorted((s for s in found if s), key=len, reverse=True)


def _encoded_pattern(secret: str) -> str:
    """Match `secret` with any of its characters possibly percent-encoded."""
    parts = []
    for char in secret:
        encoded = "".join(f"%{b:02x}" for b in char.encode())
        parts.append(f"(?:{re.escape(char)}|(?i:{re.escape(encoded)}))")
    return "".join(parts)


class Redactor:
    def __init__(self, url: str) -> None:
        self.url = url
        self.shown = redact_url(url)
        secrets = secrets_of(url)
        self._pattern = (
            re.compile("|".join(_encoded_pattern(s) for s in secrets)) if secrets else None
        )

    def __call__(self, text: str) -> str:
        text = text.replace(self.url, self.shown)
        return self._pattern.sub(MASK, text) if self._pattern else text


def with_userinfo_credentials(url: str, user: str, password: str) -> str:
    """`url` with `user:password@` (URL-encoded) before its host; `url` itself
    when there is no user. For a subprocess's argv only: never log the result."""
    if not user:
        return url
    parts = urlsplit(url)
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))
