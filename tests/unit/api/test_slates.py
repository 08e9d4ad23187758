"""Named slates: what the chart may declare, and how their files are named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from livestream_operator.api.pod_contract import OUTPUT_AUDIO
from livestream_operator.api.slates import (
    AUDIO_FORMATS,
    SLATES,
    SlateAudio,
    SlateSpec,
    file_name,
    file_path,
    rgb,
)
from livestream_operator.api.v1alpha1 import InputLossSpec


@pytest.mark.parametrize(
    "slate",
    [
        {"colour": "#000000"},
        {"colour": "#3366CC", "audio": "tone"},
        {"image": {"configMap": "my-slates", "key": "bars.png"}, "audio": "silence"},
    ],
)
def test_a_slate_is_a_colour_or_an_image(slate: dict[str, Any]) -> None:
    assert SLATES.validate_python({"s": slate})["s"].wire() == {"audio": "silence", **slate}


@pytest.mark.parametrize(
    "slate",
    [
        {},
        {"colour": "#000000", "image": {"configMap": "a", "key": "b"}},
        {"colour": "#00000"},
        {"colour": "000000"},
        {"colour": "#0000000"},
        {"colour": "#00000g"},
        {"colour": "#000000\n"},
        {"colour": "black"},
        {"image": {"configMap": "Bad_Name", "key": "b"}},
        {"image": {"configMap": "a", "key": "b/c"}},
        {"colour": "#000000", "audio": "beep"},
        {"colour": "#000000", "size": "720p"},
    ],
)
def test_what_is_not_a_slate_is_refused(slate: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SLATES.validate_python({"s": slate})


@pytest.mark.parametrize("name", ["Black", "-black", "black-", "a_b", "a" * 64, ""])
def test_slate_names_are_dns_labels(name: str) -> None:
    with pytest.raises(ValidationError):
        SLATES.validate_python({name: {"colour": "#000000"}})


@pytest.mark.parametrize("slate", ["", "black", "a" * 63])
def test_a_stream_names_a_slate_or_none(slate: str) -> None:
    assert InputLossSpec.model_validate({"slate": slate}).slate == slate


@pytest.mark.parametrize("slate", ["Black", "a" * 64, "a b"])
def test_a_stream_naming_no_dns_label_is_refused(slate: str) -> None:
    with pytest.raises(ValidationError):
        InputLossSpec.model_validate({"slate": slate})


def test_a_file_per_audio_format_a_worker_publishes() -> None:
    assert set(AUDIO_FORMATS) == set(OUTPUT_AUDIO.values())
    assert len(AUDIO_FORMATS) == len(set(AUDIO_FORMATS))


def test_file_names_are_keyed_by_the_declaration_and_the_format() -> None:
    blue = SlateSpec(colour="#3366cc")
    name = file_name("blue", blue, 44100, 2)
    assert name.startswith("blue-44100-2ch-")
    assert name.endswith(".mp4")
    assert file_name("blue", SlateSpec(colour="#3366cc"), 44100, 2) == name  # stable
    others = {
        file_name("blue", blue, 48000, 2),
        file_name("blue", SlateSpec(colour="#3366cd"), 44100, 2),
        file_name("blue", SlateSpec(colour="#3366cc", audio=SlateAudio.TONE), 44100, 2),
    }
    assert name not in others
    assert len(others) == 3


def test_file_path_is_none_for_the_built_in_slate() -> None:
    slates = SLATES.validate_python({"blue": {"colour": "#3366cc"}})
    assert file_path(slates, "blue", 44100, 2) == "/slates/" + file_name(
        "blue", slates["blue"], 44100, 2
    )
    assert file_path(slates, None, 44100, 2) is None
    assert file_path(slates, "", 44100, 2) is None
    assert file_path(slates, "red", 44100, 2) is None


def test_rgb() -> None:
    assert rgb("#3366cC") == (0x33, 0x66, 0xCC)
