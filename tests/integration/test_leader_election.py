"""Leader election between real operator processes on a real API server: one acts,
the other waits; a leader killed mid-way is replaced once its Lease runs out, a
stopped one hands over at once, and one whose Lease is taken stops at once.

No kubelet runs: worker Pods stay Pending, which is all these tests look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from livestream_operator.kube import MERGE_PATCH, Kube, KubeError, livestreams_path
from livestream_operator.leader_election import format_micro_time, lease_path
from tests.support.kube_fixtures import create_ls
from tests.support.processes import Process
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration
LEASE = "livestream-operator"
LEASE_SECONDS, RENEW_SECONDS = 3, 0.5
FAST = {"LSO_LEASE_SECONDS": str(LEASE_SECONDS), "LSO_RENEW_SECONDS": str(RENEW_SECONDS)}
WAITING = "another instance leads; waiting for the Lease"


async def get_lease(kube: Kube, namespace: str) -> dict[str, Any] | None:
    try:
        return await kube.request("GET", lease_path(namespace, LEASE))
    except KubeError as exc:
        if exc.not_found:
            return None
        raise


async def holder(kube: Kube, namespace: str) -> str:
    lease = await get_lease(kube, namespace)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


async def holder_is(kube: Kube, namespace: str, pod: str) -> bool:
    return (await holder(kube, namespace)).startswith(f"{pod}_")


async def publish(kube: Kube, namespace: str, name: str) -> None:
    """A LiveStream whose ingest is live, as the hook receiver would leave it."""
    await create_ls(
        kube,
        namespace,
        {
            "apiVersion": "media.livestream-operator.dev/v1alpha1",
            "kind": "LiveStream",
            "metadata": {"name": name},
            "spec": {"streamId": name, "lifecycle": "Persistent"},
        },
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ingest = {"path": f"live/{name}/in", "available": True, "sourceId": "x", "availableSince": now}
    await kube.request(
        "PATCH",
        livestreams_path(namespace, name, "status"),
        {"status": {"ingest": ingest}},
        content_type=MERGE_PATCH,
    )


async def worker_pods(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    items = await kube.list_pods(namespace, "app.kubernetes.io/component=worker")
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def log_lines(proc: Process, msg: str) -> list[dict[str, Any]]:
    """The operator's JSON log lines whose message is `msg`."""
    found = []
    for line in proc.output().splitlines():
        if not line.startswith("{"):
            continue
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("msg") == msg:
                found.append(entry)
    return found


def log_time(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["ts"].replace("Z", "+00:00"))


