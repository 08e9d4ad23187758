#!/usr/bin/env python3
"""End-to-end benchmarks on a cluster with the chart installed (make up).

  python bench/bench_e2e.py [--publishes 20] [--max-streams 30] [--step 2] [--window 15]

1. Latency over N sequential publishes per setup (p50/p95), measured from
   starting the publisher to: live/<id>/in available, the LiveStream created
   (watch ADDED), its worker Running (watch: a new Pod Running, or a warm one
   claimed), live/<id>/out available (Control API, polled every 20 ms). Setups,
   side by side in one table, each applied with `helm upgrade --reuse-values`:
   the baseline (RTMP publisher, no early signal, RTMP worker output: the path
   before #9), then RTMP with the pool off and on, RTSP and SRT with the pool on.
   The release is left with the chart's defaults.
2. Capacity: 720p30 bypass streams are added `--step` at a time; a level holds
   when every stream is Live and, over `--window` seconds, every live/<id>/out
   receives at least 95% of the bytes of its live/<id>/in with no frames in
   error. Prints the highest level that held (goal >= 20), with the operator's
   and MediaMTX's CPU and memory at that level (from their cgroups).

Publishers send a pre-encoded file with `-c copy` so that their own encoding
does not eat the node's CPU. Uses kubectl/ffmpeg like the e2e tests (same
environment variables: KUBECONFIG, LSO_E2E_NAMESPACE, LSO_E2E_RELEASE,
LSO_E2E_RTMP_URL).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.e2e_support import (
    MANAGED_BY,
    WORKLOADS,
    Config,
    Kube,
    MediaMTXApi,
    Publisher,
    pre_encoded,
    unique_id,
)
from tests.support.media_files import copy_input_args
from tests.support.waiting import wait_for

from bench.report import pct
from livestream_operator.api.naming import resource_name

STREAM_LABEL = "media.livestream-operator.dev/stream"
CHART = Path(__file__).resolve().parents[1] / "charts" / "livestream-operator"


class Watch:
    """`kubectl get --watch -o json` in a thread: when each object was first seen,
    and first Running. Pods are keyed by their stream label (a claimed warm worker
    keeps its pool name), other objects by name."""

    def __init__(self, kube: Kube, resource: str, *selector: str) -> None:
        self.seen: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.proc = subprocess.Popen(
            [
                kube.kubectl_bin,
                "-n",
                kube.ns,
                "get",
                resource,
                *selector,
                "--watch",
                "--output-watch-events",
                "-o",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=kube.env,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        decoder = json.JSONDecoder()
        buf = ""
        for line in self.proc.stdout:
            buf += line
            while buf.strip():
                try:
                    event, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                now = time.monotonic()
                obj = event.get("object") or {}
                meta = obj.get("metadata") or {}
                name = meta.get("name")
                if obj.get("kind") == "Pod":
                    name = (meta.get("labels") or {}).get(STREAM_LABEL)
                if not name or event.get("type") == "DELETED":
                    continue
                self.seen.setdefault(name, now)
                if (obj.get("status") or {}).get("phase") == "Running":
                    self.running.setdefault(name, now)

    def stop(self) -> None:
        self.proc.terminate()


def cleanup(kube: Kube, names: list[str]) -> None:
    if names:
        kube.delete("livestreams", *names)
        wait_for(
            lambda: not {ls["metadata"]["name"] for ls in kube.livestreams()} & set(names),
            180,
            "bench LiveStreams gone",
            1,
        )
        wait_for(
            lambda: (
                not [
                    p
                    for p in kube.managed_pods()
                    if (p["metadata"].get("labels") or {}).get(STREAM_LABEL) in names
                ]
            ),
            180,
            "bench Pods gone",
            1,
        )


@dataclass(frozen=True)
class Scenario:
    label: str
    protocol: str  # how the publisher pushes: rtmp, rtsp or srt
    pool: int  # warm workers (workerPool.size)
    early: bool = True  # streams.earlySignal
    output: str = "rtsp"  # streams.workerOutput

    def values(self) -> list[str]:
        return [
            "--set",
            f"workerPool.size={self.pool},streams.earlySignal={str(self.early).lower()},"
            f"streams.workerOutput={self.output}",
        ]


def scenarios(pool: int) -> list[Scenario]:
    return [
        Scenario("RTMP, baseline (no early signal, RTMP out)", "rtmp", 0, False, "rtmp"),
        Scenario("RTMP, pool off", "rtmp", 0),
        Scenario("RTMP, pool on", "rtmp", pool),
        Scenario("RTSP, pool on", "rtsp", pool),
        Scenario("SRT, pool on", "srt", pool),
    ]


def configure(kube: Kube, cfg: Config, scenario: Scenario) -> None:
    """helm upgrade the running release to the scenario's values, and wait for it."""
    kube.helm(
        "upgrade",
        cfg.release,
        str(CHART),
        "--reuse-values",
        *scenario.values(),
        "--wait",
        "--timeout",
        "5m",
        timeout=400,
    )
    for component in ("operator", "hooks"):
        kube.kubectl("rollout", "status", f"deploy/{cfg.component(component)}", "--timeout=300s")
    time.sleep(3)  # the receivers' key views and the operator's lease
    if scenario.pool:
        wait_for(lambda: _pool_ready(kube, scenario.pool), 180, "the warm pool", 0.5)


