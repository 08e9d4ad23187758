"""Benchmarks of the auth endpoint MediaMTX asks before every publish.

Prints figures; asserts nothing. Run with `make bench` (or directly).

1. Auth decision latency at the receiver: a real kube-apiserver, a namespace
   with K key Secrets (created concurrently, 32 at a time) and the real
   receiver process, which loads them through its watch; once its metric
   `livestream_stream_keys` shows K, N POST /v1/mediamtx/auth publish requests,
   open loop at R requests/s from one aiohttp session (keep-alive): per stream
   one right key (in the query for half the streams, as the password for the
   other half) and one wrong key, shuffled, each from its own client IP and
   source id so that neither the brute-force guard nor the key-in-use rule
   applies. Latency is client-side, from the request's start to its body read;
   beside it, the receiver's own handler time (its livestream_auth_seconds
   histogram), its CPU, and how busy the whole machine was (other work on it
   shows in the tails). Every refusal also makes the receiver post an Event in
   the background (at most one per stream and reason per 30 s): part of the load.
   Side by side, in the same run: the naive alternative that asks the API
   server per request (GET the stream's key Secret with the project's API
   client, then compare), the same N requests at the same rate.
2. The same through MediaMTX: the time from an RTMP `publish` command (sent by
   bench/rtmp_client.py as OBS sends it, key in the stream name
   "in?key=sk_...") to MediaMTX's onStatus NetStream.Publish.Start, for
   (a) MediaMTX asking that receiver and (b) MediaMTX with its internal open
   auth (no HTTP call), publishes interleaved, each to a new path.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "operator")]

from tests.media.media_support import MediaMTX, build_mediamtx, proc_cpu_seconds  # noqa: E402
from tests.support import envtest, processes  # noqa: E402
from tests.support.waiting import wait_for_async  # noqa: E402

from bench import rtmp_client  # noqa: E402
from bench.report import line, pct  # noqa: E402
from livestream_operator.api import stream_keys  # noqa: E402
from livestream_operator.kube import Kube, KubeError, core_path, livestreams_path  # noqa: E402

NAMESPACE = "bench-auth"
INTERNAL_OPERATOR = ("lso-operator", processes.INTERNAL["LSO_OPERATOR_PASSWORD"])


def ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:.2f} ms"


async def setup_cluster(kube: Kube) -> None:
    import yaml

    crd = yaml.safe_load((REPO / "crds/livestreams.yaml").read_text())
    await kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    await kube.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
    )

    async def served() -> bool:  # the receiver watches LiveStreams too
        try:
            await kube.request("GET", livestreams_path(NAMESPACE))
        except KubeError:
            return False
        return True

    await wait_for_async(served, 30, what="the LiveStream CRD served")


async def create_keys(kube: Kube, stream_ids: list[str], parallel: int = 32) -> dict[str, str]:
    keys = {sid: stream_keys.generate_key() for sid in stream_ids}
    sem = asyncio.Semaphore(parallel)

    async def create(sid: str) -> None:
        async with sem:
            manifest = stream_keys.to_secret(sid, keys[sid], NAMESPACE)
            await kube.request("POST", core_path(NAMESPACE, "secrets"), manifest)

    await asyncio.gather(*(create(sid) for sid in stream_ids))
    return keys


async def receiver_metrics(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The receiver's /metrics samples by their exposition name, labels and all."""
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    samples: dict[str, float] = {}
    for row in text.splitlines():
        name, _, value = row.rpartition(" ")
        if name and not row.startswith("#"):
            with contextlib.suppress(ValueError):
                samples[name] = float(value)
    return samples


async def wait_keys(session: aiohttp.ClientSession, url: str, want: int) -> None:
    async def loaded() -> bool:
        got = await receiver_metrics(session, url)
        if got.get("livestream_stream_keys", 0) < want:
            return False
        async with session.get(f"{url}/readyz") as resp:
            return resp.status == 200

    await wait_for_async(loaded, 60, what=f"livestream_stream_keys = {want}", interval=0.05)


