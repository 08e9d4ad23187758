"""`mtx-hook segment-complete`: the body it builds from a real file, and its
delivery as a real process against the local server of test_mtx_hook.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from livestream_operator.ingest import mtx_hook
from tests.unit.ingest import test_mtx_hook
from tests.unit.ingest.test_mtx_hook import TOKEN, Recorder, run

server = test_mtx_hook.server  # the recording HTTP server, as a fixture here too

NAME = "2026-12-01_16-50-46-404475.mp4"


@pytest.fixture
def segment_file(tmp_path: Path) -> Path:
    directory = tmp_path / "recordings/live/cam/in"
    directory.mkdir(parents=True)
    path = directory / NAME
    path.write_bytes(b"\x00" * 12345)
    return path


def payload(env: dict[str, str]) -> dict[str, Any]:
    raw = mtx_hook.build_segment_payload(env)
    raw.decode("ascii")  # ensure_ascii: safe whatever the file name
    data: dict[str, Any] = json.loads(raw)
    return data


def segment_env(path: Path | str, **extra: str) -> dict[str, str]:
    return {
        "MTX_PATH": "live/cam/in",
        "MTX_SEGMENT_PATH": str(path),
        "MTX_SEGMENT_DURATION": "600.123456",
        **extra,
    }


def test_the_body_carries_the_files_size_and_the_free_space(segment_file: Path) -> None:
    body = payload(segment_env(segment_file))
    assert body["path"] == "live/cam/in"
    assert body["segmentPath"] == str(segment_file)
    assert body["segmentDuration"] == 600.123456
    assert body["bytes"] == 12345 == segment_file.stat().st_size
    free = body["freeBytes"]
    assert isinstance(free, int)
    assert not isinstance(free, bool)
    assert free >= 0
    fs = os.statvfs(segment_file.parent)
    assert free <= fs.f_blocks * fs.f_frsize  # of the segment's volume
    assert set(body) == {"path", "segmentPath", "segmentDuration", "bytes", "freeBytes"}


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("600", 600.0),
        ("0.5", 0.5),
        ("0", 0.0),
        ("nan", 0.0),
        ("NaN", 0.0),
        ("inf", 0.0),
        ("-inf", 0.0),
        ("-1", 0.0),
        ("1e7", 0.0),
        ("1e400", 0.0),
        ("soon", 0.0),
        ("", 0.0),
        ("10m", 0.0),
    ],
)
def test_the_duration_is_a_finite_number_or_zero(
    segment_file: Path, raw: str, seconds: float
) -> None:
    body = payload(segment_env(segment_file, MTX_SEGMENT_DURATION=raw))
    assert body["segmentDuration"] == seconds


def test_a_missing_duration_is_zero(segment_file: Path) -> None:
    env = segment_env(segment_file)
    del env["MTX_SEGMENT_DURATION"]
    assert payload(env)["segmentDuration"] == 0.0


@pytest.mark.parametrize("missing", ["MTX_SEGMENT_PATH", "MTX_PATH"])
def test_without_the_segment_or_the_path_it_is_a_bad_invocation(
    segment_file: Path, missing: str
) -> None:
    env = segment_env(segment_file)
    del env[missing]
    with pytest.raises(mtx_hook.HookError, match="runOnRecordSegmentComplete") as info:
        mtx_hook.build_segment_payload(env)
    assert info.value.code == 2
    env[missing] = ""
    with pytest.raises(mtx_hook.HookError):
        mtx_hook.build_segment_payload(env)


def test_a_vanished_file_is_zero_bytes_on_the_same_volume(segment_file: Path) -> None:
    segment_file.unlink()  # retention got to it first
    body = payload(segment_env(segment_file))
    assert body["bytes"] == 0
    assert isinstance(body["freeBytes"], int)


def test_a_vanished_directory_has_no_free_space_to_report(tmp_path: Path) -> None:
    body = payload(segment_env(tmp_path / "gone/live/cam/in" / NAME))
    assert body["bytes"] == 0
    assert "freeBytes" not in body


def test_undecodable_bytes_in_the_segment_path_still_make_valid_json(tmp_path: Path) -> None:
    # os.environ gives undecodable bytes as lone surrogates.
    weird = str(tmp_path) + "/rec\udcff/live/cam/in/" + NAME
    body = payload(segment_env(weird))
    assert body["segmentPath"] == str(tmp_path) + "/rec\ufffd/live/cam/in/" + NAME


def test_segment_complete_posts_to_its_endpoint(
    server: tuple[str, Recorder], segment_file: Path
) -> None:
    url, rec = server
    r = run(["segment-complete"], {"LSO_HOOK_URL": url, **segment_env(segment_file)})
    assert r.returncode == 0, r.stderr
    (req,) = rec.requests
    assert req["path"] == "/v1/mediamtx/events/segment-complete"
    assert req["authorization"] == f"Bearer {TOKEN}"
    assert req["request_id"]
    body = req["body"]
    assert (body["path"], body["segmentPath"], body["bytes"]) == (
        "live/cam/in",
        str(segment_file),
        12345,
    )
    assert body["segmentDuration"] == 600.123456
    assert isinstance(body["freeBytes"], int)


def test_run_in_process_posts_the_segment(server: tuple[str, Recorder], segment_file: Path) -> None:
    url, rec = server
    env = {"LSO_HOOK_URL": url, "LSO_HOOK_TOKEN": TOKEN, **segment_env(segment_file)}
    assert mtx_hook.run(["segment-complete"], env) == 0
    (req,) = rec.requests
    assert req["path"] == "/v1/mediamtx/events/segment-complete"
    assert req["body"]["bytes"] == 12345


def test_segment_complete_without_the_segment_exits_2(server: tuple[str, Recorder]) -> None:
    url, rec = server
    r = run(["segment-complete"], {"LSO_HOOK_URL": url, "MTX_PATH": "live/cam/in"})
    assert r.returncode == 2
    assert "MTX_SEGMENT_PATH" in r.stderr
    assert "Traceback" not in r.stderr
    assert rec.requests == []


def test_a_refused_segment_is_final(server: tuple[str, Recorder], segment_file: Path) -> None:
    url, rec = server
    rec.status = 422
    r = run(["segment-complete"], {"LSO_HOOK_URL": url, **segment_env(segment_file)})
    assert r.returncode == 1
    assert len(rec.requests) == 1
    assert "HTTP 422: nope" in r.stderr
