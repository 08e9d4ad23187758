"""Where each MediaMTX instance is: its Control API, RTSP, RTMP and playback URLs.

Several MediaMTX instances (the Pods of one StatefulSet) each have a Control API
of their own, and a stream lives on one of them (status.ingest.instance), so the
operator and the receivers call the instance a stream is on. An instance's URLs
are the configured base URLs with the host replaced by its Pod's DNS name,
`<name>.<domain>`: schemes and ports are configured once, for all of them. With
no instances configured there is one, behind the base URLs unchanged: the single
MediaMTX of a release before several.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from .v1alpha1 import DNS_LABEL_PATTERN, LiveStream

# The name of the one instance when none are configured: what the hooks of an
# instance that does not say (an older wrapper) are recorded as.
DEFAULT = ""
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)


class InstancesError(ValueError):
    """Instances that cannot be addressed, naming the setting at fault."""


@dataclass(frozen=True)
class Instance:
    name: str
    api_url: str
    rtsp_url: str
    rtmp_url: str
    playback_url: str


def resolve(name: str, names: Sequence[str]) -> str:
    """The instance an event's or a status's word means: itself when it is one of
    `names`, else the first (the default). Events from an older wrapper carry no
    instance, and a status may name a Pod that is no longer configured: both are
    taken to be the default instance, which is the only one of a single-instance
    release, rather than to be nowhere."""
    return name if name in names else names[0]


def home(livestream: LiveStream, names: Sequence[str]) -> str:
    """The instance a stream lives on: its publisher's (status.ingest.instance), the
    default before any hook said. Its path entries and its `out` are there."""
    ingest = livestream.status.ingest
    return resolve(ingest.instance or DEFAULT if ingest else DEFAULT, names)


def with_host(url: str, host: str) -> str:
    """`url` with its host replaced, its scheme, credentials, port and path kept."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise InstancesError(f"{url!r}: has no host to replace")
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = (userinfo + "@" if userinfo else "") + host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_credentials(url: str, user: str, password: str) -> str:
    """`url` with `user:password@` (percent-encoded) in front of its host."""
    parts = urlsplit(url)
    _, _, hostport = parts.netloc.rpartition("@")
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return urlunsplit(parts._replace(netloc=userinfo + hostport))


class Instances:
    """The MediaMTX instances, in their configured order (the first is the default)."""

    def __init__(
        self,
        names: Sequence[str],
        domain: str,
        *,
        api_url: str,
        rtsp_url: str,
        rtmp_url: str,
        playback_url: str,
    ) -> None:
        if not names:
            self.all: tuple[Instance, ...] = (
                Instance(DEFAULT, api_url, rtsp_url, rtmp_url, playback_url),
            )
            return
        for name in names:
            if not _DNS_LABEL.fullmatch(name):
                raise InstancesError(
                    f"LSO_MEDIAMTX_INSTANCES: {name!r} is not a Pod's name (a DNS label)"
                )
        if len(set(names)) != len(names):
            raise InstancesError("LSO_MEDIAMTX_INSTANCES: an instance is named twice")
        if not domain:
            raise InstancesError(
                "LSO_MEDIAMTX_DOMAIN: required with LSO_MEDIAMTX_INSTANCES "
                "(<headless service>.<namespace>.svc)"
            )
        self.all = tuple(
            Instance(
                name,
                *(
                    with_host(url, f"{name}.{domain}")
                    for url in (api_url, rtsp_url, rtmp_url, playback_url)
                ),
            )
            for name in names
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.all)

    @property
    def default(self) -> Instance:
        return self.all[0]

    def get(self, name: str) -> Instance:
        """The instance named, or the default for "" or a name not configured
        (see resolve)."""
        wanted = resolve(name, self.names)
        return next(i for i in self.all if i.name == wanted)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def relay_sources(self, user: str, password: str) -> dict[str, str]:
        """Each instance's RTSP URL with the credentials the others read its `out`
        with (mediamtx/path_config.Relay); none with one instance: nothing to relay."""
        if len(self.all) < 2:
            return {}
        return {i.name: with_credentials(i.rtsp_url, user, password) for i in self.all}
