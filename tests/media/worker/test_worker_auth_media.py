"""The worker's MediaMTX credentials on both outputs: rtspclientsink's user-id and
user-pw (RTSP), the query (RTMP); and the password never reaches the log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.media.conftest import Processes, dump_logs
from tests.media.media_support import MediaMTX, ffprobe_streams, stream_of

pytestmark = [pytest.mark.media, pytest.mark.usefixtures("gstreamer")]

USER, PASSWORD = "lso-worker", "worker-password-for-the-media-test"


@dataclass
class LockedMediaMTX(MediaMTX):
    """Anyone may publish live/<id>/in (and use the API); only the worker reads
    and publishes everything else."""

    def config(self) -> Path:
        path = super().config()
        conf = yaml.safe_load(path.read_text())
        anyone = [{"action": "publish", "path": "~^live/[^/]+/in$"}]
        anyone += [{"action": "api"}, {"action": "metrics"}]
        conf["authInternalUsers"] = [
            {"user": "any", "pass": "", "ips": [], "permissions": anyone},
            {
                "user": USER,
                "pass": PASSWORD,
                "ips": [],
                "permissions": [{"action": "read"}, {"action": "publish"}],
            },
        ]
        path.write_text(yaml.safe_dump(conf))
        return path


@pytest.mark.parametrize("protocol", ["rtsp", "rtmp"])
def test_worker_publishes_with_its_credentials(
    mediamtx_bin: Path, tmp_path: Path, procs: Processes, protocol: str
) -> None:
    mtx = LockedMediaMTX(mediamtx_bin, tmp_path / "mtx").start()
    try:
        sid = f"creds{protocol}"
        pub = procs.publisher(mtx.rtmp(f"live/{sid}/in"))
        mtx.wait_available(f"live/{sid}/in", 40)
        out = mtx.rtsp(f"live/{sid}/out") if protocol == "rtsp" else mtx.rtmp(f"live/{sid}/out")
        worker = procs.worker(
            mtx.rtsp(f"live/{sid}/in"), out, LSO_MEDIA_USER=USER, LSO_MEDIA_PASSWORD=PASSWORD
        )
        try:
            mtx.wait_available(f"live/{sid}/out", 40)
        except TimeoutError:
            pytest.fail(dump_logs(pub, worker))
        reader = mtx.rtsp(f"live/{sid}/out").replace("rtsp://", f"rtsp://{USER}:{PASSWORD}@")
        assert stream_of(ffprobe_streams(reader), "video")["codec_name"] == "h264"
        with pytest.raises(RuntimeError, match=r"401|Unauthorized"):
            ffprobe_streams(mtx.rtsp(f"live/{sid}/out"))  # nobody else reads it
        assert worker.stop(timeout=10) == 0
        assert PASSWORD not in worker.output()
    finally:
        mtx.stop()
