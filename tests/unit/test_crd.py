"""One source of truth: crds/ and the chart's copy are what the models generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from livestream_operator import crd, models

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path", ["crds/livestreams.yaml", "charts/livestream-operator/crds/livestreams.yaml"]
)
def test_committed_crd_matches_the_models(path: str) -> None:
    committed = REPO / path
    assert committed.exists(), f"{path} is missing: run `make crd`"
    assert committed.read_text() == crd.render(), f"{path} drifted from the models: run `make crd`"


def _walk(schema: dict[str, Any], path: str = "") -> list[str]:
    found = []
    for key in ("$ref", "anyOf", "title", "$defs"):
        if key in schema:
            found.append(f"{path}: {key}")
    if schema.get("additionalProperties") is False:
        found.append(f"{path}: additionalProperties false")
    for name, sub in (schema.get("properties") or {}).items():
        found += _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _walk(schema["items"], f"{path}[]")
    return found


def test_schema_is_structural() -> None:
    schema = crd.openapi_schema()
    assert _walk(schema) == []


def test_every_status_field_is_declared() -> None:
    status = crd.openapi_schema()["properties"]["status"]["properties"]
    aliases = {f.alias for f in models.LiveStreamStatus.model_fields.values()}
    assert aliases == set(status)
    assert "x-kubernetes-preserve-unknown-fields" not in yaml.safe_dump(status)
