"""Fixtures for the end-to-end tests: a real cluster with the chart installed.

Cluster-agnostic (any KUBECONFIG; hack/up.sh makes a kind one). A missing
prerequisite (kubectl, helm, ffmpeg, a reachable cluster, the installed release)
skips with the reason, except with CI=true, where it fails: CI never passes by
skipping the end-to-end tier.
"""

from __future__ import annotations

import socket
from collections.abc import Generator, Iterator
from urllib.parse import urlsplit

import pytest

from tests.conftest import require
from tests.support.tools import tool
from tests.support.waiting import wait_for

from .e2e_support import WORKLOADS, Config, Kube, MediaMTXApi


@pytest.fixture(scope="session")
def cfg() -> Config:
    return Config()


@pytest.fixture(scope="session")
def kube(cfg: Config) -> Kube:
    require(tool("kubectl") is not None, "kubectl not found (run hack/build-tools.sh or make up)")
    k = Kube(cfg)
    proc = k.kubectl("get", "--raw", "/readyz", check=False, namespaced=False, timeout=20)
    require(
        proc.returncode == 0,
        f"no reachable cluster (KUBECONFIG={cfg.kubeconfig or '~/.kube/config'}): "
        f"{proc.stderr.strip()[:300]} - run `make up`",
    )
    for comp, kind in WORKLOADS.items():
        name = cfg.component(comp)
        require(
            k.get_or_none(kind, name) is not None,
            f"{kind} {cfg.namespace}/{name} not found: install the chart (make up)",
        )
    # After an install or upgrade the NodePort may lag MediaMTX's readiness by a
    # moment, and a publisher started then is refused. A TCP connect proves
    # nothing (Docker's port proxy accepts it either way); an RTMP handshake does.
    rtmp = urlsplit(cfg.rtmp_url)
    wait_for(
        lambda: _rtmp_answers(rtmp.hostname or "127.0.0.1", rtmp.port or 1935),
        90,
        f"an RTMP server answering at {cfg.rtmp_url}",
    )
    return k


def _rtmp_answers(host: str, port: int) -> bool:
    """Whether C0+C1 of an RTMP handshake gets S0+S1 back."""
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(b"\x03" + bytes(1536))
            got = b""
            while len(got) < 1 + 1536:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                got += chunk
            return got[0] == 3
    except OSError:
        return False


@pytest.fixture(scope="session")
def helm_bin(kube: Kube) -> str:
    require(kube.helm_bin is not None, "helm not found (run hack/build-tools.sh or make up)")
    assert kube.helm_bin is not None
    return kube.helm_bin


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    path = tool("ffmpeg")
    require(path is not None, "ffmpeg not found (apt install ffmpeg)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def mtx(kube: Kube, cfg: Config) -> Iterator[MediaMTXApi]:
    api = MediaMTXApi(kube, f"svc/{cfg.component('mediamtx')}", 9997)
    yield api
    api.close()


@pytest.fixture
def streams(kube: Kube) -> Iterator[list[str]]:
    """Names of LiveStreams a test made; deleted afterwards."""
    names: list[str] = []
    yield names
    if names:
        kube.delete("livestreams", *names)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """On a failure, attach the cluster's state to the report (CI keeps nothing else)."""
    outcome = yield
    report = outcome.get_result()
    kube = getattr(item, "funcargs", {}).get("kube")
    if report.failed and call.when == "call" and isinstance(kube, Kube):
        report.sections.append(("cluster state", kube.diagnostics()))