def _pool_ready(kube: Kube, size: int) -> bool:
    return len(kube.ready_idle_workers()) >= size


def publish_url(kube: Kube, cfg: Config, sid: str, protocol: str) -> str:
    """Where a keyed publisher of each protocol pushes (the forms README gives)."""
    if protocol == "rtmp":
        return kube.publish_url(sid)
    key = kube.stream_key(sid)
    if protocol == "rtsp":
        host = cfg.rtsp_url.removeprefix("rtsp://")
        return f"rtsp://publisher:{key}@{host}/live/{sid}/in"
    return f"{cfg.srt_url}?streamid=publish:live/{sid}/in:publisher:{key}&pkt_size=1316"


@dataclass
class Figures:
    ingest: list[float] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    running: list[float] = field(default_factory=list)
    out: list[float] = field(default_factory=list)


def _watched(name: str, livestreams: Watch, pods: Watch) -> bool:
    return name in livestreams.seen and name in pods.running


def latency(
    kube: Kube, cfg: Config, mtx: MediaMTXApi, media: Path, n: int, scenario: Scenario
) -> Figures:
    figures = Figures()
    ls_watch = Watch(kube, "livestreams")
    pod_watch = Watch(kube, "pods", "-l", MANAGED_BY)
    time.sleep(2)  # let the watches start
    try:
        for i in range(n):
            if scenario.pool:  # every publish finds the pool refilled
                wait_for(lambda: _pool_ready(kube, scenario.pool), 120, "the warm pool", 0.2)
            sid = unique_id("bench-lat")
            name = resource_name(sid)
            pub = Publisher(publish_url(kube, cfg, sid, scenario.protocol), copy_input_args(media))
            t0 = pub.started
            try:
                # MediaMTX's own ingest latency (handshake, track detection),
                # then the operator's part.
                wait_for(partial(mtx.available, f"live/{sid}/in"), 60, f"live/{sid}/in", 0.02)
                t_in = time.monotonic() - t0
                wait_for(partial(mtx.available, f"live/{sid}/out"), 120, f"live/{sid}/out", 0.02)
                t_out = time.monotonic() - t0
                wait_for(partial(_watched, name, ls_watch, pod_watch), 30, "watch events", 0.05)
                figures.ingest.append(t_in)
                figures.created.append(ls_watch.seen[name] - t0)
                figures.running.append(pod_watch.running[name] - t0)
                figures.out.append(t_out)
                print(
                    f"  {scenario.protocol} {i + 1:2d}/{n}: in available {t_in:.2f}s, "
                    f"created {figures.created[-1]:.2f}s, "
                    f"worker Running {figures.running[-1]:.2f}s, out available {t_out:.2f}s",
                    flush=True,
                )
            finally:
                pub.stop()
                cleanup(kube, [name])
    finally:
        ls_watch.stop()
        pod_watch.stop()
    return figures


def print_table(results: list[tuple[Scenario, Figures]]) -> None:
    print(f"\nlatency from the publisher's start, p50 / p95 in seconds, {len(results)} setups:")
    head = f"  {'setup':44s} {'in available':>14s} {'LiveStream':>14s} {'worker Running':>15s}"
    print(head + f" {'out available':>14s}")
    for scenario, f in results:
        cells = [
            f"{pct(vals, 50):5.2f} / {pct(vals, 95):5.2f}"
            for vals in (f.ingest, f.created, f.running, f.out)
        ]
        row = f"  {scenario.label:44s} {cells[0]:>14s} {cells[1]:>14s} {cells[2]:>15s}"
        print(f"{row} {cells[3]:>14s}")
    print(
        "  goals: LiveStream p95 <= 0.3; worker Running p50 <= 1.0 with the pool, <= 2.5 "
        "without; out p50 <= 2.6 (RTMP publishers), <= 1.0 (RTSP/SRT)"
    )


def cgroup_usage(kube: Kube, component: str) -> tuple[float, float]:
    """(CPU seconds used so far, memory bytes) of a component's first container (its
    workload's first Pod: MediaMTX's one instance)."""
    script = (
        "cat /sys/fs/cgroup/cpu.stat 2>/dev/null | head -1 || true; "
        "cat /sys/fs/cgroup/cpuacct/cpuacct.usage /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage "
        "2>/dev/null | head -1 || true; echo ---; "
        "cat /sys/fs/cgroup/memory.current /sys/fs/cgroup/memory/memory.usage_in_bytes "
        "2>/dev/null | head -1 || true"
    )
    workload = f"{WORKLOADS[component]}/{kube.cfg.component(component)}"
    text = kube.kubectl("exec", workload, "--", "sh", "-c", script).stdout
    cpu_part, mem_part = text.split("---")
    cpu = 0.0
    for tok in cpu_part.split():
        if tok.isdigit():
            v = int(tok)
            cpu = v / 1e6 if "usage_usec" in cpu_part else v / 1e9
    mem = float(mem_part.split()[0]) if mem_part.split() else float("nan")
    return cpu, mem


