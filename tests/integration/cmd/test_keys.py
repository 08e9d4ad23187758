"""`livestream-operator keys` against a real API server, as a user runs it."""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess

import pytest

from livestream_operator.api import stream_keys
from livestream_operator.kube import Kube, KubeError, core_path
from tests.support import envtest
from tests.support.processes import CLI

pytestmark = pytest.mark.integration


async def keys(cp: envtest.ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [*CLI, "keys", *args]
    env = {"KUBECONFIG": str(cp.kubeconfig), "PATH": "/usr/bin:/bin"}
    return await asyncio.to_thread(
        subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=60
    )


async def stored_key(kube: Kube, namespace: str, stream_id: str) -> str:
    name = stream_keys.secret_name(stream_id)
    secret = await kube.request("GET", core_path(namespace, "secrets", name))
    return base64.b64decode(secret["data"]["streamKey"]).decode()


async def test_create_rotate_list_revoke(
    control_plane: envtest.ControlPlane, kube: Kube, namespace: str
) -> None:
    ns = ["--namespace", namespace, "--server", "rtmp://example.test:1935"]
    created = await keys(control_plane, *ns, "create", "cam.1")
    assert created.returncode == 0, created.stderr
    key = await stored_key(kube, namespace, "cam.1")
    assert stream_keys.is_key(key)
    # What to paste into OBS, and the key nowhere else but in the Secret.
    assert "Server:     rtmp://example.test:1935/live/cam.1" in created.stdout
    assert f"Stream Key: in?key={key}" in created.stdout

    again = await keys(control_plane, *ns, "create", "cam.1")
    assert again.returncode == 1
    assert "already has a key" in again.stderr

    rotated = await keys(control_plane, *ns, "rotate", "cam.1")
    assert rotated.returncode == 0, rotated.stderr
    new = await stored_key(kube, namespace, "cam.1")
    assert new != key
    assert new in rotated.stdout

    listed = await keys(control_plane, *ns, "list")
    assert re.search(r"^cam\.1\s+lso-key-", listed.stdout, re.M), listed.stdout
    assert new not in listed.stdout  # list never shows keys

    revoked = await keys(control_plane, *ns, "revoke", "cam.1")
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(KubeError) as err:
        await stored_key(kube, namespace, "cam.1")
    assert err.value.not_found
    missing = await keys(control_plane, *ns, "revoke", "cam.1")
    assert missing.returncode == 1


@pytest.mark.parametrize("stream_id", ["bad/id", "cam\n", ""])
async def test_a_bad_stream_id_is_a_usage_error(
    control_plane: envtest.ControlPlane, stream_id: str
) -> None:
    result = await keys(control_plane, "create", stream_id)
    assert result.returncode == 2
    assert "not a stream id" in result.stderr
