"""The warm pool's decisions: which Pod to claim, the claim patch, refills."""

from __future__ import annotations

from typing import Any

from livestream_operator.reconcile import pods as manifests
from livestream_operator.reconcile import pool
from livestream_operator.reconcile.observed import ObservedPod
from livestream_operator.reconcile.plan import plan
from livestream_operator.settings import Settings

from .test_plan import LIVE_IN, T0, children, ls, running, t

SETTINGS = Settings(internal_secret="lso-internal", worker_pool_size=2)
TEMPLATE = manifests.pool_template(SETTINGS)


def idle_pod(name: str, ready: bool = True, created: float = 0, **meta: Any) -> ObservedPod:
    body = manifests.pool_worker_pod(SETTINGS)
    body["metadata"] = {
        **body["metadata"],
        "name": name,
        "uid": f"uid-{name}",
        "resourceVersion": "7",
        "creationTimestamp": t(created),
        **meta,
    }
    body = running(body, ready=ready)
    body["metadata"]["uid"] = f"uid-{name}"
    body["status"]["podIP"] = "10.244.0.9"
    return ObservedPod.parse(body)


def test_pool_pod_is_an_unowned_worker_waiting_for_a_stream() -> None:
    body = manifests.pool_worker_pod(SETTINGS)
    meta = body["metadata"]
    assert meta["generateName"] == "lso-pool-"
    assert meta["labels"][manifests.POOL_LABEL] == "idle"
    assert manifests.STREAM_LABEL not in meta["labels"]
    assert "ownerReferences" not in meta
    (c,) = body["spec"]["containers"]
    assert c["args"] == ["worker", "--pool"]
    env = {e["name"]: e for e in c["env"]}
    assert "value" not in env["LSO_POOL_TOKEN"]  # from the Secret only
    assert env["LSO_POOL_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "lso-internal",
        "key": "pool-token",
    }
    assert not env["LSO_STREAM_ID"]["value"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_template_changes_with_the_default_image_only() -> None:
    other = Settings(internal_secret="lso-internal", worker_image="w:2", worker_pool_size=5)
    assert manifests.pool_template(other) != TEMPLATE
    assert manifests.pool_template(Settings(internal_secret="lso-internal")) == TEMPLATE


def test_pick_takes_the_oldest_ready_idle_pod_not_being_claimed() -> None:
    a, b, c = idle_pod("a", created=5), idle_pod("b", created=1), idle_pod("c", ready=False)
    assert pool.pick([a, b, c], TEMPLATE, set()) is b
    assert pool.pick([a, b, c], TEMPLATE, {"b"}) is a
    assert pool.pick([c], TEMPLATE, set()) is None
    stale = idle_pod("d", annotations={manifests.POOL_TEMPLATE_ANNOTATION: "old"})
    assert pool.pick([stale], TEMPLATE, set()) is None


def test_claim_is_conditional_and_makes_the_pod_what_the_plan_wants() -> None:
    livestream = ls(ingest=LIVE_IN)
    desired = manifests.worker_pod(livestream, SETTINGS)
    patch = pool.claim_patch(idle_pod("a"), livestream, desired)["metadata"]
    assert patch["resourceVersion"] == "7"
    assert patch["labels"][manifests.POOL_LABEL] == "claimed"
    assert patch["labels"][manifests.STREAM_LABEL] == "cam"
    assert patch["ownerReferences"][0]["uid"] == "uid-1"
    assert patch["annotations"][manifests.SPEC_HASH_ANNOTATION] == manifests.spec_hash(desired)


def test_a_claimed_pod_is_the_streams_worker_and_is_kept() -> None:
    livestream = ls(ingest=LIVE_IN)
    desired = manifests.worker_pod(livestream, SETTINGS)
    body = manifests.pool_worker_pod(SETTINGS)
    patch = pool.claim_patch(idle_pod("lso-pool-x"), livestream, desired)["metadata"]
    body["metadata"] = {
        "name": "lso-pool-x",
        "labels": {**body["metadata"]["labels"], **patch["labels"]},
        "annotations": patch["annotations"],
        "ownerReferences": patch["ownerReferences"],
    }
    p = plan(livestream, children(running(body)), SETTINGS, T0)
    assert not p.create
    assert not p.delete
    assert p.status.worker is not None
    assert p.status.worker.pod_name == "lso-pool-x"


def test_a_second_worker_of_one_stream_is_deleted() -> None:
    livestream = ls(ingest=LIVE_IN)
    own = running(manifests.worker_pod(livestream, SETTINGS))
    late = manifests.worker_pod(livestream, SETTINGS)
    late["metadata"]["name"] = "lso-pool-y"
    late["metadata"]["creationTimestamp"] = t(5)
    late = running(late, ready=False)
    late["metadata"]["uid"] = "uid-late"
    p = plan(livestream, children(own, late), SETTINGS, T0)
    assert [(d.name, d.reason) for d in p.delete] == [("lso-pool-y", "Duplicate")]


def test_streams_with_their_own_image_or_resources_get_no_pool_pod() -> None:
    assert pool.claimable(ls())
    assert not pool.claimable(ls(worker={"image": "mine:1"}))
    assert not pool.claimable(ls(worker={"resources": {"limits": {"cpu": "2"}}}))


def test_process_mode_streams_get_no_pool_pod() -> None:
    # A pool Pod has no LSO_BACKEND_TOKEN, and an assignment carries no processing.
    processing = {"backend": {"url": "ws://dsp:8080/"}}
    assert not pool.claimable(ls(worker={"mode": "process", "processing": processing}))
    assert pool.claimable(ls(worker={"mode": "tone"}))


def test_refill_keeps_the_size_and_replaces_stale_and_finished_pods() -> None:
    assert pool.plan_pool([], 2, TEMPLATE).create == 2
    a, b, c = idle_pod("a"), idle_pod("b", ready=False), idle_pod("c", created=3)
    over = pool.plan_pool([a, b, c], 2, TEMPLATE)
    assert (over.create, [p.name for p in over.delete]) == (0, ["b"])
    stale = idle_pod("s", annotations={manifests.POOL_TEMPLATE_ANNOTATION: "old"})
    done = idle_pod("d")
    done = done.model_copy(update={"status": done.status.model_copy(update={"phase": "Failed"})})
    fix = pool.plan_pool([a, stale, done], 2, TEMPLATE)
    assert (fix.create, sorted(p.name for p in fix.delete)) == (1, ["d", "s"])
    assert pool.plan_pool([a, c], 0, TEMPLATE).create == 0
    assert len(pool.plan_pool([a, c], 0, TEMPLATE).delete) == 2


def test_a_crash_looping_idle_pod_is_replaced() -> None:
    pod = idle_pod("loop", ready=False)
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
    status = pod.status.model_copy(
        update={
            "container_statuses": [
                pod.status.container_statuses[0].model_copy(
                    update={"state": pod.status.container_statuses[0].state.model_validate(waiting)}
                )
            ]
        }
    )
    looping = pod.model_copy(update={"status": status})
    decided = pool.plan_pool([looping, idle_pod("a")], 2, TEMPLATE)
    assert ([p.name for p in decided.delete], decided.create) == (["loop"], 1)
