"""MediaMTX Control API client, behind a circuit breaker."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import aiohttp

from . import metrics

PAGE_SIZE = 500


class MediaMTXError(Exception):
    """The Control API failed or answered something unusable."""


class NotFound(MediaMTXError):
    """The API answered 404: a healthy answer, not a failure."""


class Refused(MediaMTXError):
    """The API answered 400: it will not take the configuration it was given."""


class CircuitOpen(MediaMTXError):
    """Calls are suspended after repeated failures."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Open after `threshold` failures within `window` seconds; after `reset_timeout`
    let one trial call through (half-open): success closes, failure re-opens.
    Defaults follow the seed architecture: 5 failures in 10 s, half-open after 30 s.
    Each MediaMTX instance has its own (`instance` labels its metric).
    """

    def __init__(
        self,
        threshold: int = 5,
        window: float = 10.0,
        reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        instance: str = "",
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.reset_timeout = reset_timeout
        self.clock = clock
        self.state = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._trial_in_flight = False
        # Its series exists from the start, closed, as the unlabelled gauge's did.
        self._gauge = metrics.CIRCUIT_STATE.labels(instance)
        self._gauge.set(0)

    def allow(self) -> bool:
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self.clock() - self._opened_at < self.reset_timeout:
                return False
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self._failures.clear()
        self._trial_in_flight = False
        self._gauge.set(0)

    def record_failure(self) -> None:
        now = self.clock()
        if self.state is BreakerState.HALF_OPEN:
            self._open(now)
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.window:
            self._failures.popleft()
        if len(self._failures) >= self.threshold:
            self._open(now)

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = now
        self._failures.clear()
        self._trial_in_flight = False
        self._gauge.set(1)


@dataclass(frozen=True)
class PathInfo:
    name: str
    # A publisher (or the worker, for out) is there. MediaMTX's own `available`
    # also holds while an alwaysAvailable path plays its offline fill; only
    # `online` says the source is there, so that is what this is.
    available: bool
    source_type: str
    source_id: str
    # tracks2 as MediaMTX sent it ({codec, codecProps} each), and the bytes it got.
    tracks: tuple[dict[str, Any], ...] = ()
    inbound_bytes: int = 0

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> PathInfo:
        source = item.get("source") or {}
        # 1.19+ says available; older releases said ready; 1.20 adds online.
        available = item.get("available", item.get("ready", False))
        online = item.get("online", True)
        tracks = item.get("tracks2")
        inbound = item.get("inboundBytes")
        return cls(
            name=str(item.get("name", "")),
            available=bool(available) and bool(online),
            source_type=str(source.get("type", "")),
            source_id=str(source.get("id", "")),
            tracks=tuple(t for t in tracks if isinstance(t, dict))
            if isinstance(tracks, list)
            else (),
            inbound_bytes=inbound if isinstance(inbound, int) and inbound >= 0 else 0,
        )


class MediaMTXClient:
    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        timeout: float = 2.0,
        breaker: CircuitBreaker | None = None,
        auth: aiohttp.BasicAuth | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        # MediaMTX grants the Control API to the operator's credentials only.
        self.auth = auth
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.breaker = breaker or CircuitBreaker()

    async def _get(self, path: str) -> dict[str, Any]:
        if not self.breaker.allow():
            raise CircuitOpen("MediaMTX Control API circuit is open")
        try:
            async with self.session.get(
                self.base_url + path, timeout=self.timeout, auth=self.auth
            ) as resp:
                if resp.status == 404:
                    self.breaker.record_success()
                    raise NotFound(f"GET {path}: HTTP 404")
                if resp.status != 200:
                    raise MediaMTXError(f"GET {path}: HTTP {resp.status}")
                data = await resp.json()
        except NotFound:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError, MediaMTXError) as exc:
            self.breaker.record_failure()
            if isinstance(exc, MediaMTXError):
                raise
            raise MediaMTXError(f"GET {path}: {type(exc).__name__}: {exc}") from None
        self.breaker.record_success()
        if not isinstance(data, dict):
            raise MediaMTXError(f"GET {path}: expected a JSON object")
        return data

    async def list_paths(self) -> list[PathInfo]:
        """Every path, all pages; raises rather than return a partial list."""
        paths: list[PathInfo] = []
        page = 0
        while True:
            data = await self._get(f"/v3/paths/list?page={page}&itemsPerPage={PAGE_SIZE}")
            paths.extend(PathInfo.from_api(i) for i in data.get("items") or [])
            page += 1
            if page >= int(data.get("pageCount", 1)):
                return paths

    async def get_path(self, name: str) -> PathInfo | None:
        try:
            data = await self._get(f"/v3/paths/get/{quote(name, safe='')}")
        except NotFound:
            return None
        return PathInfo.from_api(data)

    async def list_path_confs(self) -> dict[str, dict[str, Any]]:
        """MediaMTX's path configuration entries by name, all pages."""
        confs: dict[str, dict[str, Any]] = {}
        page = 0
        while True:
            data = await self._get(f"/v3/config/paths/list?page={page}&itemsPerPage={PAGE_SIZE}")
            for item in data.get("items") or []:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    confs[item["name"]] = item
            page += 1
            if page >= int(data.get("pageCount", 1)):
                return confs

    async def change_path_conf(
        self, verb: str, name: str, body: dict[str, Any] | None = None
    ) -> None:
        """config/paths/{add,patch,replace,delete}/<name>; the name is a plain path
        (its slashes are the route's wildcard)."""
        method = {"add": "POST", "patch": "PATCH", "replace": "POST", "delete": "DELETE"}[verb]
        url = f"{self.base_url}/v3/config/paths/{verb}/{quote(name, safe='/')}"
        if not self.breaker.allow():
            raise CircuitOpen("MediaMTX Control API circuit is open")
        try:
            async with self.session.request(
                method, url, json=body, timeout=self.timeout, auth=self.auth
            ) as resp:
                if resp.status == 404 and verb == "delete":
                    self.breaker.record_success()
                    return  # gone already
                if resp.status == 400:  # MediaMTX's answer to a config it will not take
                    detail = (await resp.text())[:300]
                    self.breaker.record_success()
                    raise Refused(f"{verb} {name}: HTTP 400 {detail}")
                if resp.status != 200:  # 401: its auth call failed; 5xx: trouble
                    raise MediaMTXError(f"{verb} {name}: HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.breaker.record_failure()
            raise MediaMTXError(f"{verb} {name}: {type(exc).__name__}: {exc}") from None
        self.breaker.record_success()

    async def kick(self, source_type: str, source_id: str) -> bool:
        """Disconnect one publisher; False when it is already gone or of a kind
        that cannot be kicked."""
        kind = _KICKABLE.get(source_type)
        if kind is None:
            return False
        url = f"{self.base_url}/v3/{kind}/kick/{quote(source_id, safe='')}"
        try:
            async with self.session.post(url, timeout=self.timeout, auth=self.auth) as resp:
                if resp.status == 404:
                    return False
                if resp.status != 200:
                    raise MediaMTXError(f"POST {url}: HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MediaMTXError(f"kick {source_type} {source_id}: {exc}") from None
        return True


# MediaMTX's source types and the Control API collection that can kick each.
_KICKABLE = {
    "rtmpConn": "rtmpconns",
    "rtspSession": "rtspsessions",
    "rtspsSession": "rtspssessions",
    "srtConn": "srtconns",
    "webRTCSession": "webrtcsessions",
}
