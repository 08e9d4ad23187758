"""Kubernetes Event manifests about a LiveStream (pure): the reconcile loop and the
receiver both post them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .api.v1alpha1 import LiveStream, format_time

COMPONENT = "livestream-operator"
MAX_MESSAGE = 1024


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class KubeEvent:
    """An Event to post: what happened to the LiveStream and why."""

    type: EventType
    reason: str
    message: str


def event_manifest(livestream: LiveStream, event: KubeEvent, now: datetime) -> dict[str, Any]:
    meta = livestream.metadata
    ts = format_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.name}.", "namespace": meta.namespace},
        "involvedObject": {
            "apiVersion": livestream.api_version,
            "kind": livestream.kind,
            "name": meta.name,
            "namespace": meta.namespace,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
        },
        "type": event.type.value,
        "reason": event.reason,
        "message": event.message[:MAX_MESSAGE],
        "source": {"component": COMPONENT},
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "count": 1,
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
    }
