"""Shared test helpers: prerequisites fail under CI=true instead of skipping."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
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


# Every tier writes its scratch files (logs, envtest's certificates, pytest's own
# tmp_path) under one directory that is removed when the session ends, and so do
# the processes the tests start (TMPDIR): nothing is left behind in /tmp.
_SCRATCH = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="lso-tests-"))
    config.stash[_SCRATCH] = scratch
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = str(scratch)
    if not config.option.basetemp:
        config.option.basetemp = str(scratch / "pytest")


def pytest_unconfigure(config: pytest.Config) -> None:
    scratch = config.stash.get(_SCRATCH, None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
