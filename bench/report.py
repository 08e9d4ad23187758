"""What every benchmark prints with: percentiles and aligned figure lines."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of the values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(name: str, value: str, goal: str = "") -> None:
    print(f"  {name:<44} {value:>16}   {goal}")
