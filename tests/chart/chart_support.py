"""Rendering the chart with `helm template` (no cluster), and looking into what it renders."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from tests.conftest import REPO, require
from tests.support.tools import tool

CHART = REPO / "charts" / "livestream-operator"
NAMESPACE = "media"
# The objects of release "lso": <fullname>-<component>.
FULLNAME = "lso-livestream-operator"
MEDIAMTX = ("StatefulSet", f"{FULLNAME}-mediamtx")


def helm() -> str:
    found = tool("helm")
    require(found is not None, "helm not found (run hack/build-tools.sh helm)")
    assert found is not None
    return found


def _template(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm(), "template", "lso", str(CHART), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def render(*args: str) -> list[dict[str, Any]]:
    """The documents `helm template` renders with these flags (--set ...)."""
    proc = _template(*args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def render_fails(*args: str) -> str:
    """helm's error (the schema's or a template's `fail`) for flags that must not render."""
    proc = _template(*args)
    assert proc.returncode != 0, f"rendered with {args}"
    return proc.stderr


def by_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def container_env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The env entries of a one-container Deployment (or StatefulSet), by name."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}
