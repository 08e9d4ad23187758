"""Typed views of the Pods the operator watches: the few fields the plan reads.

Pods are core objects the operator creates from plain manifests (pods.py); what
comes back from the watch is parsed into these views once, so the plan reads
attributes instead of nested dict keys. Unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..api.v1alpha1 import Time, camel


class _View(BaseModel):
    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="ignore", frozen=True
    )


class OwnerReference(_View):
    uid: str = ""


class PodMeta(_View):
    name: str
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)


class StateDetail(_View):
    reason: str | None = None
    message: str | None = None
    started_at: Time | None = None


class ContainerState(_View):
    waiting: StateDetail | None = None
    running: StateDetail | None = None
    terminated: StateDetail | None = None


class ContainerStatus(_View):
    name: str
    ready: bool = False
    restart_count: int = 0
    state: ContainerState = Field(default_factory=ContainerState)


class PodStatus(_View):
    phase: str = "Pending"
    pod_ip: str | None = Field(default=None, alias="podIP")
    reason: str | None = None
    message: str | None = None
    container_statuses: list[ContainerStatus] = Field(default_factory=list)


class ObservedPod(_View):
    metadata: PodMeta
    status: PodStatus = Field(default_factory=PodStatus)

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ObservedPod:
        return cls.model_validate(body)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def terminating(self) -> bool:
        return self.metadata.deletion_timestamp is not None

    @property
    def finished(self) -> bool:
        return self.status.phase in ("Failed", "Succeeded")

    @property
    def ready(self) -> bool:
        containers = self.status.container_statuses
        return (
            self.status.phase == "Running" and bool(containers) and all(c.ready for c in containers)
        )

    def owned_by(self, uid: str | None) -> bool:
        return any(o.uid == uid for o in self.metadata.owner_references)
