"""Generate the LiveStream CustomResourceDefinition from the pydantic models."""

from __future__ import annotations

from typing import Any

import yaml

from . import v1alpha1 as models
from .json_schema import model_schema

# Rules the OpenAPI subset cannot say, checked by the API server with CEL. Each
# message names the field so `kubectl apply` tells the user what to fix. (List
# types are the fields' own json_schema_extra, in v1alpha1.)
_QUANTITY_RULES = [
    {
        "rule": f"self.all(k, k in {list(models.RESOURCE_NAMES)!r})",
        "message": f"keys must be {', '.join(models.RESOURCE_NAMES[:-1])} "
        f"or {models.RESOURCE_NAMES[-1]}",
    },
    {
        "rule": "self.all(k, isQuantity(self[k]))",
        "message": "values must be Kubernetes quantities, e.g. 250m or 128Mi",
    },
]


def _duration_between(low: int, high: int) -> str:
    """A CEL rule: the string field is a duration from low to high seconds."""
    bounds = (models.go_duration(low), models.go_duration(high))
    return f"duration(self) >= duration('{bounds[0]}') && duration(self) <= duration('{bounds[1]}')"


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
                "rule": f"!has(self.mode) || self.mode != '{models.WorkerMode.PROCESS}' "
                "|| has(self.processing)",
                "message": models.PROCESSING_REQUIRED_MESSAGE,
                "fieldPath": ".processing",
            }
        ],
    },
    ("spec", "worker", "processing", "backend"): {
        "x-kubernetes-validations": [
            {
                "rule": " != ".join(f"has(self.{name})" for name in models.BACKEND_TARGETS),
                "message": models.BACKEND_TARGET_MESSAGE,
            }
        ]
    },
    # The pattern says the form; CEL's duration() the bounds (the pydantic validators').
    ("spec", "recording", "segmentDuration"): {
        "x-kubernetes-validations": [
            {
                "rule": _duration_between(models.MIN_SEGMENT_SECONDS, models.MAX_SEGMENT_SECONDS),
                "message": models.SEGMENT_DURATION_MESSAGE,
            }
        ]
    },
    ("spec", "recording", "retention"): {
        "x-kubernetes-validations": [
            {
                "rule": _duration_between(
                    models.MIN_RETENTION_SECONDS, models.MAX_RETENTION_SECONDS
                ),
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
    {"name": "Instance", "type": "string", "jsonPath": ".status.ingest.instance", "priority": 1},
    {"name": "Output", "type": "boolean", "jsonPath": ".status.output.available", "priority": 1},
    # A "date" column prints <invalid> for times in the future; the deadline always is.
    {
        "name": "Grace-Deadline",
        "type": "string",
        "jsonPath": ".status.graceDeadline",
        "priority": 1,
    },
    {
        "name": "Resolution",
        "type": "string",
        "jsonPath": ".status.input.video.resolution",
        "priority": 1,
    },
    {"name": "Kbps", "type": "integer", "jsonPath": ".status.input.bitrateKbps", "priority": 1},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
]


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nones(v) for v in value]
    return value


def to_structural(schema: dict[str, Any]) -> dict[str, Any]:
    """Turn an inlined pydantic JSON schema (json_schema.inline) into a Kubernetes
    structural OpenAPI v3 schema: no `additionalProperties: false` (meaningless in a
    CRD, whose unknown fields the API server prunes), no null defaults (absent is how
    a CRD says None)."""
    if schema.get("default", 0) is None:
        schema = {k: v for k, v in schema.items() if k != "default"}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "additionalProperties":
            if value is False:
                continue
            out[key] = to_structural(value) if isinstance(value, dict) else value
        elif key == "patternProperties":
            # Not structural: the values' schema becomes additionalProperties and
            # the key pattern a CEL rule.
            ((pattern, sub),) = value.items()
            out["additionalProperties"] = to_structural(sub)
            out.setdefault("x-kubernetes-validations", []).append(
                {
                    "rule": f"self.all(k, k.matches({pattern!r}))",
                    "message": f"keys must match {pattern}",
                }
            )
        elif key == "properties":
            out[key] = {name: to_structural(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = to_structural(value)
        elif key == "default":
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


def openapi_schema() -> dict[str, Any]:
    spec = to_structural(model_schema(models.LiveStreamSpec))
    status = to_structural(model_schema(models.LiveStreamStatus))
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
    header += "# Do not edit: change the models and run `make generate`.\n"
    return header + yaml.dump(crd(), Dumper=_NoAliases, sort_keys=False, width=100)


class _NoAliases(yaml.SafeDumper):
    """Repeated rules are written out in full: anchors confuse readers and diffs."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
