"""Per-destination retries with real ffmpeg and MediaMTX: a destination that
refuses (nothing listens on its port) goes Retrying with a growing next-retry
time, then Exhausted after maxRetries, and stays up without retrying; retry-now
(with the operator's token only) reconnects it once the port accepts; the other
destination stays Active with one publish session throughout."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from livestream_operator.api.pod_contract import DESTINATION_PATH, RETRY_PATH
from tests.media.conftest import Processes, dump_logs
from tests.media.media_support import MediaMTX, ProjectProc
from tests.support.ports import free_port
from tests.support.tcp_relay import TcpRelay
from tests.support.waiting import wait_for

pytestmark = pytest.mark.media
TOKEN = secrets.token_urlsafe(24)


def report(proc: ProjectProc) -> dict[str, Any]:
    url = f"http://127.0.0.1:{proc.metrics_port}{DESTINATION_PATH}"
    with urllib.request.urlopen(url, timeout=2) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def retry_now(proc: ProjectProc, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{proc.metrics_port}{RETRY_PATH}",
        method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_refusing_destination_retries_exhausts_and_retries_now_without_touching_the_other(
    mediamtx: MediaMTX, destination: MediaMTX, procs: Processes
) -> None:
    out = "live/rty/out"
    procs.publisher(mediamtx.rtmp(out))  # stands in for the worker's output
    mediamtx.wait_available(out, 40)
    good_key, bad_key = f"sk-{secrets.token_hex(8)}", f"sk-{secrets.token_hex(8)}"
    good_path, bad_path = f"live/{good_key}/in", f"live/{bad_key}/in"
    good = procs.forwarder(mediamtx.rtsp(out), destination.rtmp(good_path), "good")
    try:
        destination.wait_available(good_path, 60)
    except TimeoutError:
        pytest.fail(dump_logs(good))
    session = destination.session(good_path)
    assert session is not None
    closed = free_port()  # nothing listens here yet: connections are refused
    bad = procs.forwarder(
        mediamtx.rtsp(out),
        f"rtmp://127.0.0.1:{closed}/{bad_path}",
        "bad",
        LSO_MAX_RETRIES="3",
        LSO_BACKOFF_SECONDS="1",
        LSO_BACKOFF_CAP_SECONDS="2",
        LSO_FORWARDER_TOKEN=TOKEN,
    )
    wait_for(lambda: bad.healthz() != 0, 30, "the bad forwarder to serve")

    # Retrying with a growing next-retry time, then Exhausted after 3 retries.
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 60
    while (now := report(bad))["state"] != "Exhausted":
        assert time.monotonic() < deadline, (now, dump_logs(bad))
        if now["state"] == "Retrying" and now.get("nextRetryTime"):
            seen.setdefault(now["retries"], now["nextRetryTime"])
        assert destination.session(good_path) == session
        time.sleep(0.1)
    assert sorted(seen) == [1, 2, 3], seen
    assert seen[1] < seen[2] < seen[3]  # RFC 3339 in UTC: ordered as text
    exhausted = report(bad)
    assert (exhausted["retries"], exhausted["maxRetries"]) == (3, 3)
    assert exhausted["nextRetryTime"] is None
    assert "Connection refused" in exhausted["lastError"]
    assert bad_key not in json.dumps(exhausted)
    assert f"rtmp://127.0.0.1:{closed}/live/****" in exhausted["lastError"]

    # Exhausted stays up, ready-not, and runs no ffmpeg until told.
    restarts = bad.metrics()["lso_forwarder_restarts_total"]
    time.sleep(3)
    assert bad.alive(), bad.output()
    assert bad.metrics()["lso_forwarder_restarts_total"] == restarts
    assert bad.metrics()["lso_forwarder_exhausted"] == 1
    assert bad.healthz() == 503

    # The destination accepts now; retry-now needs the operator's token.
    relay = TcpRelay(closed, ("127.0.0.1", destination.rtmp_port))
    try:
        assert retry_now(bad, "wrong")[0] == 401
        assert report(bad)["state"] == "Exhausted"
        status, body = retry_now(bad, TOKEN)
        assert (status, body["retried"]) == (200, True)
        destination.wait_available(bad_path, 30)
        wait_for(lambda: report(bad)["state"] == "Active", 20, "the bad destination active")
        assert bad.healthz() == 200
        assert retry_now(bad, TOKEN)[1]["retried"] is False  # Active: nothing to retry
    finally:
        relay.close()

    # The other destination was never touched: one session, no restart, Active.
    assert destination.session(good_path) == session
    assert good.metrics()["lso_forwarder_restarts_total"] == 0
    assert report(good)["state"] == "Active"
    assert report(good)["retries"] == 0
    for proc, key in ((good, good_key), (bad, bad_key)):
        assert key not in proc.output()
    assert TOKEN not in bad.output()


def test_a_missing_input_uses_no_retry(
    mediamtx: MediaMTX, destination: MediaMTX, procs: Processes
) -> None:
    """live/<id>/out not there yet (the publisher is gone, the worker restarts):
    the destination waits for it, Connecting, and never exhausts."""
    out, key = "live/late/out", f"sk-{secrets.token_hex(8)}"
    fwd = procs.forwarder(
        mediamtx.rtsp(out),
        destination.rtmp(f"live/{key}/in"),
        "late",
        LSO_MAX_RETRIES="1",
        LSO_BACKOFF_SECONDS="1",
    )
    wait_for(lambda: fwd.healthz() != 0, 30, "the forwarder to serve")
    wait_for(
        lambda: fwd.metrics().get("lso_forwarder_restarts_total", 0) >= 3,
        30,
        "three attempts against the missing input",
    )
    now = report(fwd)
    assert (now["state"], now["retries"]) == ("Connecting", 0), now
    assert "404" in (now["lastError"] or ""), now
    procs.publisher(mediamtx.rtmp(out))
    destination.wait_available(f"live/{key}/in", 60)
    wait_for(lambda: report(fwd)["state"] == "Active", 20, "Active once the input is there")
