"""Pydantic's JSON schemas without their indirections.

Two schemas are generated from the types: the CRD's (api/crd.py) and the Helm
chart's values.schema.json (chart_values.py). Neither consumer takes pydantic's
`$ref`s into `$defs` or its `anyOf [X, null]` for an optional field, so both start
from the same inlined form and then apply their own rules.
"""

from __future__ import annotations

from typing import Any

_SUBSCHEMA_MAPS = ("properties", "patternProperties")
_SUBSCHEMAS = ("items", "additionalProperties")


def inline(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The schema with each $ref replaced by its definition (the referring field's own
    keywords, such as its description, win), an optional X as X, and no titles."""
    if "$ref" in schema:
        target = defs[schema["$ref"].split("/")[-1]]
        return inline({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    if "anyOf" in schema:
        variants = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"unsupported union in a generated schema: {schema}")
        return inline({**variants[0], **{k: v for k, v in schema.items() if k != "anyOf"}}, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs"):
            continue
        if key in _SUBSCHEMA_MAPS:
            out[key] = {name: inline(sub, defs) for name, sub in value.items()}
        elif key in _SUBSCHEMAS and isinstance(value, dict):
            out[key] = inline(value, defs)
        else:
            out[key] = value
    return out


def model_schema(model: type[Any], **kwargs: Any) -> dict[str, Any]:
    """A pydantic model's validation schema, wire (alias) names, inlined."""
    raw: dict[str, Any] = model.model_json_schema(by_alias=True, mode="validation", **kwargs)
    return inline(raw, raw.get("$defs", {}))
