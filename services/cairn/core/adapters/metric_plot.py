"""Metrics across an artifact's versions, as a picture: one panel per metric, x = version.

`series()` is pure: it turns the api's artifact summary (`GET /v1/artifacts/{p}/{n}`, whose
versions carry their `metrics`) into points, each marked with the stage and aliases that
single it out (every stage of the project's ladder past its first but archived, by default
staging and production; aliases such as `prod` and `champion`, never `latest`, which is always
the last point). `draw()` renders the series with matplotlib's Agg and SVG backends, without
pyplot, so it keeps no global figure state and runs in a server thread; the api (the
`metrics.svg` route) and the CLI (`cairn plot`) both draw through it.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.lifecycle_rules import DEFAULT

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
MAX_METRICS = 8
MAX_COMPARED = 3  # artifacts beside the first
UNMARKED_ALIASES = ("latest",)
COLOURS = ("#2563eb", "#d97706", "#16a34a", "#7c3aed")  # the artifact, then each compared one


@dataclass(frozen=True)
class Point:
    version: int
    value: float
    marks: tuple[str, ...] = ()  # stage and aliases worth a label


@dataclass(frozen=True)
class Series:
    artifact: str  # project/name
    metric: str
    points: tuple[Point, ...]

    def as_json(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "metric": self.metric,
                "points": [{"version": p.version, "value": p.value, "marks": list(p.marks)}
                           for p in self.points]}


def _number(value: Any) -> float | None:
    """Plottable values only: numbers, finite, not booleans."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def points(summary: Mapping[str, Any], metric: str) -> tuple[Point, ...]:
    """The versions that recorded `metric`, oldest first; others leave a gap."""
    marked = marked_stages(summary)
    aliases: dict[int, list[str]] = {}
    for alias, number in (summary.get("aliases") or {}).items():
        if alias not in UNMARKED_ALIASES:
            aliases.setdefault(number, []).append(alias)
    found = []
    for v in summary.get("versions") or []:
        metrics = v.get("metrics")
        value = _number(metrics.get(metric)) if isinstance(metrics, Mapping) else None
        if value is None:
            continue
        stage = [v["stage"]] if v.get("stage") in marked else []
        found.append(Point(int(v["version_number"]), value,
                           tuple(stage + sorted(aliases.get(v["version_number"], [])))))
    return tuple(sorted(found, key=lambda p: p.version))


def marked_stages(summary: Mapping[str, Any]) -> tuple[str, ...]:
    """The working stages past the first of the summary's ladder (`stages`, which the api
    gives; a summary without it has the default ladder): where a version was promoted to."""
    ladder = summary.get("stages") or DEFAULT.ladder
    return tuple(ladder[1:-1])


def metric_names(summary: Mapping[str, Any]) -> list[str]:
    """Every metric some version recorded a number for."""
    return sorted({name for v in summary.get("versions") or []
                   if isinstance(v.get("metrics"), Mapping)
                   for name, value in v["metrics"].items() if _number(value) is not None})


def series(summaries: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> list[Series]:
    """For each metric, one series per artifact (the first summary, then compared ones).
    A metric that no artifact recorded is an error naming the metrics there are."""
    wanted = list(dict.fromkeys(m.strip() for m in metrics if m.strip()))
    if not wanted:
        raise InvalidInput("missing_metric", "name at least one metric to plot")
    if len(wanted) > MAX_METRICS:
        raise InvalidInput("too_many_metrics", f"plot at most {MAX_METRICS} metrics at once")
    if len(summaries) > 1 + MAX_COMPARED:
        raise InvalidInput("too_many_compared", f"compare at most {MAX_COMPARED} artifacts")
    found = [Series(f"{s['project']}/{s['name']}", m, points(s, m))
             for m in wanted for s in summaries]
    for metric in wanted:
        if not any(s.points for s in found if s.metric == metric):
            known = sorted({n for s in summaries for n in metric_names(s)})
            names = " and ".join(f"{s['project']}/{s['name']}" for s in summaries)
            raise InvalidInput("unknown_metric", f"no version of {names} recorded metric "
                               f"{metric!r}; recorded: {', '.join(known) or 'no metrics'}")
    return found


def slug(text: str) -> str:
    """A piece of an SVG id: letters, digits, '_', '.', '-' only."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


_drawing = threading.Lock()  # rc_context changes matplotlib's global rcParams for the draw


def draw(found: Sequence[Series], fmt: str) -> bytes:
    """SVG or PNG bytes. In SVG, text stays text (searchable, selectable), every metric's
    series is a group `metric-<metric>-<n>` (n: 0 the artifact, 1.. compared ones) with one
    marker per point, and the output is deterministic (no date, fixed id salt)."""
    if fmt not in FORMATS:
        raise InvalidInput("invalid_format", f"format {fmt!r} must be one of {', '.join(FORMATS)}")
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    metrics = list(dict.fromkeys(s.metric for s in found))
    artifacts = list(dict.fromkeys(s.artifact for s in found))
    with _drawing, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cairn",
                                          "font.size": 9}):
        fig = Figure(figsize=(8, 0.6 + 2.4 * len(metrics)), layout="constrained")
        axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
        for ax, metric in zip(axes, metrics, strict=True):
            for s in (s for s in found if s.metric == metric):
                n = artifacts.index(s.artifact)
                _plot(ax, s, n, COLOURS[n % len(COLOURS)])
            ax.set_title(metric, loc="left", fontweight="bold")
            ax.grid(True, alpha=0.3)
            ax.margins(x=0.1, y=0.15)  # room for the labels of marked points
            ax.legend(loc="best", fontsize=8)
        axes[-1].set_xlabel("version")
        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[-1].xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"v{x:.0f}"))
        out = BytesIO()
        fig.savefig(out, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()


def _plot(ax: Any, s: Series, n: int, colour: str) -> None:
    xs, ys = [p.version for p in s.points], [p.value for p in s.points]
    label = s.artifact if s.points else f"{s.artifact} (not recorded)"
    ax.plot(xs, ys, marker="o", markersize=4, color=colour, label=label,
            gid=f"metric-{slug(s.metric)}-{n}")
    marked = [p for p in s.points if p.marks]
    if not marked:
        return
    ax.scatter([p.version for p in marked], [p.value for p in marked], marker="*", s=140,
               color=colour, edgecolors="black", linewidths=0.5, zorder=3,
               gid=f"marks-{slug(s.metric)}-{n}")
    for p in marked:
        ax.annotate(", ".join(p.marks), (p.version, p.value), textcoords="offset points",
                    xytext=(0, 8), ha="center", fontsize=8, color=colour)
