"""What a destination receives never breaks while the LiveStream lives.

A LiveStream restreams through the chart's forwarder to a sink (a MediaMTX Pod
standing in for YouTube or Twitch); each fault happens while a thread samples the
sink's publish session twice a second. One session throughout is what a user
checks: a new one is a new broadcast (YouTube starts a new VOD).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.waiting import wait_for

from .e2e_support import (
    Kube,
    SessionWatch,
    Sink,
    livestream_manifest,
    pod_running,
    publishing,
    unique_id,
)

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Restream:
    sid: str
    key: str
    sink: Sink

    @property
    def name(self) -> str:
        return self.sid

    @property
    def path(self) -> str:
        return f"restream/{self.sid}"


@contextmanager
def _restreamed(kube: Kube, streams: list[str], prefix: str, **spec: Any) -> Iterator[Restream]:
    """A Persistent LiveStream whose forwarder pushes to a sink of its own."""
    sid = unique_id(prefix)
    secret = f"{sid}-urls"
    sink = Sink(kube, f"{sid}-sink")
    streams.append(sid)
    try:
        sink.start()
        kube.apply(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": secret},
                    "type": "Opaque",
                    "stringData": {"sink": sink.url(f"restream/{sid}")},
                },
                livestream_manifest(
                    sid,
                    sid,
                    kube.ns,
                    lifecycle="Persistent",
                    gracePeriodSeconds=60,
                    forwarder={
                        "destinations": [
                            {"name": "sink", "urlSecretRef": {"name": secret, "key": "sink"}}
                        ]
                    },
                    **spec,
                ),
            ]
        )
        yield Restream(sid, kube.stream_key(sid), sink)
    finally:
        kube.delete("livestream", sid)
        sink.delete()
        kube.delete("secret", secret)


def _status(kube: Kube, name: str) -> dict[str, Any]:
    status: dict[str, Any] = (kube.livestream(name) or {}).get("status") or {}
    return status


def _output_flows(kube: Kube, name: str) -> bool:
    """The worker publishes live/<id>/out (not MediaMTX's slate)."""
    return bool((_status(kube, name).get("output") or {}).get("available"))


def _condition(kube: Kube, name: str, kind: str) -> dict[str, Any]:
    for cond in _status(kube, name).get("conditions") or []:
        if cond.get("type") == kind:
            found: dict[str, Any] = cond
            return found
    return {}


def _first_session(kube: Kube, r: Restream) -> str:
    wait_for(lambda: _output_flows(kube, r.name), 120, "the worker's output")
    session: str = wait_for(lambda: r.sink.session(r.path), 120, "the sink receives the stream")
    return session


def test_a_publisher_gone_for_10_s_keeps_the_destination_session(
    kube: Kube, ffmpeg: str, streams: list[str]
) -> None:
    with _restreamed(kube, streams, "e2e-loss") as r:
        url = kube.publish_url(r.sid, key=r.key)
        with publishing(url) as pub:
            kube.wait_phase(r.name, "Live", 120, pub)
            first = _first_session(kube, r)
            with SessionWatch(r.sink, r.path) as watch:
                time.sleep(3)
                pub.stop()
                watch.mark("publisher stopped")
                lost = time.monotonic()
                kube.wait_phase(r.name, "Reconnecting", 30)
                loss = wait_for(
                    lambda: (
                        _condition(kube, r.name, "InputLoss").get("status") == "True"
                        and _condition(kube, r.name, "InputLoss")
                    ),
                    30,
                    "the InputLoss condition",
                )
                assert loss.get("lastTransitionTime"), loss
                time.sleep(max(0.0, 10 - (time.monotonic() - lost)))
                with publishing(url) as again:
                    watch.mark("publisher started")
                    kube.wait_phase(r.name, "Live", 60, again)
                    wait_for(lambda: _output_flows(kube, r.name), 60, "the worker's output again")
                    time.sleep(3)
                    assert again.running(), again.output()
                    assert _condition(kube, r.name, "InputLoss").get("status") == "False"
                    watch.mark("publisher stopping")
        assert watch.sessions() == [first], watch.timeline()


def test_a_worker_pod_deleted_keeps_the_destination_session(
    kube: Kube, ffmpeg: str, streams: list[str]
) -> None:
    with _restreamed(kube, streams, "e2e-wdel") as r:
        with publishing(kube.publish_url(r.sid, key=r.key)) as pub:
            kube.wait_phase(r.name, "Live", 120, pub)
            first = _first_session(kube, r)
            worker = kube.worker(r.name)
            assert worker is not None
            with SessionWatch(r.sink, r.path) as watch:
                time.sleep(2)
                kube.kubectl("delete", "pod", worker["metadata"]["name"], "--wait=false")

                def replaced() -> bool:
                    new = kube.worker(r.name)
                    return (
                        new is not None
                        and new["metadata"]["uid"] != worker["metadata"]["uid"]
                        and pod_running(new)
                    )

                wait_for(replaced, 120, "a new worker Pod")
                wait_for(lambda: _output_flows(kube, r.name), 60, "the new worker's output")
                time.sleep(3)
            assert pub.running(), pub.output()
        assert watch.sessions() == [first], watch.timeline()


def test_failover_to_the_backup_and_back_keeps_the_destination_session(
    kube: Kube, ffmpeg: str, streams: list[str]
) -> None:
    ingest = {"failoverAfterSeconds": 3, "failbackHoldSeconds": 5}
    with _restreamed(kube, streams, "e2e-fail", ingest=ingest) as r:
        primary_url = kube.publish_url(r.sid, key=r.key)
        backup_url = kube.publish_url(r.sid, "backup", key=r.key)

        def active() -> str:
            return str((_status(kube, r.name).get("failover") or {}).get("active", "Primary"))

        with publishing(backup_url) as backup, publishing(primary_url) as primary:
            kube.wait_phase(r.name, "Live", 120, primary)
            wait_for(
                lambda: (_status(kube, r.name).get("backup") or {}).get("available"),
                60,
                "status.backup",
            )
            first = _first_session(kube, r)
            assert active() == "Primary"
            with SessionWatch(r.sink, r.path) as watch:
                time.sleep(2)
                primary.stop()
                wait_for(lambda: active() == "Backup", 30, "the switch to the backup")
                assert _status(kube, r.name)["failover"]["reason"] == "PrimaryOffline"
                wait_for(lambda: _output_flows(kube, r.name), 60, "the output from the backup")
                time.sleep(3)
                with publishing(primary_url) as again:
                    wait_for(lambda: active() == "Primary", 60, "the failback")
                    assert _status(kube, r.name)["failover"]["reason"] == "PrimaryRecovered"
                    wait_for(lambda: _output_flows(kube, r.name), 60, "the output again")
                    time.sleep(3)
                    assert again.running(), again.output()
            assert backup.running(), backup.output()
        assert watch.sessions() == [first], watch.timeline()
