"""Named slates: what live/<id>/out shows while no worker publishes to it, when
a LiveStream names one (spec.inputLoss.slate) instead of MediaMTX's built-in
"STREAM IS OFFLINE".

A slate is declared once, in the chart's values (`slates:`). The chart hands the
same JSON to the renderer (the MediaMTX Pod's init container, which writes one
MP4 per slate and audio format) and to the operator (LSO_SLATES), and both name
a slate's file with file_name() here. The name is keyed by what the slate is
made of: MediaMTX reads a file's tracks (SPS/PPS, AAC config) when a path is
created, so a slate that changes must be a new file, which makes the operator
replace the entries that use it rather than play new samples under old tracks.

One file per audio format a worker publishes (OUTPUT_AUDIO): MediaMTX takes a
publisher on an always-available path only if its tracks match the file's
(H.264, and AAC at exactly that rate and channel count).
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, TypeAdapter, model_validator

from .pod_contract import OUTPUT_AUDIO
from .v1alpha1 import DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN, WireModel

# Where the MediaMTX container finds the rendered files (an emptyDir, read-only).
SLATE_DIR = "/slates"
# MediaMTX's own offline slate: the picture every slate is rendered at.
WIDTH, HEIGHT, FPS = 1920, 1080, 30
COLOUR_PATTERN = r"^#[0-9a-fA-F]{6}$"
# Bumped when the renderer's output changes for the same declaration, so that
# file names (and with them the path entries) change too.
RENDER_VERSION = 1
# The AAC formats workers publish: a file of each per slate.
AUDIO_FORMATS: tuple[tuple[int, int], ...] = tuple(sorted(set(OUTPUT_AUDIO.values())))

SlateName = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, max_length=63)]


class SlateAudio(StrEnum):
    SILENCE = "silence"
    TONE = "tone"  # 1 kHz at -20 dBFS, the line-up tone of broadcast slates


class ConfigMapKeyRef(WireModel):
    """An image (PNG or JPEG) in a ConfigMap's binaryData, in the release namespace."""

    config_map: str = Field(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)
    key: str = Field(pattern=SECRET_KEY_PATTERN)


class SlateSpec(WireModel):
    """One slate: a colour or an image, scaled and padded (black) to 1920x1080."""

    colour: str | None = Field(
        default=None, pattern=COLOUR_PATTERN, description="A solid colour, #RRGGBB."
    )
    image: ConfigMapKeyRef | None = Field(
        default=None, description="A PNG or JPEG from a ConfigMap's binaryData."
    )
    audio: SlateAudio = Field(default=SlateAudio.SILENCE, description="silence or tone.")

    @model_validator(mode="after")
    def _one_picture(self) -> Self:
        if (self.colour is None) == (self.image is None):
            raise ValueError("a slate has exactly one of colour and image")
        return self


Slates = dict[SlateName, SlateSpec]
SLATES: TypeAdapter[Slates] = TypeAdapter(Slates)


def rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour[1:], 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def file_name(name: str, slate: SlateSpec, sample_rate: int, channels: int) -> str:
    """The rendered file of a slate in one audio format, keyed by its declaration."""
    declared = {
        "version": RENDER_VERSION,
        "slate": slate.wire(),
        "audio": [sample_rate, channels],
    }
    digest = hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()[:12]
    return f"{name}-{sample_rate}-{channels}ch-{digest}.mp4"


def file_path(slates: Slates, name: str | None, sample_rate: int, channels: int) -> str | None:
    """Where MediaMTX reads a named slate; None for the built-in one (no name, or
    a name the chart does not declare)."""
    slate = slates.get(name) if name else None
    if slate is None:
        return None
    return f"{SLATE_DIR}/{file_name(name or '', slate, sample_rate, channels)}"
