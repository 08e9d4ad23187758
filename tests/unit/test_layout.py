"""The package layout is the architecture: each package imports only what its
place allows, so a change has one obvious home.

    api/        the LiveStream types, CRD generation, names, the Pod contract
    mediamtx/   MediaMTX's own configuration (Control API client, path entries, their sync)
    access/     who may publish and read (auth decisions, the cluster view of keys)
    ingest/     MediaMTX's hooks and resync -> status.ingest/.output/.recording
    userapi/    the users' HTTP API (recordings, snapshots)
    reconcile/  LiveStream -> Pods (plan, manifests, Events, controller)
    worker/, forwarder/   the media processes the operator starts
    backend/    the reference processing backends (they speak api/backend_protocol.py)
    cmd/        process entry points: the only place sides meet
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "livestream_operator"
SIDES = {
    "api",
    "mediamtx",
    "access",
    "ingest",
    "userapi",
    "reconcile",
    "worker",
    "forwarder",
    "backend",
    "cmd",
}
# What each package may import from the project besides itself and the shared
# top-level modules (kube, kube_events, settings, logs, health_endpoint, http_edge...).
ALLOWED = {
    "api": set(),
    "mediamtx": {"api"},
    "access": {"api"},
    "ingest": {"api", "mediamtx", "access"},
    "userapi": {"api", "access", "ingest"},
    "reconcile": {"api"},
    "worker": {"api"},
    "forwarder": {"api"},
    "backend": {"api"},
    "cmd": {"api", "mediamtx", "access", "ingest", "userapi", "reconcile"},
}
SHARED = {
    "kube",
    "kube_events",
    "settings",
    "logs",
    "health_endpoint",
    "media_urls",
    "problems",
    "http_edge",
    "http_refusals",
    "backoff",
}


def _project_imports(path: Path) -> set[str]:
    """Top-level project packages or modules that `path` imports."""
    package = path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                parts = base + (node.module.split(".") if node.module else [])
                names = [*parts[:1]] if parts else [a.name for a in node.names]
            elif node.module and node.module.startswith("livestream_operator"):
                names = node.module.split(".")[1:2] or [a.name for a in node.names]
            else:
                continue
            found.update(names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("livestream_operator."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("side", sorted(SIDES))
def test_each_package_imports_only_what_its_place_allows(side: str) -> None:
    wrong = {}
    for path in sorted((PACKAGE / side).rglob("*.py")):
        others = _project_imports(path) & SIDES - {side} - ALLOWED[side]
        if others:
            wrong[str(path.relative_to(PACKAGE))] = sorted(others)
    assert wrong == {}


def test_shared_modules_depend_on_no_side_but_the_api() -> None:
    for name in SHARED:
        imported = _project_imports(PACKAGE / f"{name}.py") & SIDES
        assert imported <= {"api"}, f"{name}.py imports {sorted(imported)}"


def test_the_test_tree_mirrors_the_packages() -> None:
    tests = PACKAGE.parents[1] / "tests"
    for tier in ("unit", "integration", "media"):
        for folder in (tests / tier).iterdir():
            if folder.is_dir() and folder.name != "__pycache__":
                assert folder.name in SIDES, f"tests/{tier}/{folder.name} mirrors no package"
