"""Leader election on a coordination.k8s.io/v1 Lease: one operator instance acts.

The rules are a pure function, decide(): from a Lease's spec, the time and my
identity, whether I may hold the Lease and the spec to write. LeaderElector
carries them out against the API server with conditional writes (a create, or an
update carrying the resourceVersion it read), so of two candidates exactly one
wins and the other gets a 409.

Timings: the holder renews every `renew_seconds`; a candidate takes over only
once `renewTime + leaseDurationSeconds` has passed; the holder gives up (and
must stop acting) when it has not renewed for `lease_seconds` minus a safety
margin, so it stops before anyone can take over. A clean shutdown releases the
Lease (empty holder, 1 s) for the successor to take over at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote

from prometheus_client import Gauge

from .api.v1alpha1 import format_time_precise
from .kube import Kube, KubeError

log = logging.getLogger(__name__)
Body = dict[str, Any]

LEADER = Gauge(
    "livestream_operator_leader", "1 while this operator instance holds the leader Lease."
)


class LeadershipLost(Exception):
    """The Lease could not be renewed in time, or someone else holds it now."""


# ------------------------------------------------------------------ pure core


# Kubernetes MicroTime (RFC 3339, UTC, microseconds): the format the API's
# precise timestamps already use.
format_micro_time = format_time_precise


def parse_micro_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Decision:
    """What decide() concluded: hold (acquire or renew) and write `spec`, or wait."""

    hold: bool
    reason: str  # created, renewed, acquired, took-over, held
    holder: str  # who holds the Lease once this decision is carried out ("" if nobody)
    spec: Body | None = None  # the Lease's new spec when hold
    expires: datetime | None = None  # when the foreign holder's Lease runs out


def expiry(spec: Mapping[str, Any]) -> datetime | None:
    """When the Lease runs out; None if it records no renewal (so it protects nothing)."""
    renewed = parse_micro_time(spec.get("renewTime")) or parse_micro_time(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds")
    if renewed is None or not isinstance(duration, int):
        return None
    return renewed + timedelta(seconds=duration)


def decide(
    spec: Mapping[str, Any] | None, identity: str, now: datetime, lease_seconds: int
) -> Decision:
    """May `identity` hold the Lease whose spec is `spec` (None: no Lease yet) at `now`?

    Mine: renew (same acquireTime and transitions). Free (no holder) or expired by
    the holder's own leaseDurationSeconds: acquire, one more transition. Someone
    else's and still live: wait until it expires.
    """
    stamp = format_micro_time(now)
    if spec is None:
        new = {
            "holderIdentity": identity,
            "leaseDurationSeconds": lease_seconds,
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        }
        return Decision(True, "created", identity, new)
    holder = spec.get("holderIdentity") or ""
    transitions = spec.get("leaseTransitions")
    transitions = transitions if isinstance(transitions, int) else 0
    if holder == identity:
        renewed = {
            **spec,
            "leaseDurationSeconds": lease_seconds,
            "acquireTime": spec.get("acquireTime") or stamp,
            "renewTime": stamp,
            "leaseTransitions": transitions,
        }
        return Decision(True, "renewed", identity, renewed)
    expires = expiry(spec)
    if holder and expires is not None and now < expires:
        return Decision(False, "held", holder, expires=expires)
    acquired = {
        **spec,
        "holderIdentity": identity,
        "leaseDurationSeconds": lease_seconds,
        "acquireTime": stamp,
        "renewTime": stamp,
        "leaseTransitions": transitions + 1,
    }
    return Decision(True, "took-over" if holder else "acquired", identity, acquired)


def released(spec: Mapping[str, Any], identity: str, now: datetime) -> Body | None:
    """The spec that hands the Lease over at once, or None if it is not mine."""
    if spec.get("holderIdentity") != identity:
        return None
    return {
        **spec,
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "renewTime": format_micro_time(now),
    }


def renew_deadline(lease_seconds: float) -> float:
    """How long the holder may go without renewing before it must stop acting.

    The margin (a fifth of the Lease, at least 1 s) covers the time to stop,
    a renewal that landed late and some clock skew between instances.
    """
    return lease_seconds - max(1.0, lease_seconds / 5)


def default_identity() -> str:
    """The Pod's name (downward API POD_NAME, else the hostname) and a random suffix,
    so a restarted container never mistakes its predecessor's Lease for its own."""
    pod = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{pod}_{secrets.token_hex(4)}"


# ------------------------------------------------------------------- elector


