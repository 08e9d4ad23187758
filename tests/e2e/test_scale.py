"""Several concurrent streams, each with its own worker."""

from __future__ import annotations

import contextlib
import os

import pytest

from livestream_operator.api.naming import resource_name

from .e2e_support import Config, Kube, Publisher, pod_running, unique_id

pytestmark = pytest.mark.e2e

STREAMS = int(os.environ.get("LSO_E2E_CONCURRENT", "5"))


def test_concurrent_streams_all_live(
    kube: Kube, cfg: Config, ffmpeg: str, streams: list[str]
) -> None:
    ids = [unique_id(f"e2e-multi{i}") for i in range(STREAMS)]
    names = [resource_name(s) for s in ids]
    streams.extend(names)
    with contextlib.ExitStack() as stack:
        pubs = []
        for sid in ids:
            pub = Publisher(kube.publish_url(sid))
            stack.callback(pub.stop)
            pubs.append(pub)
        for name, pub in zip(names, pubs, strict=True):
            kube.wait_phase(name, "Live", 180, pub)
        workers = {}
        for name in names:
            pod = kube.worker(name)
            assert pod_running(pod), f"{name}-worker not running"
            assert pod is not None
            workers[name] = pod["metadata"]["uid"]
        assert len(set(workers.values())) == STREAMS
        for pub in pubs:
            assert pub.running(), pub.output()
        # Still all Live a little later.
        for name in names:
            kube.wait_phase(name, "Live", 10)
