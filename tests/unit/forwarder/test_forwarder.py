"""The forwarder's pure parts and its supervision loop, with a fake ffmpeg."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from livestream_operator.api.v1alpha1 import DestinationState
from livestream_operator.forwarder import endpoint
from livestream_operator.forwarder.config import ForwarderConfig, parse_args
from livestream_operator.forwarder.retries import Policy
from livestream_operator.forwarder.supervisor import (
    Forwarder,
    ForwarderMetrics,
    ffmpeg_command,
    parse_progress,
)
from livestream_operator.media_urls import (
    MASK,
    Redactor,
    redact_url,
    secrets_of,
    with_userinfo_credentials,
)

IN = "rtsp://mediamtx:8554/live/abc/out"
KEY = "live_1234567_AbCdEf"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"rtmp://a.rtmp.youtube.com/live2/{KEY}", "rtmp://a.rtmp.youtube.com/live2/****"),
        (f"rtmps://user:pw@host:443/app/{KEY}?x=1", "rtmps://host:443/app/****"),
        ("rtmp://host/app", "rtmp://host/app"),
        (f"rtmp://host/app?key={KEY}", "rtmp://host/app/****"),
        ("rtmp://host", "rtmp://host"),
        ("rtmp://host:notaport/app/k", MASK),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    if KEY in url:
        assert KEY not in redact_url(url)


def test_secrets_cover_key_query_credentials_and_encodings() -> None:
    url = "rtmp://bobby:s3cr3t@host/app/my%20key/part2?token=t0ken&x=y#fragment"
    found = secrets_of(url)
    for s in (
        "my key/part2",
        "my key",
        "part2",
        "token=t0ken&x=y",
        "t0ken",
        "fragment",
        "bobby",
        "s3cr3t",
    ):
        assert s in found, s
    assert found == sorted(found, key=len, reverse=True)
    assert "y" not in found  # too short to be a secret, except as the key itself
    assert "app" not in found
    assert "host" not in found
    assert secrets_of("rtmp://h/app/k") == ["k"]


def test_input_carries_its_credentials_as_url_userinfo() -> None:
    url = "rtsp://mediamtx:8554/live/a/out"
    assert with_userinfo_credentials(url, "", "pw") == url
    assert (
        with_userinfo_credentials(url, "lso-forwarder", "p@ss:w/rd")
        == "rtsp://lso-forwarder:p%40ss%3Aw%2Frd@mediamtx:8554/live/a/out"
    )


def test_redactor_scrubs_ffmpeg_lines() -> None:
    url = f"rtmp://host:1935/app/{KEY}"
    redact = Redactor(url)
    lines = [
        f"Output #0, flv, to '{url}':",
        f"[rtmp @ 0x55] Server error: stream {KEY} not allowed",
        f"[flv @ 0x55] {url.replace(':1935', '')}: I/O error",
        f"key url-encoded: {KEY.replace('_', '%5F')}",
        f"key partly encoded: {KEY.replace('A', '%41').replace('b', '%62')}",
    ]
    for line in lines:
        out = redact(line)
        assert KEY not in out
        assert MASK in out
    assert redact(lines[0]) == "Output #0, flv, to 'rtmp://host:1935/app/****':"
    assert redact("nothing secret here") == "nothing secret here"
    spaced = Redactor("rtmp://host/app/a key/é")
    assert spaced("x a%20key/%C3%A9 y") == "x **** y"
    assert spaced("x a key/é y") == "x **** y"


def test_ffmpeg_command_copies_over_tcp_and_takes_the_destination_last() -> None:
    dest = f"rtmp://host/app/{KEY}"
    cmd = ffmpeg_command(IN, dest, "/usr/bin/ffmpeg")
    assert cmd[0] == "/usr/bin/ffmpeg"
    assert cmd[-1] == dest
    assert sum(KEY in arg for arg in cmd) == 1
    joined = " ".join(cmd)
    assert "-rtsp_transport tcp" in joined
    assert f"-i {IN}" in joined
    assert "-c copy" in joined
    assert "-f flv" in joined
    assert "-progress pipe:1" in joined


def test_parse_progress() -> None:
    text = [
        "frame=10\n",
        "total_size=1000\n",
        "progress=continue\n",
        "total_size=N/A\n",
        "total_size=2500\n",
    ]
    assert list(parse_progress(text)) == [1000, 2500]


def test_destination_comes_from_the_environment_only(capsys: pytest.CaptureFixture[str]) -> None:
    env = {
        "LSO_DESTINATION_URL": f"rtmp://host/app/{KEY}",
        "LSO_INPUT_URL": IN,
        "LSO_DESTINATION_NAME": "yt",
    }
    cfg = parse_args([], env)
    assert cfg == ForwarderConfig(IN, f"rtmp://host/app/{KEY}", "yt", 0)
    assert parse_args(["--name", "other"], env).name == "other"
    with pytest.raises(SystemExit):
        parse_args(["--destination", "rtmp://x/y/z"], env)
    with pytest.raises(SystemExit):
        parse_args([], {"LSO_INPUT_URL": IN})
    with pytest.raises(SystemExit):
        parse_args([], {**env, "LSO_DESTINATION_URL": f"http://host/app/{KEY}"})
    assert KEY not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args([], {**env, "LSO_INPUT_URL": "rtmp://x/live/a/out"})
    with pytest.raises(SystemExit):
        parse_args([], {**env, "LSO_METRICS_PORT": "http"})
    assert parse_args([], {**env, "LSO_METRICS_PORT": "9101"}).metrics_port == 9101


FAKE_FFMPEG = """\
import sys, time
print("total_size=1000", flush=True)
print("progress=continue", flush=True)
print("[rtmp @ 0x1] " + sys.argv[-1] + ": Connection refused", file=sys.stderr, flush=True)
time.sleep(float(sys.argv[1]) if sys.argv[1].replace('.', '').isdigit() else 0.05)
sys.exit(1)
"""


def test_supervisor_retries_until_exhausted_stays_up_and_retries_now(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "ffmpeg.py"
    script.write_text(FAKE_FFMPEG)
    cfg = ForwarderConfig(
        IN, f"rtmp://host/app/{KEY}", "test", policy=Policy(2, 0.05, 0.1), token="t0ken"
    )
    metrics = ForwarderMetrics("test")
    fwd = Forwarder(cfg, metrics, ffmpeg="unused")
    fwd.command = [sys.executable, str(script), "0.05", cfg.destination_url]
    caplog.set_level(logging.INFO, logger="livestream_operator.forwarder")
    thread = threading.Thread(target=fwd.run)
    thread.start()
    try:
        seen = []
        deadline = time.monotonic() + 20
        while fwd.report().state is not DestinationState.EXHAUSTED:
            report = fwd.report()
            if report.state is DestinationState.RETRYING and report.retries not in seen:
                seen.append(report.retries)
            assert time.monotonic() < deadline, fwd.report()
            time.sleep(0.01)
        report = fwd.report()
        assert (report.retries, report.max_retries) == (2, 2)
        assert report.last_error == "[rtmp] rtmp://host/app/****: Connection refused"
        assert report.next_retry_time is None
        assert seen[-1] == 2
        # Exhausted: the process stays up and runs no ffmpeg until told.
        restarts = metrics.registry.get_sample_value("lso_forwarder_restarts_total")
        time.sleep(0.5)
        assert thread.is_alive()
        assert metrics.registry.get_sample_value("lso_forwarder_restarts_total") == restarts
        assert metrics.registry.get_sample_value("lso_forwarder_exhausted") == 1
        # Retry-now over HTTP, with the operator's token only.
        assert endpoint.retry(fwd, cfg.token, "Bearer wrong").status == 401
        assert endpoint.retry(fwd, cfg.token, None).status == 401
        answer = endpoint.retry(fwd, cfg.token, "Bearer t0ken")
        assert answer.status == 200
        assert json.loads(answer.body)["retried"] is True
        deadline = time.monotonic() + 10
        while metrics.registry.get_sample_value("lso_forwarder_restarts_total") == restarts:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        body = json.loads(endpoint.report(fwd).body)
        assert body["maxRetries"] == 2
        assert body["state"] in ("Connecting", "Retrying", "Active")
    finally:
        fwd.stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert metrics.registry.get_sample_value("lso_forwarder_up") == 0
    assert (metrics.registry.get_sample_value("lso_forwarder_output_bytes_total") or 0) >= 1000
    assert KEY not in caplog.text
    assert "t0ken" not in caplog.text
    assert "rtmp://host/app/****: Connection refused" in caplog.text
    assert "destination exhausted after 2 retries" in caplog.text


def test_input_errors_are_told_apart_and_lose_their_credentials() -> None:
    cfg = ForwarderConfig(
        IN, f"rtmp://host/app/{KEY}", "t", media_user="lso-forwarder", media_password="pw-1234"
    )
    fwd = Forwarder(cfg, ForwarderMetrics("t"), ffmpeg="unused")
    line = f"{cfg.authenticated_input}: Server returned 404 Not Found"
    assert fwd.about_input(line)
    assert fwd.clean(line) == f"{IN}: Server returned 404 Not Found"
    assert fwd.about_input("[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found")
    assert not fwd.about_input(f"rtmp://host/app/{KEY}: Connection refused")
    assert "pw-1234" not in fwd.clean("auth pw-1234 failed")


def test_supervisor_stop_terminates_a_running_ffmpeg(tmp_path: Path) -> None:
    script = tmp_path / "ffmpeg.py"
    script.write_text(FAKE_FFMPEG)
    cfg = ForwarderConfig(IN, f"rtmp://host/app/{KEY}", "test")
    fwd = Forwarder(cfg, ForwarderMetrics("test"), ffmpeg="unused")
    fwd.command = [sys.executable, str(script), "60", cfg.destination_url]
    thread = threading.Thread(target=fwd.run)
    thread.start()
    time.sleep(1.0)
    started = time.monotonic()
    fwd.stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
