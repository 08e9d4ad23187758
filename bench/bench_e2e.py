#!/usr/bin/env python3
"""End-to-end benchmarks on a cluster with the chart installed (make up).

  python bench/bench_e2e.py [--publishes 20] [--max-streams 30] [--step 2] [--window 15]

1. Latency over N sequential publishes (p50/p95), measured from starting the
   publisher to: the LiveStream created (watch ADDED), its worker Pod Running
   (watch), live/<id>/out available (Control API, polled every 50 ms).
   Goals: created p95 <= 0.5 s; out available p50 <= 3 s.
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
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.e2e_support import (
    MANAGED_BY,
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


class Watch:
    """`kubectl get --watch -o json` in a thread: first time each name reached a state."""

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
                name = (obj.get("metadata") or {}).get("name")
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
                    if p["metadata"]["name"].rsplit("-", 1)[0] in names
                ]
            ),
            180,
            "bench Pods gone",
            1,
        )


def _watched(sid: str, livestreams: Watch, pods: Watch) -> bool:
    return sid in livestreams.seen and f"{sid}-worker" in pods.running


def latency(kube: Kube, cfg: Config, mtx: MediaMTXApi, media: Path, n: int) -> None:
    ingest: list[float] = []
    created: list[float] = []
    running: list[float] = []
    out: list[float] = []
    ls_watch = Watch(kube, "livestreams")
    pod_watch = Watch(kube, "pods", "-l", MANAGED_BY)
    time.sleep(2)  # let the watches start
    try:
        for i in range(n):
            sid = unique_id("bench-lat")
            pub = Publisher(
                kube.publish_url(sid),
                copy_input_args(media),
            )
            t0 = pub.started
            try:
                # MediaMTX's own ingest latency (RTMP handshake, track detection),
                # then the operator's part.
                wait_for(partial(mtx.available, f"live/{sid}/in"), 60, f"live/{sid}/in", 0.02)
                t_in = time.monotonic() - t0
                wait_for(partial(mtx.available, f"live/{sid}/out"), 120, f"live/{sid}/out", 0.05)
                t_out = time.monotonic() - t0
                wait_for(partial(_watched, sid, ls_watch, pod_watch), 30, "watch events", 0.05)
                ingest.append(t_in)
                created.append(ls_watch.seen[sid] - t0)
                running.append(pod_watch.running[f"{sid}-worker"] - t0)
                out.append(t_out)
                print(
                    f"  publish {i + 1:2d}/{n}: in available {ingest[-1]:.2f}s, "
                    f"created {created[-1]:.2f}s, "
                    f"worker Running {running[-1]:.2f}s, out available {out[-1]:.2f}s",
                    flush=True,
                )
            finally:
                pub.stop()
                cleanup(kube, [sid])
    finally:
        ls_watch.stop()
        pod_watch.stop()
    print(f"\nlatency over {len(out)} publishes (p50 / p95, seconds):")
    after_in = [c - i for c, i in zip(created, ingest, strict=True)]
    for label, vals, goal in (
        ("publish -> in available", ingest, "(MediaMTX ingest)"),
        ("publish -> LiveStream created", created, "goal p95 <= 0.5"),
        ("in available -> LiveStream created", after_in, "(hook + receiver)"),
        ("publish -> worker Pod Running", running, ""),
        ("publish -> out available", out, "goal p50 <= 3"),
    ):
        print(f"  {label:36s} {pct(vals, 50):6.2f} / {pct(vals, 95):6.2f}   {goal}")


def cgroup_usage(kube: Kube, deployment: str) -> tuple[float, float]:
    """(CPU seconds used so far, memory bytes) of a Deployment's first container."""
    script = (
        "cat /sys/fs/cgroup/cpu.stat 2>/dev/null | head -1 || true; "
        "cat /sys/fs/cgroup/cpuacct/cpuacct.usage /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage "
        "2>/dev/null | head -1 || true; echo ---; "
        "cat /sys/fs/cgroup/memory.current /sys/fs/cgroup/memory/memory.usage_in_bytes "
        "2>/dev/null | head -1 || true"
    )
    text = kube.kubectl("exec", f"deploy/{deployment}", "--", "sh", "-c", script).stdout
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
            usage0 = {d: cgroup_usage(kube, cfg.component(d)) for d in ("operator", "mediamtx")}
            t0 = time.monotonic()
            time.sleep(window)
            elapsed = time.monotonic() - t0
            usage1 = {d: cgroup_usage(kube, cfg.component(d)) for d in ("operator", "mediamtx")}
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
    ap.add_argument("--publishes", type=int, default=20)
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
        f"RTMP {cfg.rtmp_url}, media {media}"
    )
    with contextlib.closing(mtx):
        if not args.skip_latency:
            latency(kube, cfg, mtx, media, args.publishes)
        if not args.skip_capacity:
            print()
            capacity(kube, cfg, mtx, media, args.max_streams, args.step, args.window, args.settle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
