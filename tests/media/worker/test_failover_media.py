"""Primary/backup failover, seen at a real destination: a second MediaMTX the
forwarder pushes live/<id>/out to, as it would to YouTube, and a viewer of it.
The primary (testsrc) is killed with a backup (SMPTE bars) live: the viewer sees
the backup's picture, after the slate, in the same publish session; the primary
comes back: the viewer sees it again once it has been live failbackHoldSeconds,
still in that session.

The switch is the operator's own decision (reconcile/failover.select_input),
played over MediaMTX's paths by tests/media/failover_support.py, which replaces
the worker as the operator replaces its Pod; the fill entry is the operator's
PathConfigSync's. How fast the switch is, is bench/bench_input_loss.py's figure.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from livestream_operator.api.v1alpha1 import IngestSpec, InputRole, SwitchReason
from tests.support.waiting import wait_for

from ..conftest import Processes, dump_logs
from ..failover_support import Failover
from ..media_support import MediaMTX, Proc, SessionWatch, copy_publisher_args
from ..viewer import SLATE, SMPTEBARS, TESTSRC, Viewer

pytestmark = pytest.mark.usefixtures("gstreamer")

DEST = "live/dest/in"
SPEC = IngestSpec(failover_after_seconds=3, failback_hold_seconds=5)


def publish(mtx: MediaMTX, procs: Processes, media: Path, path: str) -> Proc:
    name = path.rsplit("/", 1)[-1]
    proc = Proc(copy_publisher_args(media, mtx.rtmp(path)), procs.log_dir / f"{name}.log")
    procs.started.append(proc)
    return proc.start()


def test_a_primary_killed_with_a_live_backup_switches_and_comes_back_in_one_session(
    filled: MediaMTX,
    destination: MediaMTX,
    procs: Processes,
    media: Path,
    backup_media: Path,
) -> None:
    mtx = filled
    primary = publish(mtx, procs, media, "live/cam/in")
    publish(mtx, procs, backup_media, "live/cam/backup")
    mtx.wait_available("live/cam/in", 20)
    mtx.wait_available("live/cam/backup", 20)

    def start_worker(path: str) -> Proc:
        return procs.worker(mtx.rtsp(path), mtx.rtsp("live/cam/out"), LSO_FILL="Slate")

    with Failover(mtx, "cam", SPEC, start_worker) as failover:
        wait_for(lambda: (mtx.path("live/cam/out") or {}).get("online"), 20, "out online")
        forwarder = procs.forwarder(mtx.rtsp("live/cam/out"), destination.rtmp(DEST), "dest")
        destination.wait_available(DEST, 30)
        viewer = Viewer(destination.rtsp(DEST)).start()
        try:
            with SessionWatch(destination, DEST) as watch:
                wait_for(lambda: viewer.showing(TESTSRC, 0), 20, "the primary at the viewer")
                killed = time.monotonic()
                primary.stop(sig=signal.SIGKILL)
                wait_for(lambda: viewer.showing(SMPTEBARS, killed), 30, "the backup at the viewer")
                time.sleep(2)
                back = time.monotonic()
                publish(mtx, procs, media, "live/cam/in")
                wait_for(lambda: viewer.showing(TESTSRC, back), 40, "the primary again")
                time.sleep(1)
        finally:
            viewer.stop()

    logs = dump_logs(forwarder, *procs.started)
    # One publish session throughout: the destination never ended its broadcast.
    sessions = watch.sessions()
    assert len(sessions) == 1, (sessions, logs)
    assert sessions[0] is not None, logs
    # The primary, the slate while the backup is not yet chosen, the backup; then
    # the primary again (the slate for a worker start between them, if at all).
    seen = viewer.pictures()
    assert [p for p in seen if p != SLATE] == [TESTSRC, SMPTEBARS, TESTSRC], seen
    assert seen[:3] == [TESTSRC, SLATE, SMPTEBARS], seen
    reasons = [(s.failover.active, s.failover.reason) for s in failover.switches]
    assert reasons == [
        (InputRole.BACKUP, SwitchReason.PRIMARY_OFFLINE),
        (InputRole.PRIMARY, SwitchReason.PRIMARY_RECOVERED),
    ], reasons
    # Neither switch came before its hysteresis (the viewer's first frame of it).
    to_backup = viewer.first(SMPTEBARS, killed)
    to_primary = viewer.first(TESTSRC, back)
    assert to_backup is not None
    assert to_primary is not None
    assert to_backup - killed >= SPEC.failover_after_seconds
    assert to_primary - back >= SPEC.failback_hold_seconds
    print(
        f"failover {to_backup - killed:.2f} s after the kill, "
        f"failback {to_primary - back:.2f} s after the primary's restart"
    )