async def paced(
    n: int, rate: float, one: Callable[[int], Coroutine[Any, Any, float]]
) -> list[float]:
    """Start one(i) at i/rate seconds (open loop: a slow answer delays no later start)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks: list[asyncio.Task[float]] = []
    for i in range(n):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    return list(await asyncio.gather(*tasks))


def auth_plan(keys: dict[str, str], seed: int = 7) -> list[dict[str, Any]]:
    """Per stream: the right key (query or password form) and a wrong one; shuffled.

    Bodies as MediaMTX sends them; each from its own IP and connection id.
    """
    plan: list[dict[str, Any]] = []
    for n, (sid, key) in enumerate(keys.items()):
        right = {"query": f"key={key}"} if n % 2 == 0 else {"user": "any", "password": key}
        wrong_key = stream_keys.generate_key()
        wrong = {"query": f"key={wrong_key}"} if n % 2 else {"user": "any", "password": wrong_key}
        for form, kind in ((right, "right"), (wrong, "wrong")):
            plan.append(
                {
                    "user": "",
                    "password": "",
                    "token": "",
                    "action": "publish",
                    "path": f"live/{sid}/in",
                    "protocol": "rtmp",
                    "query": "",
                    "userAgent": "FMLE/3.0 (compatible; lso-bench)",
                    "_kind": kind,
                    "_sid": sid,
                }
                | form
            )
    random.Random(seed).shuffle(plan)
    for i, body in enumerate(plan):
        body["ip"] = f"10.{1 + i // 65536}.{i // 256 % 256}.{i % 256}"
        body["id"] = str(uuid.uuid4())
    return plan


async def receiver_latency(
    url: str, plan: list[dict[str, Any]], rate: float
) -> tuple[list[float], collections.Counter[str]]:
    outcomes: collections.Counter[str] = collections.Counter()
    async with aiohttp.ClientSession() as s:
        ops = INTERNAL_OPERATOR
        # Warm up outside the plan: the connection pool, and a refusal's Event.
        for i in range(100):
            body = {"action": "api", "user": ops[0], "password": ops[1], "ip": "127.0.0.1"}
            if i % 2:
                body = {"action": "publish", "path": f"live/warm-{i}/in", "ip": f"10.250.0.{i}"}
            async with s.post(f"{url}/v1/mediamtx/auth", json=body) as resp:
                await resp.read()
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(1)

        async def one(i: int) -> float:
            body = {k: v for k, v in plan[i].items() if not k.startswith("_")}
            t0 = time.perf_counter()
            async with s.post(f"{url}/v1/mediamtx/auth", json=body) as resp:
                answer = await resp.json(content_type=None)
            elapsed = time.perf_counter() - t0
            reason = answer.get("reason") or str(answer.get("type", "")).rsplit("/", 1)[-1]
            verdict = "allowed" if resp.status == 200 else "refused"
            outcomes[f"{plan[i]['_kind']} key: {verdict} ({reason})"] += 1
            return elapsed

        return await paced(len(plan), rate, one), outcomes


async def naive_latency(
    kube: Kube, plan: list[dict[str, Any]], rate: float
) -> tuple[list[float], collections.Counter[str]]:
    """What a receiver without a view would do: one API GET per auth request."""
    outcomes: collections.Counter[str] = collections.Counter()
    for sid in list({b["_sid"] for b in plan})[:20]:  # warm up
        await kube.request("GET", core_path(NAMESPACE, "secrets", stream_keys.secret_name(sid)))

    async def one(i: int) -> float:
        body = plan[i]
        name = stream_keys.secret_name(body["_sid"])
        t0 = time.perf_counter()
        secret = await kube.request("GET", core_path(NAMESPACE, "secrets", name))
        expected = stream_keys.from_secret(name, secret.get("data") or {})
        offered = body["password"] or body["query"].removeprefix("key=")
        ok = stream_keys.same_key(offered, expected.key)
        elapsed = time.perf_counter() - t0
        outcomes[f"{body['_kind']} key: {'allowed' if ok else 'refused'}"] += 1
        return elapsed

    return await paced(len(plan), rate, one), outcomes


async def rtmp_publishes(
    with_auth: MediaMTX, open_auth: MediaMTX, keys: dict[str, str], warmup: int
) -> tuple[list[rtmp_client.PublishResult], list[rtmp_client.PublishResult]]:
    keyed: list[rtmp_client.PublishResult] = []
    baseline: list[rtmp_client.PublishResult] = []
    for n, (sid, key) in enumerate(keys.items()):
        for mtx, out in ((with_auth, keyed), (open_auth, baseline)):
            result = await rtmp_client.publish(
                "127.0.0.1", mtx.rtmp_port, f"live/{sid}", f"in?key={key}"
            )
            if n >= warmup:
                out.append(result)
    return keyed, baseline


def print_rtmp(label: str, results: list[rtmp_client.PublishResult]) -> list[float]:
    accepted = [r.publish_seconds for r in results if r.accepted]
    codes = collections.Counter(r.code for r in results)
    print(f"  {label}")
    line("  publish -> NetStream.Publish.Start, p50", ms(accepted, 50))
    line("  publish -> NetStream.Publish.Start, p99", ms(accepted, 99))
    line("  TCP connect -> createStream answered, p50", ms([r.setup_seconds for r in results], 50))
    for code, n in codes.items():
        line(f"    {code}", str(n))
    return accepted


class MachineCPU:
    """The share of all cores busy (anyone's work) since the last call, from /proc/stat."""

    def __init__(self) -> None:
        self.last = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # busy, total (idle, iowait)

    def busy(self) -> float:
        now = self._read()
        busy, total = now[0] - self.last[0], now[1] - self.last[1]
        self.last = now
        return busy / max(total, 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--publishes", type=int, default=30)
    args = parser.parse_args()

    cp = envtest.ControlPlane(envtest.binaries()).start()
    os.environ["KUBECONFIG"] = str(cp.kubeconfig)
    work = Path(tempfile.mkdtemp(prefix="lso-bench-auth-"))
    receiver: processes.Process | None = None
    mtxs: list[MediaMTX] = []
    kube: Kube | None = None
    try:
        from livestream_operator.kube import open_kube

        kube = await open_kube()
        await setup_cluster(kube)
        receiver, url = processes.receiver(cp.kubeconfig, NAMESPACE, LSO_LOG_LEVEL="WARNING")
        stream_ids = [f"cam-{i:04d}" for i in range(args.keys)]
        async with aiohttp.ClientSession() as s:
            t0 = time.perf_counter()
            keys = await create_keys(kube, stream_ids)
            created = time.perf_counter() - t0
            await wait_keys(s, url, args.keys)
            loaded = time.perf_counter() - t0
        plan = auth_plan(keys)[: args.requests]  # two per key at most

        print(
            f"auth endpoint benchmarks (real kube-apiserver and receiver, {os.cpu_count()} cores,"
            f" load average {os.getloadavg()[0]:.1f} at the start)"
        )
        print(f"\n1. auth decision, {len(plan)} publish requests at {args.rate:.0f}/s")
        line(f"{args.keys} key Secrets created (32 at a time)", f"{created:.1f} s")
        line("  ... and all in the receiver's view", f"{loaded:.1f} s")
        async with aiohttp.ClientSession() as s:
            before = await receiver_metrics(s, url)
        assert receiver.proc is not None
        machine = MachineCPU()
        t0, cpu0 = time.perf_counter(), proc_cpu_seconds(receiver.proc.pid)
        lat, outcomes = await receiver_latency(url, plan, args.rate)
        busy = (proc_cpu_seconds(receiver.proc.pid) - cpu0) / (time.perf_counter() - t0)
        machine_busy = machine.busy()
        async with aiohttp.ClientSession() as s:
            after = await receiver_metrics(s, url)

        def delta(name: str) -> float:
            return after.get(name, 0.0) - before.get(name, 0.0)

        count = max(delta("livestream_auth_seconds_count"), 1.0)
        handled = delta("livestream_auth_seconds_sum")
        within = delta('livestream_auth_seconds_bucket{le="0.005"}')
        line("receiver p50", ms(lat, 50))
        line("receiver p99", ms(lat, 99), "goal p99 <= 5 ms")
        line("receiver max", ms(lat, 100))
        for kind in ("right", "wrong"):
            of_kind = [t for t, body in zip(lat, plan, strict=True) if body["_kind"] == kind]
            line(f"  {kind} key: p50, p99", f"{ms(of_kind, 50)}, {ms(of_kind, 99)}")
        for outcome, n in sorted(outcomes.items()):
            line(f"  {outcome}", str(n))
        line("  in the handler (its histogram), mean", f"{handled / count * 1e6:.0f} us")
        line("  in the handler, share within 5 ms", f"{within / count * 100:.1f} %")
        line("  receiver CPU", f"{busy * 100:.0f} % of a core")
        line("  machine CPU busy (all processes)", f"{machine_busy * 100:.0f} %")

        await asyncio.sleep(1)  # the receiver's refusal Events are posted meanwhile
        machine.busy()
        naive, naive_outcomes = await naive_latency(kube, plan, args.rate)
        machine_busy = machine.busy()
        line("naive: API GET per request, p50", ms(naive, 50))
        line("naive: API GET per request, p99", ms(naive, 99))
        line("naive: API GET per request, max", ms(naive, 100))
        for outcome, n in sorted(naive_outcomes.items()):
            line(f"  {outcome}", str(n))
        line("  machine CPU busy (all processes)", f"{machine_busy * 100:.0f} %")
        line(
            "naive / receiver: p50, p99",
            f"{pct(naive, 50) / pct(lat, 50):.1f}x, {pct(naive, 99) / pct(lat, 99):.1f}x",
        )

        # Streams of their own: part 1 admitted its streams from other IPs, which
        # the key-in-use rule remembers for 15 s.
        warmup = 3
        mtx_ids = [f"obs-{i:03d}" for i in range(args.publishes + warmup)]
        mtx_keys = await create_keys(kube, mtx_ids)
        async with aiohttp.ClientSession() as s:
            await wait_keys(s, url, args.keys + len(mtx_ids))
        binary = build_mediamtx()
        with_auth = MediaMTX(
            binary, work / "mtx-auth", hook_url=url, auth_url=f"{url}/v1/mediamtx/auth"
        )
        open_auth = MediaMTX(binary, work / "mtx-open")
        for mtx in (with_auth, open_auth):
            mtxs.append(mtx)
            await asyncio.to_thread(mtx.start)
        keyed, baseline = await rtmp_publishes(with_auth, open_auth, mtx_keys, warmup)
        print(f"\n2. RTMP publish through MediaMTX, {args.publishes} publishes each, interleaved")
        a = print_rtmp("(a) MediaMTX asks the receiver (authHTTPAddress)", keyed)
        b = print_rtmp("(b) MediaMTX's internal open auth (no call)", baseline)
        line(
            "added by the auth call, p50, p99",
            f"{(pct(a, 50) - pct(b, 50)) * 1000:.2f} ms, {(pct(a, 99) - pct(b, 99)) * 1000:.2f} ms",
        )
    finally:
        for mtx in mtxs:
            mtx.stop()
        if receiver is not None:
            receiver.stop()
            receiver.log.unlink(missing_ok=True)
        if kube is not None:
            await kube.close()
        cp.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
