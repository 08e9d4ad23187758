"""Every file (or part of one) generated from the code, and from what.

`livestream-operator generate` writes them (`make generate`); with --verify it fails
when one was stale (`make verify`, run by `make lint`: kubebuilder's habit), so a
change to the types, the settings or values.yaml cannot land without what follows
from it."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from pathlib import Path

from . import chart_values
from .api import crd

CHART = Path("charts/livestream-operator")

# Path in the checkout -> its content, from the checkout's root.
GENERATED: dict[str, Callable[[Path], str]] = {
    "crds/livestreams.yaml": lambda root: crd.render(),
    # The chart's CRD template reads this copy (Helm reads no file outside the chart).
    f"{CHART}/files/crds/livestreams.yaml": lambda root: crd.render(),
    f"{CHART}/values.schema.json": lambda root: chart_values.render(root / CHART),
    # Its settings table, between two marker lines.
    "README.md": lambda root: chart_values.readme(
        (root / "README.md").read_text(),
        chart_values.read_values((root / CHART / "values.yaml").read_text()),
    ),
}


def stale(root: Path) -> dict[str, tuple[str, str]]:
    """The generated files whose content is not what generates them: (now, due)."""
    found = {}
    for name, generate in GENERATED.items():
        path = root / name
        now = path.read_text() if path.exists() else ""
        due = generate(root)
        if now != due:
            found[name] = (now, due)
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="livestream-operator generate",
        description="Write the files generated from the code: " + ", ".join(GENERATED) + ".",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout (default .)")
    parser.add_argument(
        "--verify", action="store_true", help="fail (exit 1) when a file was stale, with the diff"
    )
    args = parser.parse_args(argv)
    if not (args.root / CHART).is_dir():
        parser.error(f"{args.root} is not a checkout of livestream-operator (no {CHART})")
    changed = stale(args.root)
    for name, (now, due) in changed.items():
        (args.root / name).write_text(due)
        if args.verify:
            diff = difflib.unified_diff(
                now.splitlines(keepends=True), due.splitlines(keepends=True), name, name
            )
            sys.stdout.writelines(diff)
    if args.verify and changed:
        print(
            f"stale, now regenerated: {', '.join(changed)}; commit them "
            "(they follow from the API types, the settings and values.yaml)",
            file=sys.stderr,
        )
        return 1
    return 0
