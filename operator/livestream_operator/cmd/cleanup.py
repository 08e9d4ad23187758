"""`livestream-operator cleanup`: what `helm uninstall` runs last.

The chart's post-delete hook Job runs it once the operator, the hook receivers
and MediaMTX are gone, so that nothing can recreate what it deletes:

1. idle warm-pool workers are deleted, then every LiveStream in the namespace
   (their worker and forwarder Pods follow through their owner references);
2. LiveStreams still there after --finalizer-wait seconds have their finalizers
   removed: only the operator, which is gone, would have removed them;
3. it waits up to --timeout seconds for the LiveStreams to go, then up to
   --timeout seconds for the project's Pods (label
   app.kubernetes.io/managed-by=livestream-operator) to go, and deletes the Pods
   still left directly: no project Pod stays behind.

Credentials: the in-cluster service account, else $KUBECONFIG.
Exit status: 0 done, 1 a Kubernetes API call failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.config.config_exception import ConfigException

from ..api.v1alpha1 import DNS_LABEL_PATTERN
from ..kube import MERGE_PATCH, Kube, KubeError, core_path, livestreams_path, open_kube
from ..reconcile.pods import MANAGED_SELECTOR as MANAGED_PODS
from ..reconcile.pods import POOL_IDLE, POOL_LABEL

DNS_LABEL = re.compile(DNS_LABEL_PATTERN)  # a namespace's name
DEFAULT_TIMEOUT = 60.0
DEFAULT_FINALIZER_WAIT = 5.0
IDLE_POOL = f"{POOL_LABEL}={POOL_IDLE}"

EXIT_OK, EXIT_API, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Options:
    namespace: str
    timeout: float
    finalizer_wait: float
    poll: float = 1.0


def _say(message: str) -> None:
    print(message, flush=True)


class Cleanup:
    """The steps of the cleanup against one namespace; a 404 is never an error."""

    def __init__(self, kube: Kube, opts: Options) -> None:
        self.kube = kube
        self.opts = opts
        self.ns = opts.namespace

    async def _names(self, path: str, query: list[tuple[str, str]] | None = None) -> list[str]:
        try:
            body = await self.kube.request("GET", path, query=query)
        except KubeError as exc:
            if exc.not_found:  # no such namespace, or the CRD is gone
                return []
            raise
        return [str(item["metadata"]["name"]) for item in body.get("items") or []]

    async def livestreams(self) -> list[str]:
        return await self._names(livestreams_path(self.ns))

    async def pods(self) -> list[str]:
        return await self._names(core_path(self.ns, "pods"), [("labelSelector", MANAGED_PODS)])

    async def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> None:
        try:
            await self.kube.request(method, path, body, **kw)
        except KubeError as exc:
            if not exc.not_found:  # already gone: what was wanted
                raise

    async def _wait_empty(
        self, list_names: Callable[[], Awaitable[list[str]]], seconds: float
    ) -> list[str]:
        """Poll until nothing is listed or `seconds` pass; what is still listed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        names: list[str] = await list_names()
        while names and loop.time() < deadline:
            await asyncio.sleep(min(self.opts.poll, max(0.0, deadline - loop.time())))
            names = await list_names()
        return names

    async def run(self) -> None:
        # Idle warm-pool workers have no owner to take them along: delete them first.
        idle = await self._names(core_path(self.ns, "pods"), [("labelSelector", IDLE_POOL)])
        for name in idle:
            _say(f"deleting idle pool worker {name}")
            await self._call("DELETE", core_path(self.ns, "pods", name))
        for name in await self.livestreams():
            _say(f"deleting LiveStream {name}")
            await self._call(
                "DELETE",
                livestreams_path(self.ns, name),
                {"propagationPolicy": "Background"},
            )
        for name in await self._wait_empty(self.livestreams, self.opts.finalizer_wait):
            _say(f"LiveStream {name} still there: removing its finalizers")
            await self._call(
                "PATCH",
                livestreams_path(self.ns, name),
                {"metadata": {"finalizers": None}},
                content_type=MERGE_PATCH,
            )
        streams_left = await self._wait_empty(self.livestreams, self.opts.timeout)
        for name in streams_left:
            _say(f"LiveStream {name} still there after {self.opts.timeout:g}s")
        for name in await self._wait_empty(self.pods, self.opts.timeout):
            _say(f"deleting leftover Pod {name}")
            await self._call("DELETE", core_path(self.ns, "pods", name))
        _say("clean" if not streams_left else "done (some LiveStreams are still terminating)")


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, got {raw}")
    return value


def parse_args(argv: list[str]) -> Options:
    """Options from the command line; raises SystemExit (2, or 0 for --help)."""
    parser = argparse.ArgumentParser(
        prog="livestream-operator cleanup",
        description=(
            "Delete a namespace's LiveStreams (removing finalizers the operator can no "
            "longer remove) and any project Pods left: what `helm uninstall` runs last."
        ),
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("LSO_NAMESPACE", ""),
        help="namespace to clean (default: $LSO_NAMESPACE)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=(
            "how long to wait for the LiveStreams, then for their Pods, to go "
            f"before deleting the Pods left directly (default {DEFAULT_TIMEOUT:g})"
        ),
    )
    parser.add_argument(
        "--finalizer-wait",
        type=_seconds,
        default=DEFAULT_FINALIZER_WAIT,
        metavar="SECONDS",
        help=(
            "how long deleted LiveStreams may take before their finalizers are removed "
            f"(default {DEFAULT_FINALIZER_WAIT:g})"
        ),
    )
    args = parser.parse_args(argv)
    if not args.namespace:
        parser.error("--namespace (or LSO_NAMESPACE) is required")
    if not DNS_LABEL.fullmatch(args.namespace):
        parser.error(f"--namespace: not a namespace name: {args.namespace!r}")
    return Options(args.namespace, args.timeout, args.finalizer_wait)


async def run(opts: Options) -> None:
    kube = await open_kube()
    try:
        await Cleanup(kube, opts).run()
    finally:
        await kube.close()


def main(argv: list[str]) -> int:
    try:
        opts = parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        asyncio.run(run(opts))
    except KubeError as exc:
        print(f"cleanup: Kubernetes API error: {exc}", file=sys.stderr, flush=True)
        return EXIT_API
    except (ConfigException, aiohttp.ClientError, OSError, TimeoutError) as exc:
        print(f"cleanup: cannot reach the Kubernetes API: {exc}", file=sys.stderr, flush=True)
        return EXIT_API
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