class LeaseHistory:
    """Every distinct spec the Lease showed, polled far faster than it is renewed."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.specs: list[dict[str, Any]] = []

    async def run(self) -> None:
        while True:
            with contextlib.suppress(KubeError, OSError, TimeoutError):
                lease = await get_lease(self.kube, self.namespace)
                spec = (lease or {}).get("spec")
                if spec and (not self.specs or spec != self.specs[-1]):
                    self.specs.append(spec)
            await asyncio.sleep(0.05)

    def holders(self) -> list[str]:
        """Holders in order, each change once ("" is a released Lease)."""
        out: list[str] = []
        for spec in self.specs:
            who = spec.get("holderIdentity") or ""
            if not out or out[-1] != who:
                out.append(who)
        return out


@pytest.fixture
async def history(kube: Kube, namespace: str) -> AsyncIterator[LeaseHistory]:
    recorder = LeaseHistory(kube, namespace)
    task = asyncio.create_task(recorder.run())
    yield recorder
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_one_leader_acts_and_a_successor_takes_over_a_killed_one(
    kube: Kube,
    namespace: str,
    history: LeaseHistory,
    start_operator: Callable[..., Process],
) -> None:
    a = start_operator(namespace, POD_NAME="op-a", **FAST)
    await wait_for_async(lambda: holder_is(kube, namespace, "op-a"), 15, what="op-a leads")
    b = start_operator(namespace, POD_NAME="op-b", **FAST)
    await wait_for_async(lambda: log_lines(b, WAITING), 15, what="op-b waiting")

    # Only the leader creates Pods; the other keeps waiting (and its cache warm).
    first = [f"a{i}" for i in range(5)]
    for s in first:
        await publish(kube, namespace, s)

    async def workers_for(streams: list[str]) -> bool:
        return {f"{s}-worker" for s in streams} <= set(await worker_pods(kube, namespace))

    await wait_for_async(lambda: workers_for(first), 20, what="workers from op-a")
    await asyncio.sleep(2 * RENEW_SECONDS)
    assert {e["pod"] for e in log_lines(a, "created pod")} == {f"{s}-worker" for s in first}
    assert log_lines(b, "created pod") == []
    assert log_lines(b, "acquired leadership") == []

    # SIGKILL the leader while LiveStreams are created and reconciles are in flight.
    second = [f"b{i}" for i in range(30)]

    async def publish_all() -> None:
        for s in second:  # about 2 s in all: the kill lands in the middle
            await publish(kube, namespace, s)
            await asyncio.sleep(0.05)

    sending = asyncio.create_task(publish_all())
    await asyncio.sleep(0.5)
    a.kill()
    killed = datetime.now(UTC)
    killed_at = time.monotonic()
    await sending
    await wait_for_async(
        lambda: holder_is(kube, namespace, "op-b"), LEASE_SECONDS + 5, what="op-b takes over"
    )
    took = time.monotonic() - killed_at
    # Not before op-a's Lease ran out (renewed at most a renewal before the kill)...
    assert took >= LEASE_SECONDS - RENEW_SECONDS - 0.5, took
    # ...and not much later.
    assert took <= LEASE_SECONDS + 2, took

    streams = first + second
    await wait_for_async(lambda: workers_for(streams), 30, what="a worker per stream")
    await asyncio.sleep(2)  # nothing extra appears later
    final = await worker_pods(kube, namespace)
    assert set(final) == {f"{s}-worker" for s in streams}
    for name, pod in final.items():
        assert pod["metadata"]["ownerReferences"][0]["name"] == name.removesuffix("-worker")

    # Never two acting at once: op-b acted only once it held the Lease, after op-a died.
    (acquired,) = log_lines(b, "acquired leadership")
    assert acquired["how"] == "took-over"
    assert log_time(acquired) > killed
    created_by_b = log_lines(b, "created pod")
    assert created_by_b, "op-b created the Pods op-a did not get to"
    assert all(log_time(e) >= log_time(acquired) for e in created_by_b)
    assert all(log_time(e) <= killed for e in log_lines(a, "created pod"))
    # The Lease went from op-a to op-b once, a transition counted, and only after
    # op-a's last renewal had expired.
    ids = history.holders()
    assert [i.split("_")[0] for i in ids] == ["op-a", "op-b"], ids
    a_last = [s for s in history.specs if s["holderIdentity"] == ids[0]][-1]
    b_first = next(s for s in history.specs if s["holderIdentity"] == ids[1])
    assert (a_last["leaseTransitions"], b_first["leaseTransitions"]) == (0, 1)
    a_expired = datetime.fromisoformat(a_last["renewTime"].replace("Z", "+00:00"))
    b_acquired = datetime.fromisoformat(b_first["acquireTime"].replace("Z", "+00:00"))
    assert (b_acquired - a_expired).total_seconds() >= a_last["leaseDurationSeconds"]


async def test_a_stopped_leader_hands_over_at_once(
    kube: Kube,
    namespace: str,
    history: LeaseHistory,
    start_operator: Callable[..., Process],
) -> None:
    # A long Lease: waiting it out would take 20 s; the release makes it one renewal.
    slow = {"LSO_LEASE_SECONDS": "20", "LSO_RENEW_SECONDS": str(RENEW_SECONDS)}
    a = start_operator(namespace, POD_NAME="op-a", **slow)
    await wait_for_async(lambda: holder_is(kube, namespace, "op-a"), 15, what="op-a leads")
    b = start_operator(namespace, POD_NAME="op-b", **slow)
    await wait_for_async(lambda: log_lines(b, WAITING), 15, what="op-b waiting")
    # SIGTERM: a clean stop (Process.stop() blocks this event loop until op-a exits).
    assert await asyncio.to_thread(a.stop) == 0
    (released,) = log_lines(a, "released leadership")
    await wait_for_async(lambda: holder_is(kube, namespace, "op-b"), 10, what="op-b takes over")
    (acquired,) = log_lines(b, "acquired leadership")
    assert acquired["how"] == "acquired"  # a released Lease, not an expired one
    # Within a retry of op-b's, not the 20 s the Lease would have run.
    assert (log_time(acquired) - log_time(released)).total_seconds() < RENEW_SECONDS + 1.5
    await asyncio.sleep(0.3)  # the history's last poll
    ids = [i for i in history.holders() if i]  # the released state may be too brief to see
    assert [i.split("_")[0] for i in ids] == ["op-a", "op-b"], ids


async def test_a_leader_whose_lease_is_taken_stops_at_once(
    kube: Kube,
    namespace: str,
    start_operator: Callable[..., Process],
) -> None:
    a = start_operator(namespace, POD_NAME="op-a", **FAST)
    await wait_for_async(lambda: holder_is(kube, namespace, "op-a"), 15, what="op-a leads")
    lease = await get_lease(kube, namespace)
    assert lease is not None
    now = format_micro_time(datetime.now(UTC))
    spec = {**lease["spec"], "holderIdentity": "intruder", "acquireTime": now, "renewTime": now}
    spec["leaseDurationSeconds"] = 60
    await kube.request("PUT", lease_path(namespace, LEASE), {**lease, "spec": spec})
    taken = time.monotonic()

    def exited() -> int | None:
        assert a.proc is not None
        return a.proc.poll()

    code = await wait_for_async(exited, 10, what="op-a exits")
    assert code == 1
    assert time.monotonic() - taken < 2 * RENEW_SECONDS + 2
    (lost,) = log_lines(a, "leadership lost; exiting")
    assert "intruder" in lost["reason"]
    assert await holder(kube, namespace) == "intruder"  # and it did not take it back