def lease_path(namespace: str, name: str | None = None) -> str:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{quote(namespace)}/leases"
    return f"{path}/{quote(name)}" if name else path


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str | None = None,
        lease_seconds: int = 10,
        renew_seconds: float = 2.0,
    ) -> None:
        if not 0 < renew_seconds < renew_deadline(lease_seconds):
            raise ValueError("renew_seconds must be shorter than the renew deadline")
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.leading = asyncio.Event()
        self._renewed_at = 0.0  # monotonic start of the last successful write

    def _extra(self, **fields: Any) -> dict[str, Any]:
        return {"lease": f"{self.namespace}/{self.name}", "identity": self.identity, **fields}

    async def _attempt(self, timeout: float) -> Decision:
        """One read-decide-write round; a lost write race is a Decision not to hold."""
        path = lease_path(self.namespace, self.name)
        started = time.monotonic()
        try:
            lease: Body | None = await self.kube.request("GET", path, request_timeout=timeout)
        except KubeError as exc:
            if not exc.not_found:
                raise
            lease = None
        spec = None if lease is None else lease.get("spec") or {}
        decision = decide(spec, self.identity, datetime.now(UTC), self.lease_seconds)
        if not decision.hold or decision.spec is None:
            return decision
        try:
            if lease is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": decision.spec,
                }
                await self.kube.request(
                    "POST", lease_path(self.namespace), body, request_timeout=timeout
                )
            else:
                # The resourceVersion read above makes the update conditional.
                body = {**lease, "spec": decision.spec}
                await self.kube.request("PUT", path, body, request_timeout=timeout)
        except KubeError as exc:
            if exc.conflict:  # someone else wrote (or created) it first
                return Decision(False, "conflict", "")
            raise
        self._renewed_at = started
        return decision

    async def acquire(self) -> None:
        """Wait until this instance holds the Lease."""
        waiting_for: str | None = None
        while True:
            try:
                decision = await self._attempt(timeout=max(self.renew_seconds, 1.0))
            except (KubeError, OSError, TimeoutError) as exc:
                log.warning(
                    "could not read or write the leader Lease", extra=self._extra(reason=str(exc))
                )
            else:
                if decision.hold:
                    LEADER.set(1)
                    self.leading.set()
                    log.info("acquired leadership", extra=self._extra(how=decision.reason))
                    return
                if decision.holder and decision.holder != waiting_for:
                    waiting_for = decision.holder
                    until = format_micro_time(decision.expires) if decision.expires else ""
                    log.info(
                        "another instance leads; waiting for the Lease",
                        extra=self._extra(holder=decision.holder, expires=until),
                    )
            await asyncio.sleep(self.renew_seconds)

    async def hold(self) -> None:
        """Renew the Lease every renew_seconds; raise LeadershipLost when that fails
        for longer than the renew deadline, or when someone else holds the Lease."""
        deadline = renew_deadline(self.lease_seconds)
        while True:
            await asyncio.sleep(self.renew_seconds)
            while True:
                left = self._renewed_at + deadline - time.monotonic()
                if left <= 0:
                    self._lost(f"not renewed for {deadline:g}s")
                try:
                    async with asyncio.timeout(left):
                        decision = await self._attempt(timeout=left)
                except (KubeError, OSError, TimeoutError) as exc:
                    log.warning(
                        "could not renew the leader Lease",
                        extra=self._extra(reason=str(exc) or type(exc).__name__),
                    )
                    decision = None
                if decision is not None and decision.hold:
                    break
                if decision is not None and decision.holder:
                    self._lost(f"the Lease is held by {decision.holder}")
                await asyncio.sleep(min(self.renew_seconds / 2, max(left, 0.0)))

    def _lost(self, why: str) -> NoReturn:
        LEADER.set(0)
        self.leading.clear()
        raise LeadershipLost(why)

    async def run(self) -> None:
        """acquire(), then hold() until leadership is lost (LeadershipLost)."""
        await self.acquire()
        await self.hold()

    async def release(self) -> None:
        """Hand the Lease over at once (call only once nothing acts any more)."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        LEADER.set(0)
        path = lease_path(self.namespace, self.name)
        try:
            lease = await self.kube.request("GET", path, request_timeout=2.0)
            spec = released(lease.get("spec") or {}, self.identity, datetime.now(UTC))
            if spec is None:
                return
            await self.kube.request("PUT", path, {**lease, "spec": spec}, request_timeout=2.0)
        except (KubeError, OSError, TimeoutError) as exc:
            log.warning("could not release the leader Lease", extra=self._extra(reason=str(exc)))
            return
        log.info("released leadership", extra=self._extra())
