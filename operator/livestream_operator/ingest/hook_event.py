"""The hook contract: what MediaMTX's wrapper (mtx_hook.py) POSTs to the receiver."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ..api.v1alpha1 import camel


class HookKind(StrEnum):
    """Which MediaMTX path hook fired: runOnAvailable or runOnUnavailable."""

    READY = "ready"
    NOT_READY = "not-ready"


class HookEvent(BaseModel):
    """The body MediaMTX's hook wrapper POSTs: {path, query, sourceType, sourceId}.

    Unknown fields are ignored so that a newer wrapper can add some.
    """

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="ignore", frozen=True
    )

    path: str = Field(min_length=1, max_length=1024)
    query: str = Field(default="", max_length=8192)
    source_type: str = Field(default="", max_length=64)
    source_id: str = Field(default="", max_length=256)
