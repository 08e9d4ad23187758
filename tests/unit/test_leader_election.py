"""Leader election: the rules (pure) of who may hold the Lease and what to write,
then the elector carrying them out against a fake API server's Lease semantics."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from livestream_operator.kube import Kube, KubeError
from livestream_operator.leader_election import (
    LeaderElector,
    LeadershipLost,
    decide,
    default_identity,
    expiry,
    format_micro_time,
    parse_micro_time,
    released,
    renew_deadline,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ME, OTHER = "operator-a_1111", "operator-b_2222"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def held_by(holder: str, renewed: float, duration: int = 10, transitions: int = 3) -> Any:
    return {
        "holderIdentity": holder,
        "leaseDurationSeconds": duration,
        "acquireTime": format_micro_time(at(-100)),
        "renewTime": format_micro_time(at(renewed)),
        "leaseTransitions": transitions,
    }


def test_micro_time_is_rfc3339_with_microseconds() -> None:
    assert format_micro_time(T0) == "2026-01-01T00:00:00.000000Z"
    assert format_micro_time(at(1.5)) == "2026-01-01T00:00:01.500000Z"
    assert parse_micro_time("2026-01-01T00:00:01.500000Z") == at(1.5)
    assert parse_micro_time("2026-01-01T00:00:01Z") == at(1)  # written by other clients
    assert parse_micro_time("") is None
    assert parse_micro_time("yesterday") is None


def test_no_lease_yet_is_created_mine() -> None:
    d = decide(None, ME, T0, 10)
    assert (d.hold, d.reason, d.holder) == (True, "created", ME)
    assert d.spec == {
        "holderIdentity": ME,
        "leaseDurationSeconds": 10,
        "acquireTime": "2026-01-01T00:00:00.000000Z",
        "renewTime": "2026-01-01T00:00:00.000000Z",
        "leaseTransitions": 0,
    }


@pytest.mark.parametrize(
    "spec", [{}, {"holderIdentity": ""}, released(held_by(OTHER, 0), OTHER, T0)]
)
def test_a_free_lease_is_acquired(spec: Any) -> None:
    d = decide(spec, ME, at(0.1), 10)
    assert (d.hold, d.reason) == (True, "acquired")
    assert d.spec is not None
    assert d.spec["holderIdentity"] == ME
    assert d.spec["acquireTime"] == d.spec["renewTime"] == format_micro_time(at(0.1))
    assert d.spec["leaseDurationSeconds"] == 10


def test_my_own_lease_is_renewed_keeping_acquire_time_and_transitions() -> None:
    spec = held_by(ME, renewed=0)
    d = decide(spec, ME, at(2), 10)
    assert (d.hold, d.reason, d.holder) == (True, "renewed", ME)
    assert d.spec == {**spec, "renewTime": format_micro_time(at(2))}


def test_a_live_foreign_lease_is_refused_until_it_expires() -> None:
    spec = held_by(OTHER, renewed=0, duration=10)
    for now in (at(-5), at(0), at(9.999)):  # a renewTime ahead of my clock counts too
        d = decide(spec, ME, now, 10)
        assert (d.hold, d.reason, d.holder, d.spec) == (False, "held", OTHER, None)
        assert d.expires == at(10)


def test_an_expired_foreign_lease_is_taken_over() -> None:
    spec = held_by(OTHER, renewed=0, duration=10, transitions=3)
    d = decide(spec, ME, at(10), 5)
    assert (d.hold, d.reason, d.holder) == (True, "took-over", ME)
    assert d.spec == {
        "holderIdentity": ME,
        "leaseDurationSeconds": 5,
        "acquireTime": format_micro_time(at(10)),
        "renewTime": format_micro_time(at(10)),
        "leaseTransitions": 4,
    }


def test_the_holders_own_duration_counts_not_mine() -> None:
    spec = held_by(OTHER, renewed=0, duration=30)
    assert not decide(spec, ME, at(20), 10).hold
    assert decide(spec, ME, at(30), 10).hold


def test_a_foreign_lease_that_records_no_renewal_protects_nothing() -> None:
    spec = {"holderIdentity": OTHER, "leaseDurationSeconds": 10}
    assert expiry(spec) is None
    assert decide(spec, ME, T0, 10).reason == "took-over"


def test_transitions_count_every_change_of_holder() -> None:
    spec: Any = None
    history = []
    # a creates; a renews; b waits; a stops renewing, b takes over; b releases; a acquires.
    steps = [(ME, 0), (ME, 2), (OTHER, 4), (OTHER, 12.1), (OTHER, 13), (ME, 20)]
    for who, now in steps:
        d = decide(spec, who, at(now), 10)
        if d.hold:
            assert d.spec is not None
            spec = d.spec
        history.append((who, d.reason, spec["holderIdentity"], spec["leaseTransitions"]))
        if (who, now) == (OTHER, 13):
            spec = released(spec, OTHER, at(13))
    assert history == [
        (ME, "created", ME, 0),
        (ME, "renewed", ME, 0),
        (OTHER, "held", ME, 0),
        (OTHER, "took-over", OTHER, 1),
        (OTHER, "renewed", OTHER, 1),
        (ME, "acquired", ME, 2),
    ]


def test_release_hands_over_at_once_and_only_my_own_lease() -> None:
    spec = {**held_by(ME, renewed=0), "preferredHolder": "x"}
    out = released(spec, ME, at(1))
    assert out == {
        **spec,
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "renewTime": format_micro_time(at(1)),
    }
    assert decide(out, OTHER, at(1), 10).hold  # the successor need not wait
    assert released(held_by(OTHER, renewed=0), ME, at(1)) is None


def test_unknown_spec_fields_are_kept() -> None:
    spec = {**held_by(OTHER, renewed=0), "strategy": "OldestEmulationVersion"}
    d = decide(spec, ME, at(60), 10)
    assert d.spec is not None
    assert d.spec["strategy"] == "OldestEmulationVersion"


def test_the_holder_stops_before_anyone_may_take_over() -> None:
    assert renew_deadline(10) == 8
    assert renew_deadline(3) == 2
    assert renew_deadline(60) == 48
    with pytest.raises(ValueError, match="renew"):
        LeaderElector(None, "ns", "lease", lease_seconds=3, renew_seconds=2)  # type: ignore[arg-type]


def test_identity_is_the_pod_name_and_a_random_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "lso-operator-7d9f-abcde")
    a, b = default_identity(), default_identity()
    assert a.startswith("lso-operator-7d9f-abcde_")
    assert a != b


# ------------------------------------------------ the elector, on a fake API server


class FakeLeases:
    """The API server's Lease semantics: 404, AlreadyExists, resourceVersion conflicts;
    `hang` makes every call hang, as an unreachable API server would."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.hang = False

    async def request(self, method: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        if self.hang:
            await asyncio.Event().wait()
        if method == "GET":
            if self.lease is None:
                raise KubeError(404, "NotFound", path)
            return copy.deepcopy(self.lease)
        if method == "POST" and self.lease is not None:
            raise KubeError(409, "AlreadyExists", path)
        if method == "PUT":
            if self.lease is None:
                raise KubeError(404, "NotFound", path)
            if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                raise KubeError(409, "Conflict", path)
        self.version += 1
        self.lease = {
            **body,
            "metadata": {**body["metadata"], "resourceVersion": str(self.version)},
        }
        return copy.deepcopy(self.lease)


def elector(leases: FakeLeases, identity: str) -> LeaderElector:
    return LeaderElector(
        cast(Kube, leases), "ns", "lease", identity, lease_seconds=2, renew_seconds=0.1
    )


async def test_of_two_candidates_one_leads_until_it_releases() -> None:
    leases = FakeLeases()
    a, b = elector(leases, ME), elector(leases, OTHER)
    await asyncio.wait_for(a.acquire(), 1)
    waiting = asyncio.create_task(b.acquire())
    holding = asyncio.create_task(a.hold())
    await asyncio.sleep(0.5)
    assert not waiting.done()
    assert leases.lease is not None
    assert leases.lease["spec"]["holderIdentity"] == ME
    holding.cancel()
    await a.release()
    await asyncio.wait_for(waiting, 1)
    assert leases.lease["spec"]["holderIdentity"] == OTHER
    assert leases.lease["spec"]["leaseTransitions"] == 1


async def test_a_holder_that_cannot_renew_gives_up_before_the_lease_runs_out() -> None:
    leases = FakeLeases()
    a = elector(leases, ME)
    await a.acquire()
    started = time.monotonic()
    leases.hang = True
    with pytest.raises(LeadershipLost, match="not renewed"):
        await asyncio.wait_for(a.hold(), 3)
    # At the renew deadline (counted from the last renewal), before anyone may take over.
    assert renew_deadline(2) - 0.1 <= time.monotonic() - started < 2
    assert not a.leading.is_set()


async def test_a_holder_whose_lease_was_taken_gives_up_at_once() -> None:
    leases = FakeLeases()
    a = elector(leases, ME)
    await a.acquire()
    assert leases.lease is not None
    leases.lease["spec"]["holderIdentity"] = OTHER
    leases.lease["metadata"]["resourceVersion"] = "taken"
    with pytest.raises(LeadershipLost, match=OTHER):
        await asyncio.wait_for(a.hold(), 0.5)
