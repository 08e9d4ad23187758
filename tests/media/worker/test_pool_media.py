"""A warm pool worker (`worker --pool`) with real streams: idle and Ready, then
claimed by POST /v1/assignment, then a worker like any other."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.media.conftest import Processes, dump_logs
from tests.media.media_support import MediaMTX, ProjectProc, assign, pool_worker_proc
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.media, pytest.mark.usefixtures("gstreamer")]

TOKEN = "pool-token-for-the-media-test-0123456789"


def _pool_worker(procs: Processes, log_dir: Path) -> ProjectProc:
    proc = pool_worker_proc(log_dir, TOKEN)
    procs.started.append(proc)
    return proc.start()


def _assignment(mtx: MediaMTX, sid: str, source: str | None = None) -> bytes:
    return json.dumps(
        {
            "streamId": sid,
            "inputUrl": mtx.rtsp(f"live/{source or sid}/in"),
            "outputUrl": mtx.rtsp(f"live/{sid}/out"),
            "mode": "bypass",
        }
    ).encode()


JSON = {"Content-Type": "application/json"}
AUTH = {**JSON, "Authorization": f"Bearer {TOKEN}"}


def test_pool_worker_is_claimed_by_its_assignment(
    mediamtx: MediaMTX, procs: Processes, tmp_path: Path
) -> None:
    sid = "pooled"
    pub = procs.publisher(mediamtx.rtmp(f"live/{sid}/in"))
    mediamtx.wait_available(f"live/{sid}/in", 40)
    worker = _pool_worker(procs, tmp_path)
    # Idle, GStreamer ready: the Pod is Ready, so the operator may claim it.
    wait_for(lambda: worker.healthz() == 200 or not worker.alive(), 30, "the idle pool worker")
    assert worker.alive(), dump_logs(worker)
    assert worker.metrics()['lso_worker_state{lso_worker_state="idle"}'] == 1

    # Refused: no token, a wrong one, a body that is not an assignment.
    for headers in (JSON, {**JSON, "Authorization": "Bearer not-the-token"}):
        status, ctype, problem = assign(worker, _assignment(mediamtx, sid), headers)
        assert (status, ctype, problem["status"]) == (401, "application/problem+json", 401)
    bad = json.loads(_assignment(mediamtx, sid))
    del bad["outputUrl"]
    status, ctype, problem = assign(worker, json.dumps(bad).encode(), AUTH)
    assert (status, ctype) == (422, "application/problem+json")
    assert [e["field"] for e in problem["errors"]] == ["outputUrl"]
    assert worker.healthz() == 200  # still idle and claimable

    claimed = time.monotonic()
    status, _, body = assign(worker, _assignment(mediamtx, sid), AUTH)
    assert (status, body) == (200, {"streamId": sid, "assigned": True})
    try:
        mediamtx.wait_available(f"live/{sid}/out", 30)
    except TimeoutError:
        pytest.fail(dump_logs(pub, worker))
    out_after = time.monotonic() - claimed
    wait_for(lambda: worker.healthz() == 200, 10, "the claimed worker to report flowing")
    frames = 'lso_worker_output_frames_total{track="video"}'
    start = worker.metrics().get(frames, 0.0)
    wait_for(lambda: worker.metrics().get(frames, 0.0) > start + 30, 20, "frames to advance")

    # The operator may retry the same assignment; another stream is refused.
    assert assign(worker, _assignment(mediamtx, sid), AUTH)[:1] == (200,)
    status, ctype, problem = assign(worker, _assignment(mediamtx, "other", source=sid), AUTH)
    assert (status, ctype) == (409, "application/problem+json")
    assert problem["streamId"] == sid
    assert sid in problem["detail"]
    assert not mediamtx.available("live/other/out")

    # Once assigned it is that stream's worker: labels and logs carry the id.
    metrics = worker.metrics()
    assert metrics[f'lso_worker_info{{mode="bypass",stream_id="{sid}"}}'] == 1
    assert metrics['lso_worker_state{lso_worker_state="running"}'] == 1
    assert metrics["lso_worker_reconnects_total"] == 0
    logs = worker.logs()
    flowing = [e for e in logs if e.get("msg") == "output flowing"]
    assert [e.get("streamId") for e in flowing] == [sid]
    assert any(e.get("msg") == "worker starting" and e.get("streamId") == sid for e in logs)
    assert TOKEN not in worker.output()

    assert worker.stop(timeout=10) == 0, dump_logs(worker)
    print(f"pool: live/{sid}/out available {out_after:.2f} s after the assignment")


def test_idle_pool_worker_stops_on_sigterm(procs: Processes, tmp_path: Path) -> None:
    worker = _pool_worker(procs, tmp_path)
    wait_for(lambda: worker.healthz() == 200 or not worker.alive(), 30, "the idle pool worker")
    assert worker.alive(), dump_logs(worker)
    started = time.monotonic()
    assert worker.stop(timeout=10) == 0, dump_logs(worker)
    assert time.monotonic() - started < 5
    assert any(e.get("msg") == "pool worker idle" for e in worker.logs())
