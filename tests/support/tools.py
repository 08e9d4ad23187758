"""Where the tests find the command-line tools hack/build-tools.sh provides (helm,
kind, kubectl) and the project's cache of built binaries and media files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CACHE_DIR = Path(
    os.environ.get("LSO_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "livestream-operator"
)


def tool(name: str) -> str | None:
    """A tool from PATH, else from hack/build-tools.sh's cache directory."""
    found = shutil.which(name)
    if found:
        return found
    cached = CACHE_DIR / "bin" / "path" / name
    return str(cached) if cached.exists() else None
