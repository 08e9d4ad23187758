"""Generate the LiveStream CustomResourceDefinition from the pydantic models."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from . import v1alpha1 as models

# Rules the OpenAPI subset cannot say, checked by the API server with CEL. Each
# message names the field so `kubectl apply` tells the user what to fix. (List
# types are the fields' own json_schema_extra, in v1alpha1.)
_QUANTITY_RULES = [
    {
        "rule": "self.all(k, k in ['cpu', 'memory', 'ephemeral-storage'])",
        "message": "keys must be cpu, memory or ephemeral-storage",
    },
    {
        "rule": "self.all(k, isQuantity(self[k]))",
        "message": "values must be Kubernetes quantities, e.g. 250m or 128Mi",
    },
]
_EXTRA: dict[tuple[str, ...], dict[str, Any]] = {
    ("spec",): {
        "x-kubernetes-validations": [
            {
                "rule": "!has(oldSelf.streamId) || self.streamId == oldSelf.streamId",
                "message": "spec.streamId is immutable",
                "fieldPath": ".streamId",
            }
        ]
    },
    # So that `-o wide` shows the default mode on LiveStreams that omit worker.
    ("spec", "worker"): {
        "default": {},
        "x-kubernetes-validations": [
            {
                # has(): the API server checks the rule against the default {} too,
                # where mode's own default is not applied.
                "rule": "!has(self.mode) || self.mode != 'process' || has(self.processing)",
                "message": models.PROCESSING_REQUIRED_MESSAGE,
                "fieldPath": ".processing",
            }
        ],
    },
    ("spec", "worker", "processing", "backend"): {
        "x-kubernetes-validations": [
            {"rule": "has(self.url) != has(self.service)", "message": models.BACKEND_TARGET_MESSAGE}
        ]
    },
    # The pattern says the form; CEL's duration() the bounds (the pydantic validators').
    ("spec", "recording", "segmentDuration"): {
        "x-kubernetes-validations": [
            {
                "rule": "duration(self) >= duration('1s') && duration(self) <= duration('24h')",
                "message": models.SEGMENT_DURATION_MESSAGE,
            }
        ]
    },
    ("spec", "recording", "retention"): {
        "x-kubernetes-validations": [
            {
                "rule": "duration(self) >= duration('10s') && duration(self) <= duration('8784h')",
                "message": models.RETENTION_MESSAGE,
            }
        ]
    },
    ("spec", "recording"): {
        "x-kubernetes-validations": [
            {
                # has(): both have defaults, which the API server applies first.
                "rule": "!has(self.retention) || !has(self.segmentDuration) || "
                "duration(self.retention) >= duration(self.segmentDuration)",
                "message": models.RETENTION_SEGMENT_MESSAGE,
                "fieldPath": ".retention",
            }
        ]
    },
    ("spec", "worker", "resources", "requests"): {"x-kubernetes-validations": _QUANTITY_RULES},
    ("spec", "worker", "resources", "limits"): {"x-kubernetes-validations": _QUANTITY_RULES},
}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Stream", "type": "string", "jsonPath": ".spec.streamId"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Worker", "type": "string", "jsonPath": ".status.worker.state"},
    {"name": "Forwarder", "type": "string", "jsonPath": ".status.forwarder.ready"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Lifecycle", "type": "string", "jsonPath": ".spec.lifecycle", "priority": 1},
    {"name": "Mode", "type": "string", "jsonPath": ".spec.worker.mode", "priority": 1},
    {"name": "Processing", "type": "string", "jsonPath": ".status.processing.state", "priority": 1},
    {
        "name": "Recording",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Recording")].reason',
        "priority": 1,
    },
    {"name": "Playback", "type": "string", "jsonPath": ".status.playback.out.rtmp", "priority": 1},
    {"name": "Source", "type": "string", "jsonPath": ".status.ingest.sourceType", "priority": 1},
    {"name": "Output", "type": "boolean", "jsonPath": ".status.output.available", "priority": 1},
    # A "date" column prints <invalid> for times in the future; the deadline always is.
    {
        "name": "Grace-Deadline",
        "type": "string",
        "jsonPath": ".status.graceDeadline",
        "priority": 1,
    },
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
]


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nones(v) for v in value]
    return value


def to_structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Turn a pydantic JSON schema into a Kubernetes structural OpenAPI v3 schema.

    Inlines $refs, unwraps Optional (anyOf with null), drops titles and
    `additionalProperties: false` (both rejected or meaningless in CRDs).
    """
    if schema.get("default", 0) is None:  # "absent" is how a CRD says None
        schema = {k: v for k, v in schema.items() if k != "default"}
    if "$ref" in schema:
        target = defs[schema["$ref"].split("/")[-1]]
        merged = {**to_structural(target, defs), **{k: v for k, v in schema.items() if k != "$ref"}}
        return to_structural(merged, defs) if "$ref" in merged else merged
    if "anyOf" in schema:
        variants = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"unsupported union in CRD schema: {schema}")
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return to_structural({**variants[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs"):
            continue
        if key == "additionalProperties":
            if value is False:
                continue
            out[key] = to_structural(value, defs) if isinstance(value, dict) else value
        elif key == "patternProperties":
            # Not structural: the values' schema becomes additionalProperties and
            # the key pattern a CEL rule.
            ((pattern, sub),) = value.items()
            out["additionalProperties"] = to_structural(sub, defs)
            out.setdefault("x-kubernetes-validations", []).append(
                {
                    "rule": f"self.all(k, k.matches({pattern!r}))",
                    "message": f"keys must match {pattern}",
                }
            )
        elif key == "properties":
            out[key] = {name: to_structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = to_structural(value, defs)
        elif key == "default":
            if value is not None:
                out[key] = _drop_nones(value)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def _apply_extras(schema: dict[str, Any], path: tuple[str, ...] = ()) -> None:
    schema.update(_EXTRA.get(path, {}))
    for name, sub in schema.get("properties", {}).items():
        _apply_extras(sub, (*path, name))


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return to_structural(raw, raw.get("$defs", {}))


def openapi_schema() -> dict[str, Any]:
    spec = model_schema(models.LiveStreamSpec)
    status = model_schema(models.LiveStreamStatus)
    spec.pop("required", None)
    spec["required"] = ["streamId"]
    schema: dict[str, Any] = {
        "type": "object",
        "description": "A live stream: RTMP in at live/<streamId>/in, a worker per stream, "
        "processed output at live/<streamId>/out, optional restreaming.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": models.MAX_NAME_LENGTH}},
            },
            "spec": spec,
            "status": status,
        },
    }
    _apply_extras(schema["properties"]["spec"], ("spec",))
    _apply_extras(schema["properties"]["status"], ("status",))
    return schema


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{models.PLURAL}.{models.GROUP}",
            "labels": {"app.kubernetes.io/name": "livestream-operator"},
        },
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": models.KIND,
                "listKind": f"{models.KIND}List",
                "plural": models.PLURAL,
                "singular": models.SINGULAR,
                "shortNames": models.SHORT_NAMES,
                "categories": ["all", "livestream-operator"],
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render() -> str:
    header = "# Generated by `livestream-operator crd` from livestream_operator/api/v1alpha1.py.\n"
    header += "# Do not edit: change the models and run `make crd`.\n"
    return header + yaml.dump(crd(), Dumper=_NoAliases, sort_keys=False, width=100)


class _NoAliases(yaml.SafeDumper):
    """Repeated rules are written out in full: anchors confuse readers and diffs."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