def capacity(
    kube: Kube,
    cfg: Config,
    mtx: MediaMTXApi,
    media: Path,
    max_streams: int,
    step: int,
    window: float,
    settle: float = 10.0,
) -> None:
    pubs: list[Publisher] = []
    ids: list[str] = []
    best = 0
    best_usage = ""
    try:
        while len(ids) < max_streams:
            for _ in range(min(step, max_streams - len(ids))):
                sid = unique_id("bench-cap")
                ids.append(sid)
                pubs.append(
                    Publisher(
                        kube.publish_url(sid),
                        copy_input_args(media),
                    )
                )
            level = len(ids)
            try:
                for sid in ids:
                    wait_for(partial(mtx.available, f"live/{sid}/out"), 120, f"live/{sid}/out")
            except AssertionError as exc:
                print(f"  {level:3d} streams: not all Live ({exc})")
                break
            time.sleep(settle)  # new workers start up; let the pipelines settle
            before = {
                s: (mtx.get(f"live/{s}/in") or {}, mtx.get(f"live/{s}/out") or {}) for s in ids
            }
            usage0 = {d: cgroup_usage(kube, d) for d in ("operator", "mediamtx")}
            t0 = time.monotonic()
            time.sleep(window)
            elapsed = time.monotonic() - t0
            usage1 = {d: cgroup_usage(kube, d) for d in ("operator", "mediamtx")}
            ok = True
            worst, worst_id = 1.0, ""
            for s in ids:
                i1, o1 = mtx.get(f"live/{s}/in") or {}, mtx.get(f"live/{s}/out") or {}
                i0, o0 = before[s]
                din = i1.get("inboundBytes", 0) - i0.get("inboundBytes", 0)
                dout = o1.get("inboundBytes", 0) - o0.get("inboundBytes", 0)
                errors = o1.get("inboundFramesInError", 0) - o0.get("inboundFramesInError", 0)
                ratio = dout / din if din else 0.0
                if ratio < worst:
                    worst, worst_id = ratio, s
                if ratio < 0.95 or errors > 0 or not o1.get("available"):
                    ok = False
            usage = ", ".join(
                f"{d} CPU {(usage1[d][0] - usage0[d][0]) / elapsed:.2f} cores "
                f"mem {usage1[d][1] / 2**20:.0f} MiB"
                for d in usage0
            )
            which = f" {worst_id}" if worst < 0.95 else ""
            print(
                f"  {level:3d} streams: {'held' if ok else 'DROPPED'} "
                f"(worst out/in bytes {worst:.3f}{which}); {usage}",
                flush=True,
            )
            if not ok:
                break
            best, best_usage = level, usage
    finally:
        for p in pubs:
            p.stop()
        cleanup(kube, ids)
    print(
        f"\ncapacity: {best} concurrent 720p30 bypass streams held with no dropped frames "
        f"(goal >= 20)\n  at that load: {best_usage or 'n/a'}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--publishes", type=int, default=20, help="per setup")
    ap.add_argument("--pool", type=int, default=2, help="warm workers in the pool-on setups")
    ap.add_argument("--only", action="append", default=[], help="setups whose label has this")
    ap.add_argument("--max-streams", type=int, default=30)
    ap.add_argument("--step", type=int, default=2)
    ap.add_argument("--window", type=float, default=15.0)
    ap.add_argument("--settle", type=float, default=10.0, help="seconds before each window")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-capacity", action="store_true")
    args = ap.parse_args()
    cfg = Config()
    kube = Kube(cfg)
    mtx = MediaMTXApi(kube, f"svc/{cfg.component('mediamtx')}", 9997)
    media = pre_encoded(seconds=10, size="1280x720", rate=30)
    print(
        f"cluster {cfg.kubeconfig or '(default kubeconfig)'}, namespace {cfg.namespace}, "
        f"RTMP {cfg.rtmp_url}, RTSP {cfg.rtsp_url}, SRT {cfg.srt_url}, media {media}"
    )
    chosen = [
        s for s in scenarios(args.pool) if not args.only or any(o in s.label for o in args.only)
    ]
    default = Scenario("chart defaults", "rtmp", 2)
    with contextlib.closing(mtx):
        try:
            if not args.skip_latency:
                results = []
                for scenario in chosen:
                    print(f"\n{scenario.label}:", flush=True)
                    configure(kube, cfg, scenario)
                    results.append(
                        (scenario, latency(kube, cfg, mtx, media, args.publishes, scenario))
                    )
                print_table(results)
            if not args.skip_capacity:
                print()
                configure(kube, cfg, default)
                capacity(
                    kube, cfg, mtx, media, args.max_streams, args.step, args.window, args.settle
                )
        finally:
            configure(kube, cfg, default)  # leave the release as the chart installs it
    return 0


if __name__ == "__main__":
    sys.exit(main())
