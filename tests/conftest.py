"""Shared test helpers: prerequisites fail under CI=true instead of skipping."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

pytest_plugins = ["tests.support.kube_fixtures"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(ok: bool, reason: str) -> None:
    """Skip a test whose prerequisite is missing; in CI, fail it instead."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing (CI=true forbids skipping): {reason}")
    pytest.skip(reason)
