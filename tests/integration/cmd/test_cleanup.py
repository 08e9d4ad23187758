"""`livestream-operator cleanup` (the chart's post-delete hook) against the real API server.

No operator runs, as after `helm uninstall`: finalizers stay until the cleanup
removes them. No kubelet runs either: unscheduled Pods go as soon as they are
deleted, and the garbage collector of the control plane deletes the Pods whose
LiveStream is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from livestream_operator.cmd import cleanup
from livestream_operator.kube import Kube, KubeError, core_path, livestreams_path
from tests.conftest import REPO
from tests.support import envtest

pytestmark = pytest.mark.integration
FINALIZER = "media.livestream-operator.dev/test-finalizer"
MANAGED = {"app.kubernetes.io/managed-by": "livestream-operator"}


def _livestream(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "media.livestream-operator.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {"name": name, "finalizers": [FINALIZER]},
        "spec": {"streamId": name, "lifecycle": "Persistent"},
    }


def _pod(name: str, labels: dict[str, str], owner: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "image": "example.invalid/none:0"}]},
    }


async def _names(kube: Kube, path: str, selector: str | None = None) -> list[str]:
    query = [("labelSelector", selector)] if selector else None
    items = (await kube.request("GET", path, query=query))["items"]
    return sorted(i["metadata"]["name"] for i in items)


async def _create_namespace(kube: Kube) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    return name


async def _strip_finalizers(kube: Kube, namespace: str) -> None:
    """Let a namespace a test leaves LiveStreams in be deleted."""
    for name in await _names(kube, livestreams_path(namespace)):
        with contextlib.suppress(KubeError):
            await kube.request(
                "PATCH",
                livestreams_path(namespace, name),
                {"metadata": {"finalizers": None}},
                content_type="application/merge-patch+json",
            )


async def _run(*args: str) -> int:
    """cleanup.main in a thread: it runs its own event loop, as in the Job."""
    return await asyncio.to_thread(cleanup.main, list(args))


async def test_cleanup_removes_livestreams_finalizers_and_left_over_pods(
    kube: Kube, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other = await _create_namespace(kube)
    try:
        owners = {}
        for ns in (namespace, other):
            for name in ("cam1", "cam2"):
                owners[ns, name] = await kube.request(
                    "POST", livestreams_path(ns), _livestream(name)
                )
            # A worker Pod owned by its LiveStream (goes with it), a project Pod
            # that nothing owns (deleted directly after the timeout), and a Pod
            # that is not the project's (kept).
            pods = [
                _pod("cam1-worker", MANAGED, owners[ns, "cam1"]),
                _pod("orphan-forwarder", MANAGED),
                _pod("unrelated", {"app": "something-else"}),
            ]
            for pod in pods:
                await kube.request("POST", core_path(ns, "pods"), pod)

        code = await _run("--namespace", namespace, "--timeout", "5", "--finalizer-wait", "1")
        out = capsys.readouterr().out
        assert code == 0, out

        assert await _names(kube, livestreams_path(namespace)) == []
        assert await _names(kube, core_path(namespace, "pods")) == ["unrelated"]
        for name in ("cam1", "cam2"):
            assert f"deleting LiveStream {name}" in out
            # Nothing else would ever have removed the finalizer.
            assert f"LiveStream {name} still there: removing its finalizers" in out
        assert "deleting leftover Pod orphan-forwarder" in out
        assert "unrelated" not in out
        assert out.rstrip().endswith("clean")

        # Another namespace is none of its business.
        assert await _names(kube, livestreams_path(other)) == ["cam1", "cam2"]
        assert await _names(kube, core_path(other, "pods")) == [
            "cam1-worker",
            "orphan-forwarder",
            "unrelated",
        ]
    finally:
        await _strip_finalizers(kube, other)
        with contextlib.suppress(KubeError):
            await kube.request("DELETE", f"/api/v1/namespaces/{other}")


async def test_cleanup_of_an_empty_namespace_is_quick_and_clean(
    kube: Kube, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _run("--namespace", namespace, "--timeout", "30") == 0
    assert loop.time() - started < 10, "nothing to wait for"
    assert capsys.readouterr().out.strip() == "clean"


async def test_cleanup_reads_the_namespace_from_lso_namespace(
    kube: Kube, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kube.request("POST", livestreams_path(namespace), _livestream("envcam"))
    monkeypatch.setenv("LSO_NAMESPACE", namespace)
    assert await _run("--timeout", "5", "--finalizer-wait", "0") == 0
    assert await _names(kube, livestreams_path(namespace)) == []


def _cli(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONPATH": str(REPO / "operator")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run(
        [sys.executable, "-m", "livestream_operator", "cleanup", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_subcommand_cleans_and_exits_0(
    kube: Kube, namespace: str, control_plane: envtest.ControlPlane
) -> None:
    await kube.request("POST", livestreams_path(namespace), _livestream("clicam"))
    proc = await asyncio.to_thread(
        _cli,
        control_plane.kubeconfig,
        "--namespace",
        namespace,
        "--timeout",
        "5",
        "--finalizer-wait",
        "1",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "deleting LiveStream clicam" in proc.stdout
    assert await _names(kube, livestreams_path(namespace)) == []


async def test_cli_api_failure_exits_1(
    kube: Kube, namespace: str, control_plane: envtest.ControlPlane, tmp_path: Path
) -> None:
    """A token the API server does not know: 401 on the first call."""
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "not-a-valid-token"
    bad = tmp_path / "kubeconfig"
    bad.write_text(yaml.safe_dump(config))
    await kube.request("POST", livestreams_path(namespace), _livestream("kept"))
    proc = await asyncio.to_thread(_cli, bad, "--namespace", namespace, "--timeout", "5")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "401" in proc.stderr
    assert await _names(kube, livestreams_path(namespace)) == ["kept"]
    await _strip_finalizers(kube, namespace)


async def test_cli_bad_arguments_exit_2(control_plane: envtest.ControlPlane) -> None:
    proc = await asyncio.to_thread(_cli, control_plane.kubeconfig, "--namespace", "Not_A_Name")
    assert proc.returncode == 2
    assert "namespace" in proc.stderr
