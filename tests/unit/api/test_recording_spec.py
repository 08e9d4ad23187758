"""spec.recording: its defaults, what it refuses and why, and the CRD rules that
make the API server refuse the same."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from livestream_operator.api import crd
from livestream_operator.api.v1alpha1 import (
    DURATION_PATTERN,
    MAX_RETENTION_SECONDS,
    MAX_SEGMENT_SECONDS,
    MIN_RETENTION_SECONDS,
    MIN_SEGMENT_SECONDS,
    RECORDING_PATHS_MESSAGE,
    RETENTION_MESSAGE,
    SEGMENT_DURATION_MESSAGE,
    LiveStreamSpec,
    RecordedPath,
    RecordFormat,
    RecordingSpec,
    duration_seconds,
    go_duration,
)


def test_defaults() -> None:
    spec = RecordingSpec()
    assert spec.enabled is False
    assert spec.paths == [RecordedPath.IN]
    assert spec.format is RecordFormat.FMP4
    assert spec.segment_duration == "10m"
    assert spec.retention == "24h"
    assert RecordingSpec.model_validate({}).wire() == {
        "enabled": False,
        "paths": ["in"],
        "format": "fmp4",
        "segmentDuration": "10m",
        "retention": "24h",
    }


def test_a_livestream_records_nothing_unless_asked() -> None:
    assert LiveStreamSpec(stream_id="cam").recording is None
    spec = LiveStreamSpec.model_validate({"streamId": "cam", "recording": {"enabled": True}})
    assert spec.recording == RecordingSpec(enabled=True)


def test_every_field_reads_from_the_wire() -> None:
    spec = RecordingSpec.model_validate(
        {
            "enabled": True,
            "paths": ["out", "in"],
            "format": "mpegts",
            "segmentDuration": "1h30m",
            "retention": "8784h",
        }
    )
    assert spec.paths == [RecordedPath.OUT, RecordedPath.IN]
    assert spec.format is RecordFormat.MPEGTS
    assert duration_seconds(spec.segment_duration) == 5400
    assert duration_seconds(spec.retention) == MAX_RETENTION_SECONDS


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("10m", 600),
        ("24h", 86400),
        ("90s", 90),
        ("1h30m", 5400),
        ("1h1m1s", 3661),
        ("0h0m1s", 1),
        ("0s", 0),
        ("8784h", 366 * 86400),
        ("99999s", 99999),
    ],
)
def test_duration_seconds(value: str, seconds: int) -> None:
    assert re.fullmatch(DURATION_PATTERN, value)
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("segmentDuration", "1s"),
        ("segmentDuration", "24h"),
        ("segmentDuration", "23h59m59s"),
        ("segmentDuration", "1440m"),
        ("retention", "10s"),
        ("retention", "8784h"),
        ("retention", "366h"),
        ("paths", ["out"]),
        ("paths", ["in", "out"]),
        ("format", "mpegts"),
    ],
)
def test_the_bounds_are_accepted(field: str, value: Any) -> None:
    # With the other duration at its bound, so that retention >= segmentDuration holds.
    other = {"segmentDuration": "1s"} if field == "retention" else {"retention": "8784h"}
    RecordingSpec.model_validate({**other, field: value})


@pytest.mark.parametrize(
    ("segment", "retention", "cap", "effective"),
    [
        ("10m", "10m", "168h", ("10m", "10m")),
        ("10m", "1h", "168h", ("10m", "1h")),
        ("10m", "720h", "168h", ("10m", "168h")),  # capped by the operator
        ("1h", "10m", "168h", ("10m", "10m")),  # stored before the CEL rule
        ("2h", "24h", "90m", ("90m", "90m")),  # a cap under the segment
    ],
)
def test_mediamtx_gets_no_segment_longer_than_the_retention(
    segment: str, retention: str, cap: str, effective: tuple[str, str]
) -> None:
    # MediaMTX refuses recordDeleteAfter below recordSegmentDuration; objects that
    # break the CRD's rule (stored before it) still parse, and are made to fit.
    spec = RecordingSpec.model_validate({"segmentDuration": segment, "retention": retention})
    assert spec.effective(cap) == effective


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("segmentDuration", "0s", SEGMENT_DURATION_MESSAGE),
        ("segmentDuration", "25h", SEGMENT_DURATION_MESSAGE),
        ("segmentDuration", "24h1s", SEGMENT_DURATION_MESSAGE),
        ("segmentDuration", "10", "should match pattern"),  # no unit
        ("segmentDuration", "1d", "should match pattern"),  # no days: Go has none
        ("segmentDuration", "1h30", "should match pattern"),
        ("segmentDuration", "10M", "should match pattern"),
        ("segmentDuration", "1.5h", "should match pattern"),
        ("segmentDuration", "-1s", "should match pattern"),
        ("segmentDuration", "30s1m", "should match pattern"),  # out of order
        ("segmentDuration", "", "at least 2 characters"),
        ("segmentDuration", 600, "valid string"),
        ("retention", "5s", RETENTION_MESSAGE),
        ("retention", "9000h", RETENTION_MESSAGE),
        ("retention", "8784h1s", RETENTION_MESSAGE),
        ("retention", "30d", "should match pattern"),
        ("paths", [], "at least 1 item"),
        ("paths", ["in", "in"], RECORDING_PATHS_MESSAGE),
        ("paths", ["in", "out", "in"], "at most 2 items"),
        ("paths", ["sideways"], "'in' or 'out'"),
        ("paths", "in", "valid list"),
        ("format", "mkv", "'fmp4' or 'mpegts'"),
        ("enabled", "sometimes", "valid boolean"),
    ],
)
def test_refusals_name_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        RecordingSpec.model_validate({field: value})
    (error,) = info.value.errors()
    assert error["loc"][0] == field
    assert message in error["msg"]
    # What the API server's caller reads names the field too.
    assert field in str(info.value)


def test_the_messages_name_the_spec_field() -> None:
    assert "spec.recording.segmentDuration" in SEGMENT_DURATION_MESSAGE
    assert "spec.recording.retention" in RETENTION_MESSAGE
    assert "spec.recording.paths" in RECORDING_PATHS_MESSAGE


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="segmentLength"):
        RecordingSpec.model_validate({"segmentLength": "10m"})


def test_a_refusal_inside_a_livestream_spec_names_the_whole_path() -> None:
    with pytest.raises(ValidationError) as info:
        LiveStreamSpec.model_validate(
            {"streamId": "cam", "recording": {"enabled": True, "retention": "5s"}}
        )
    (error,) = info.value.errors()
    assert error["loc"] == ("recording", "retention")


# --------------------------------------------------------------------------- CRD


def _recording_schema() -> dict[str, Any]:
    (version,) = crd.crd()["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _cel_bounds(rule: str) -> list[float | None]:
    return [duration_seconds(d) for d in re.findall(r"duration\('([^']+)'\)", rule)]


@pytest.mark.parametrize(
    ("field", "bounds", "message"),
    [
        ("segmentDuration", [MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS], SEGMENT_DURATION_MESSAGE),
        ("retention", [MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS], RETENTION_MESSAGE),
    ],
)
def test_the_crd_checks_the_duration_bounds_with_cel(
    field: str, bounds: list[int], message: str
) -> None:
    prop = _recording_schema()["properties"]["spec"]["properties"]["recording"]["properties"][field]
    assert prop["type"] == "string"
    assert prop["pattern"] == DURATION_PATTERN
    (rule,) = prop["x-kubernetes-validations"]
    assert rule["message"] == message
    assert rule["rule"].startswith("duration(self) >= ")
    assert " && duration(self) <= " in rule["rule"]
    # The same bounds as the pydantic validators.
    assert _cel_bounds(rule["rule"]) == bounds


def test_the_crd_declares_paths_a_set_of_in_and_out() -> None:
    recording = _recording_schema()["properties"]["spec"]["properties"]["recording"]
    paths = recording["properties"]["paths"]
    assert paths["x-kubernetes-list-type"] == "set"
    assert (paths["minItems"], paths["maxItems"]) == (1, 2)
    assert paths["items"]["enum"] == ["in", "out"]
    assert recording["properties"]["format"]["enum"] == ["fmp4", "mpegts"]
    assert {k: v["default"] for k, v in recording["properties"].items() if "default" in v} == {
        "enabled": False,
        "paths": ["in"],
        "format": "fmp4",
        "segmentDuration": "10m",
        "retention": "24h",
    }


def test_the_crd_keys_status_recording_paths_by_path() -> None:
    status = _recording_schema()["properties"]["status"]["properties"]["recording"]
    paths = status["properties"]["paths"]
    assert paths["x-kubernetes-list-type"] == "map"
    assert paths["x-kubernetes-list-map-keys"] == ["path"]
    assert "path" in paths["items"]["required"]


@pytest.mark.parametrize("seconds", [1, 10, 59, 60, 90, 3600, 3661, 86400, 366 * 86400])
def test_go_duration_spells_whole_seconds_as_the_pattern_reads_them(seconds: int) -> None:
    spelled = go_duration(seconds)
    assert re.fullmatch(DURATION_PATTERN, spelled)
    assert duration_seconds(spelled) == seconds


def test_the_messages_spell_the_bounds_the_validators_use() -> None:
    assert f"between {go_duration(MIN_SEGMENT_SECONDS)} and " in SEGMENT_DURATION_MESSAGE
    assert SEGMENT_DURATION_MESSAGE.endswith(f" and {go_duration(MAX_SEGMENT_SECONDS)}")
    assert RETENTION_MESSAGE.endswith(
        f"between {go_duration(MIN_RETENTION_SECONDS)} and {go_duration(MAX_RETENTION_SECONDS)}"
        f" ({MAX_RETENTION_SECONDS // 86400} days)"
    )
