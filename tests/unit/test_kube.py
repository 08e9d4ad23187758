"""The API client finds the environment's proxy once, as aiohttp would per request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes_asyncio import client

from livestream_operator.kube import api_client

API = "https://10.0.0.1:6443"


@pytest.fixture(autouse=True)
def configuration(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    before = client.Configuration.get_default_copy()
    loaded = client.Configuration(host=API)
    client.Configuration.set_default(loaded)
    yield
    client.Configuration.set_default(before)


async def test_no_proxy_in_the_environment_goes_direct() -> None:
    api = api_client()
    try:
        assert api.configuration.proxy is None
        assert api.rest_client.pool_manager.trust_env is False  # no per-request lookups
    finally:
        await api.close()


async def test_https_proxy_with_credentials_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@proxy.example:3128")
    api = api_client()
    try:
        assert api.configuration.proxy == "http://proxy.example:3128"
        assert api.configuration.proxy_headers == {"Proxy-Authorization": "Basic dXNlcjpzZWNyZXQ="}
    finally:
        await api.close()


async def test_no_proxy_naming_the_api_server_bypasses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "10.0.0.1")
    api = api_client()
    try:
        assert api.configuration.proxy is None
    finally:
        await api.close()
