"""Percentiles for benchmark timings: standard library only, so that a benchmark driver run by
another virtualenv (mlflow_driver.py) summarizes exactly as discovery does."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentiles(values: Sequence[float], *wanted: int) -> dict[str, float | None]:
    """{"p50": …} by linear interpolation (statistics' inclusive method), in the values' unit."""
    if len(values) < 2:
        return {f"p{p}": round(values[0], 2) if values else None for p in wanted}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {f"p{p}": round(cuts[p - 1], 2) for p in wanted}


def summary(values: Sequence[float], *wanted: int) -> dict[str, Any]:
    return {"n": len(values), **percentiles(values, *wanted),
            "mean": round(statistics.fmean(values), 2), "max": round(max(values), 2)}
