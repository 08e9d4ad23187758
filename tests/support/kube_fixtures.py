"""Fixtures for tiers that need Kubernetes without a cluster: a real kube-apiserver
+ etcd (+ the garbage collector), the CRD installed, a namespace per test, and the
project's processes (receiver, operator). Used by the integration and media tiers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import yaml

from livestream_operator.api.ownership import FieldManager
from livestream_operator.api.v1alpha1 import LiveStreamStatus
from livestream_operator.kube import Kube, KubeError, core_path, livestreams_path, open_kube
from tests.conftest import REPO, require
from tests.support import envtest, processes
from tests.support.fake_mediamtx import FakeMediaMTX
from tests.support.waiting import wait_for_async


@pytest.fixture(scope="session")
def control_plane() -> Iterator[envtest.ControlPlane]:
    require(
        shutil.which("go") is not None or bool(os.environ.get("LSO_K8S_BIN_DIR")),
        "Go is needed to build kube-apiserver and etcd (hack/build-k8s.sh)",
    )
    require(shutil.which("openssl") is not None, "openssl is needed for the API server's keys")
    try:
        cp = envtest.ControlPlane(envtest.binaries()).start()
    except envtest.Unavailable as exc:
        require(False, str(exc))
        raise
    os.environ["KUBECONFIG"] = str(cp.kubeconfig)
    yield cp
    cp.stop()


@pytest.fixture(scope="session")
def crd_installed(control_plane: envtest.ControlPlane) -> None:
    async def install() -> None:
        kube = await open_kube()
        try:
            crd = yaml.safe_load((REPO / "crds/livestreams.yaml").read_text())
            try:
                await kube.request(
                    "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
                )
            except KubeError as exc:
                if not exc.already_exists:
                    raise
            path = (
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
            )

            async def established() -> bool:
                got = await kube.request("GET", path)
                conds = (got.get("status") or {}).get("conditions") or []
                return any(c["type"] == "Established" and c["status"] == "True" for c in conds)

            await wait_for_async(established, 30, what="CRD established")
            # Discovery for the new group takes a moment to appear.
            await wait_for_async(lambda: _served(kube), 30, what="CRD served")
        finally:
            await kube.close()

    asyncio.run(install())


async def _served(kube: Kube) -> bool:
    try:
        await kube.request("GET", "/apis/media.livestream-operator.dev/v1alpha1/livestreams")
    except KubeError:
        return False
    return True


@pytest.fixture
async def kube(control_plane: envtest.ControlPlane, crd_installed: None) -> AsyncIterator[Kube]:
    client = await open_kube()
    yield client
    await client.close()


@pytest.fixture
async def namespace(kube: Kube) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    yield name
    with contextlib.suppress(KubeError):
        await kube.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture
def fake_mediamtx() -> Iterator[FakeMediaMTX]:
    fake = FakeMediaMTX().start()
    yield fake
    fake.stop()


@pytest.fixture
def start_receiver(control_plane: envtest.ControlPlane) -> Iterator[Callable[..., str]]:
    started: list[processes.Process] = []

    def start(namespace: str, **env: str) -> str:
        proc, url = processes.receiver(control_plane.kubeconfig, namespace, **env)
        started.append(proc)
        return url

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def start_operator(
    control_plane: envtest.ControlPlane, request: pytest.FixtureRequest
) -> Iterator[Callable[..., processes.Process]]:
    started: list[processes.Process] = []

    def start(
        namespace: str, mediamtx_api: str = "http://127.0.0.1:9", **env: str
    ) -> processes.Process:
        proc = processes.operator(control_plane.kubeconfig, namespace, mediamtx_api, **env)
        started.append(proc)
        return proc

    yield start
    failed = getattr(request.node, "rep_call", None)
    for proc in started:
        proc.stop()
        if failed is not None and failed.failed:
            print(f"--- {proc.name} log ---\n{proc.output()[-6000:]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


# LiveStreams as stored: what `kubectl get -o json` shows a user, camelCase keys and
# all, and objects the API types would refuse before the API server could.


async def get_ls(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return await kube.request("GET", livestreams_path(namespace, name))


async def create_ls(kube: Kube, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return await kube.request("POST", livestreams_path(namespace), body)


async def condition_of(kube: Kube, namespace: str, name: str, kind: str) -> dict[str, Any] | None:
    """The LiveStream's status.conditions entry of type `kind`, as stored."""
    ls = await get_ls(kube, namespace, name)
    conds = {c["type"]: c for c in (ls.get("status") or {}).get("conditions") or []}
    return conds.get(kind)


async def events_of(kube: Kube, namespace: str, reason: str) -> list[dict[str, Any]]:
    """The namespace's Events with `reason`, as `kubectl get events` lists them."""
    listed = await kube.request("GET", core_path(namespace, "events"))
    return [e for e in listed.get("items", []) if e.get("reason") == reason]


async def list_ls(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await kube.request("GET", livestreams_path(namespace)))["items"]
    return items


async def apply_status(
    kube: Kube, namespace: str, name: str, manager: FieldManager, status: dict[str, Any]
) -> None:
    """Write status fields as their writer does: `status` is all of `manager`'s
    fields (server-side apply), e.g. status.ingest as the receiver's ready hook."""
    read = await kube.get_livestream(namespace, name)
    written = LiveStreamStatus.model_validate(status)
    await kube.apply_livestream_status(read, manager, written, conditional=False)
