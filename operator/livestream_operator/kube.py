"""A thin async Kubernetes client for the few calls this project makes.

kubernetes_asyncio does the transport and the credentials (kubeconfig, in-cluster
service account). LiveStreams go in and out as the typed API objects; the core
objects this project only creates or watches (Pods, Events) stay plain manifests.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any
from urllib.parse import quote

from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from yarl import URL

from .api import ownership
from .api import v1alpha1 as api
from .api.ownership import FieldManager
from .api.v1alpha1 import LiveStream, LiveStreamStatus

log = logging.getLogger(__name__)
Body = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply; JSON is YAML


class KubeError(Exception):
    """An API error with the HTTP status and the server's reason."""

    def __init__(
        self, status: int, reason: str, message: str, field_conflicts: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        # Fields another field manager owns that an apply would have changed.
        self.field_conflicts = field_conflicts

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def manager_conflict(self) -> bool:
        """A 409 for another manager's fields, not for a stale resourceVersion:
        reading again does not help."""
        return self.status == 409 and bool(self.field_conflicts)


def _error(exc: ApiException) -> KubeError:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    causes = (body.get("details") or {}).get("causes") or []
    return KubeError(
        int(exc.status or 0),
        body.get("reason", exc.reason or ""),
        body.get("message", str(exc.body or "")),
        tuple(str(c.get("field", "")) for c in causes if c.get("reason") == "FieldManagerConflict"),
    )


def livestreams_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    path = f"/apis/{api.GROUP}/{api.VERSION}/namespaces/{quote(namespace)}/{api.PLURAL}"
    if name:
        path += f"/{quote(name)}"
    if sub:
        path += f"/{sub}"
    return path


def core_path(namespace: str, kind: str, name: str | None = None) -> str:
    path = f"/api/v1/namespaces/{quote(namespace)}/{kind}"
    return f"{path}/{quote(name)}" if name else path


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        request_timeout: float = 10.0,
    ) -> Body:
        try:
            result = await self.api.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                response_types_map={200: "object", 201: "object", 202: "object"},
                _return_http_data_only=True,
                _request_timeout=request_timeout,
            )
        except ApiException as exc:
            raise _error(exc) from None
        return result if isinstance(result, dict) else {}

    # ---------------------------------------------------------------- LiveStreams

    async def get_livestream(self, namespace: str, name: str) -> LiveStream:
        return LiveStream.model_validate(
            await self.request("GET", livestreams_path(namespace, name))
        )

    async def list_livestreams(self, namespace: str) -> list[LiveStream]:
        items = (await self.request("GET", livestreams_path(namespace)))["items"]
        return [LiveStream.model_validate(item) for item in items]

    async def create_livestream(self, namespace: str, livestream: LiveStream) -> LiveStream:
        created = await self.request("POST", livestreams_path(namespace), livestream.manifest())
        return LiveStream.model_validate(created)

    async def apply_livestream_status(
        self,
        read: LiveStream,
        manager: FieldManager,
        status: LiveStreamStatus,
        *,
        conditional: bool = True,
    ) -> LiveStream:
        """Server-side apply `manager`'s fields of `status` (api/ownership.py), only
        those: the API server keeps every other manager's, removes this manager's
        that `status` leaves out, and refuses (409, KubeError.manager_conflict) a
        change to a field another manager owns. `conditional`: only onto the object
        as `read` (409 if it changed since)."""
        namespace, name = read.metadata.namespace or "", read.metadata.name
        version = read.metadata.resource_version
        upgraded = ownership.upgraded_managed_fields(read.metadata.managed_fields)
        if upgraded is not None:
            version = await self._move_fields(namespace, name, upgraded, version)
        updated = await self.request(
            "PATCH",
            livestreams_path(namespace, name, "status"),
            ownership.apply_body(name, manager, status, version if conditional else None),
            query=[("fieldManager", manager.value)],
            content_type=APPLY_PATCH,
        )
        return LiveStream.model_validate(updated)

    async def _move_fields(
        self,
        namespace: str,
        name: str,
        entries: list[api.ManagedFieldsEntry],
        resource_version: str | None,
    ) -> str:
        """Write managedFields as ownership.upgraded_managed_fields made them, on the
        object as read (409 otherwise); returns the new resourceVersion."""
        patch = [
            {
                "op": "replace",
                "path": "/metadata/managedFields",
                "value": [e.model_dump(by_alias=True, exclude_none=True) for e in entries],
            },
            # replace, not test: a stale one is a 409 Conflict, as for any write.
            {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
        ]
        moved = await self.request(
            "PATCH", livestreams_path(namespace, name), patch, content_type=JSON_PATCH
        )
        log.info(
            "status fields of an earlier release moved to their managers",
            extra={"livestream": name},
        )
        return str(moved["metadata"]["resourceVersion"])

    async def remove_annotation(
        self, namespace: str, name: str, key: str, value: str
    ) -> LiveStream:
        """Remove an annotation only while it still holds `value` (a JSON patch test:
        422 when it changed or is gone), so what it asked is done once."""
        path = "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")
        patch = [{"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}]
        updated = await self.request(
            "PATCH", livestreams_path(namespace, name), patch, content_type=JSON_PATCH
        )
        return LiveStream.model_validate(updated)

    async def delete_livestream(
        self, namespace: str, name: str, resource_version: str | None = None
    ) -> None:
        """Delete; with resource_version, only if nothing changed since it was read."""
        opts: Body = {"propagationPolicy": "Background"}
        if resource_version:
            opts["preconditions"] = {"resourceVersion": resource_version}
        await self.request("DELETE", livestreams_path(namespace, name), opts)

    # --------------------------------------------------------------------- Pods

    async def create_pod(self, namespace: str, body: Body) -> Body:
        return await self.request("POST", core_path(namespace, "pods"), body)

    async def patch_pod(self, namespace: str, name: str, patch: Body) -> Body:
        """Merge-patch a Pod; a metadata.resourceVersion in the patch makes it conditional."""
        return await self.request(
            "PATCH", core_path(namespace, "pods", name), patch, content_type=MERGE_PATCH
        )

    async def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> None:
        opts: Body = {"gracePeriodSeconds": 10}
        if uid:
            opts["preconditions"] = {"uid": uid}
        await self.request("DELETE", core_path(namespace, "pods", name), opts)

    async def list_pods(self, namespace: str, label_selector: str) -> list[Body]:
        result = await self.request(
            "GET", core_path(namespace, "pods"), query=[("labelSelector", label_selector)]
        )
        items: list[Body] = result["items"]
        return items

    async def list_and_watch(
        self, path: str, label_selector: str | None = None, timeout_seconds: int = 120
    ) -> AsyncIterator[tuple[str, Body]]:
        """LIST `path`, then WATCH it from the list's resourceVersion, forever.

        Yields ("LISTED", {"items": [...]}) after every (re)list, then each watch
        event as (type, object). A watch that expires (410 Gone) or breaks is
        followed by a fresh list, so the consumer's view is rebuilt, never stale.
        """
        selector = [("labelSelector", label_selector)] if label_selector else []
        while True:
            listed = await self.request("GET", path, query=selector)
            yield "LISTED", listed
            version = str((listed.get("metadata") or {}).get("resourceVersion", ""))
            while version:
                query = [
                    *selector,
                    ("watch", "true"),
                    ("resourceVersion", version),
                    ("allowWatchBookmarks", "true"),
                    ("timeoutSeconds", str(timeout_seconds)),
                ]
                try:
                    resp = await self.api.call_api(
                        path,
                        "GET",
                        query_params=query,
                        header_params={"Accept": "application/json"},
                        auth_settings=["BearerToken"],
                        _preload_content=False,
                        _request_timeout=timeout_seconds + 30,
                    )
                except ApiException as exc:
                    raise _error(exc) from None
                try:
                    async for line in resp.content:
                        event = json.loads(line)
                        kind, obj = event.get("type", ""), event.get("object") or {}
                        if kind == "ERROR":  # 410 Gone: too old; list again
                            version = ""
                            break
                        version = str((obj.get("metadata") or {}).get("resourceVersion", version))
                        if kind != "BOOKMARK":
                            yield kind, obj
                finally:
                    resp.release()

    async def create_event(self, namespace: str, body: Body) -> None:
        await self.request("POST", core_path(namespace, "events"), body)

    async def close(self) -> None:
        await self.api.close()

    async def healthy(self) -> bool:
        try:
            await self.request("GET", "/readyz", request_timeout=2.0)
        except (KubeError, OSError, TimeoutError):
            return False
        return True


async def load_config() -> None:
    """In-cluster credentials when running in a Pod, else the kubeconfig."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))


def api_client() -> client.ApiClient:
    """kubernetes_asyncio's client for the loaded configuration, with the proxy from
    the environment looked up once.

    Its aiohttp session trusts the environment, so aiohttp would read the netrc
    file and the proxy variables for every request, each in a thread: a third of
    the operator's CPU with 5000 LiveStreams. Both answers are the same for every
    request to the API server: the proxy (HTTPS_PROXY, NO_PROXY, ...) is found
    here as aiohttp finds it, and netrc's Basic credentials do not authenticate
    to an API server (a token or a client certificate does).
    """
    configuration = client.Configuration.get_default_copy()
    if not configuration.proxy:
        with suppress(LookupError):
            proxy, auth = get_env_proxy_for_url(URL(configuration.host or ""))
            configuration.proxy = str(proxy)
            if auth is not None:
                configuration.proxy_headers = {"Proxy-Authorization": auth.encode()}
    api = client.ApiClient(configuration=configuration)
    api.rest_client.pool_manager._trust_env = False  # aiohttp takes it only in the constructor
    return api


async def open_kube() -> Kube:
    await load_config()
    return Kube(api_client())


@asynccontextmanager
async def connect() -> AsyncIterator[Kube]:
    kube = await open_kube()
    try:
        yield kube
    finally:
        await kube.close()
