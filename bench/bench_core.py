"""Benchmarks of the operator core against the real API server of the integration tier.

Prints figures; asserts nothing. Run with `make bench` (or directly).

1. hook request -> LiveStream created: p50/p99 over N ready events (distinct
   streams), each a real HTTP request to the receiver, which returns once the
   LiveStream exists and its ingest status is written. Side by side, in the same
   run, the same events handled the way a shell hook would: one `kubectl apply`
   per event.
2. M LiveStreams created at once -> every worker Pod exists, with the
   operator's peak RSS: 500 and 5000 side by side (a fresh operator and
   namespace each), so a cost per object that grows with the number of
   objects shows as a ratio above 10. Pods are counted from a watch: polling
   a list of thousands of Pods would load the machine it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.support import envtest, processes  # noqa: E402

from bench.report import line, pct  # noqa: E402
from livestream_operator.api.ownership import FieldManager  # noqa: E402
from livestream_operator.api.v1alpha1 import (  # noqa: E402
    IngestStatus,
    Lifecycle,
    LiveStream,
    LiveStreamSpec,
    LiveStreamStatus,
    ObjectMeta,
)
from livestream_operator.kube import Kube, core_path, open_kube  # noqa: E402


async def hook_latency(url: str, n: int, prefix: str) -> list[float]:
    out = []
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            body = {
                "path": f"live/{prefix}-{i}/in",
                "query": "",
                "sourceType": "rtmpConn",
                "sourceId": f"src-{i}",
            }
            t0 = time.perf_counter()
            async with s.post(
                f"{url}/v1/mediamtx/events/ready", json=body, headers=processes.HOOK_AUTH
            ) as resp:
                await resp.read()
                assert resp.status == 201, (resp.status, await resp.text())
            out.append(time.perf_counter() - t0)
    return out


def kubectl_latency(kubectl: str, kubeconfig: Path, namespace: str, n: int) -> list[float]:
    """What a shell hook does: render a manifest and `kubectl apply` it, per event."""
    out = []
    for i in range(n):
        manifest = (
            "apiVersion: media.livestream-operator.dev/v1alpha1\nkind: LiveStream\n"
            f"metadata: {{name: sh-{i}, namespace: {namespace}}}\n"
            f"spec: {{streamId: sh-{i}}}\n"
        )
        t0 = time.perf_counter()
        subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
            input=manifest.encode(),
            check=True,
            capture_output=True,
        )
        out.append(time.perf_counter() - t0)
    return out


def peak_rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return float("nan")


async def all_workers(kube: Kube, namespace: str, m: int) -> None:
    """Until m worker Pods exist in the namespace."""
    seen: set[str] = set()
    async for kind, body in kube.list_and_watch(
        core_path(namespace, "pods"), "app.kubernetes.io/component=worker"
    ):
        if kind == "LISTED":
            seen = {item["metadata"]["name"] for item in body["items"]}
        elif kind == "ADDED":
            seen.add(body["metadata"]["name"])
        if len(seen) >= m:
            return


async def fan_out(cp: envtest.ControlPlane, namespace: str, m: int) -> tuple[float, float]:
    op = processes.operator(
        cp.kubeconfig,
        namespace,
        "http://127.0.0.1:9",
        LSO_RESYNC_SECONDS="3600",
        LSO_LOG_LEVEL="WARNING",
    )
    kube = await open_kube()
    try:
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(32)

        async def create(i: int) -> None:
            async with sem:
                created = await kube.create_livestream(
                    namespace,
                    LiveStream(
                        metadata=ObjectMeta(name=f"fan-{i}"),
                        spec=LiveStreamSpec(stream_id=f"fan-{i}", lifecycle=Lifecycle.PERSISTENT),
                    ),
                )
                ingest = IngestStatus(
                    available=True,
                    source_id="x",
                    path=f"live/fan-{i}/in",
                    available_since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                )
                await kube.apply_livestream_status(
                    created, FieldManager.INGEST, LiveStreamStatus(ingest=ingest), conditional=False
                )

        workers = asyncio.create_task(all_workers(kube, namespace, m))
        await asyncio.gather(*(create(i) for i in range(m)))
        await workers
        elapsed = time.perf_counter() - t0
        assert op.proc is not None
        return elapsed, peak_rss_mb(op.proc.pid)
    finally:
        await kube.close()
        op.stop()


async def hooks(cp: envtest.ControlPlane, events: int, kubectl_events: int) -> None:
    receiver, url = processes.receiver(cp.kubeconfig, "bench-hooks", LSO_LOG_LEVEL="WARNING")
    try:
        await hook_latency(url, 20, "warm")  # warm up connections
        lat = await hook_latency(url, events, "bench")
    finally:
        receiver.stop()
    print(f"\n1. hook request -> LiveStream created ({events} events, sequential)")
    line("receiver p50", f"{pct(lat, 50) * 1000:.1f} ms")
    line("receiver p99", f"{pct(lat, 99) * 1000:.1f} ms", "goal p99 <= 50 ms")
    if not kubectl_events:
        return
    kubectl = shutil.which("kubectl") or str(envtest.binaries(("kubectl",)) / "kubectl")
    sh = kubectl_latency(kubectl, cp.kubeconfig, "bench-shell", kubectl_events)
    line("kubectl apply per event p50", f"{pct(sh, 50) * 1000:.1f} ms")
    line("kubectl apply per event p99", f"{pct(sh, 99) * 1000:.1f} ms")
    line("ratio (kubectl / receiver, mean)", f"{statistics.mean(sh) / statistics.mean(lat):.1f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="0: skip section 1")
    parser.add_argument("--kubectl-events", type=int, default=1000)
    parser.add_argument(
        "--streams",
        type=lambda v: [int(n) for n in v.split(",")],
        default=[500, 5000],
        help="LiveStreams created at once, comma-separated (default 500,5000)",
    )
    args = parser.parse_args()

    bin_dir = envtest.binaries()
    cp = envtest.ControlPlane(bin_dir).start()
    os.environ["KUBECONFIG"] = str(cp.kubeconfig)
    try:
        kube = await open_kube()
        import yaml

        crd = yaml.safe_load((REPO / "crds/livestreams.yaml").read_text())
        await kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        fans = [f"bench-fan-{m}" for m in args.streams]
        for ns in ("bench-hooks", "bench-shell", *fans):
            await kube.request(
                "POST",
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        await asyncio.sleep(2)  # CRD discovery
        await kube.close()

        print(f"livestream-operator core benchmarks (real kube-apiserver, {os.cpu_count()} cores)")
        if args.events:
            await hooks(cp, args.events, args.kubectl_events)

        results = [await fan_out(cp, ns, m) for ns, m in zip(fans, args.streams, strict=True)]
        print("\n2. M LiveStreams created at once -> all worker Pods exist")
        line("M", " | ".join(str(m) for m in args.streams))
        line(
            "time to all worker Pods",
            " | ".join(f"{elapsed:.1f} s" for elapsed, _ in results),
            "goal <= 30 s at 500, <= 60 s at 5000",
        )
        line(
            "operator peak RSS",
            " | ".join(f"{rss:.0f} MB" for _, rss in results),
            "goal <= 250 MB at 500, <= 400 MB at 5000",
        )
    finally:
        cp.stop()


if __name__ == "__main__":
    asyncio.run(main())
