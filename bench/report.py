"""What every benchmark prints with: percentiles, aligned figure lines, the machine's CPU."""

from __future__ import annotations

import os
from pathlib import Path


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of the values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(name: str, value: str, goal: str = "") -> None:
    print(f"  {name:<44} {value:>16}   {goal}")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, from /proc/stat, summed over cores."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


def cores_busy(before: tuple[float, float], after: tuple[float, float]) -> float:
    """How many cores' worth the whole machine was busy between two machine_busy()."""
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)
