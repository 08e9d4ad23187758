"""The CRD generated from the API types: structural, every field declared at every depth
(that the committed copies are what it generates: tests/unit/test_generated.py)."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from livestream_operator.api import crd
from livestream_operator.api import v1alpha1 as models


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


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside X, X | None or list[X], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def _drift(model: type[BaseModel], schema: dict[str, Any], path: str) -> list[str]:
    """Fields the types have and the schema lacks, or the other way round, at any depth:
    the API server silently prunes a field its schema does not declare."""
    props = schema.get("properties") or {}
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    problems = [f"{path}.{n}: only in the types" for n in sorted(set(fields) - set(props))]
    problems += [f"{path}.{n}: only in the CRD" for n in sorted(set(props) - set(fields))]
    for name, field in fields.items():
        nested = _nested_model(field.annotation)
        if nested is None or name not in props:
            continue
        sub = props[name]
        problems += _drift(nested, sub.get("items", sub), f"{path}.{name}")
    return problems


@pytest.mark.parametrize(
    ("model", "part"), [(models.LiveStreamSpec, "spec"), (models.LiveStreamStatus, "status")]
)
def test_every_field_is_declared_at_every_depth(model: type[BaseModel], part: str) -> None:
    schema = crd.openapi_schema()["properties"][part]
    assert _drift(model, schema, part) == []
    assert "x-kubernetes-preserve-unknown-fields" not in yaml.safe_dump(schema)


def test_grace_deadline_column_is_readable_while_in_the_future() -> None:
    # kubectl prints a "date" column in the future as <invalid>.
    (column,) = [c for c in crd.PRINTER_COLUMNS if c["jsonPath"] == ".status.graceDeadline"]
    assert column["type"] == "string"
