"""Metrics across versions: which points, which marks, which errors (pure), and what the SVG
and PNG drawings hold."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from cairn.core.adapters.metric_plot import MAX_COMPARED, Point, draw, metric_names, points, series
from cairn.core.domain.identity import InvalidInput

SVG = "{http://www.w3.org/2000/svg}"


def summary(name: str, metrics: list[dict[str, Any] | None], stages: dict[int, str] | None = None,
            aliases: dict[str, int] | None = None) -> dict[str, Any]:
    """An artifact summary as GET /v1/artifacts/{p}/{n} answers it; versions numbered from 1."""
    return {"project": "p", "name": name, "aliases": aliases or {},
            "versions": [{"version_number": i, "stage": (stages or {}).get(i),
                          "status": "active", "metrics": m}
                         for i, m in enumerate(metrics, start=1)]}


RESNET = summary("resnet", [{"acc": 0.70, "loss": 2.0}, {"acc": 0.74}, None,
                            {"acc": 0.79, "loss": 1.1, "note": "best"}, {"acc": 0.77}],
                 stages={2: "development", 4: "production", 5: "staging"},
                 aliases={"latest": 5, "prod": 4, "champion": 4, "baseline": 1})


def test_points_skip_versions_without_the_metric_and_mark_what_matters() -> None:
    assert points(RESNET, "acc") == (
        Point(1, 0.70, ("baseline",)), Point(2, 0.74), Point(4, 0.79,
                                                             ("production", "champion", "prod")),
        Point(5, 0.77, ("staging",)))  # `latest` is always the last point: no mark
    assert [p.version for p in points(RESNET, "loss")] == [1, 4]


def test_the_projects_ladder_says_which_stages_are_marked() -> None:
    """Every working stage past the first: a canary is marked, development and archived
    never are (the api's summary carries the ladder as `stages`)."""
    custom = {**summary("m", [{"acc": 0.1}] * 4,
                        stages={1: "dev", 2: "canary", 3: "live", 4: "archived"}),
              "stages": ["dev", "canary", "live", "archived"]}
    assert [p.marks for p in points(custom, "acc")] == [(), ("canary",), ("live",), ()]


def test_only_finite_numbers_are_plotted() -> None:
    odd = summary("odd", [{"m": True}, {"m": "0.9"}, {"m": float("nan")}, {"m": 3},
                          {"m": float("inf")}, "not a map"])  # type: ignore[list-item]
    assert points(odd, "m") == (Point(4, 3.0),)
    assert metric_names(odd) == ["m"] and metric_names(RESNET) == ["acc", "loss"]


def test_series_per_metric_then_per_artifact() -> None:
    vit = summary("vit", [{"acc": 0.75}, {"acc": 0.81}])
    found = series([RESNET, vit], ["acc", "loss", "acc"])  # repeats fold
    assert [(s.metric, s.artifact, len(s.points)) for s in found] == [
        ("acc", "p/resnet", 4), ("acc", "p/vit", 2), ("loss", "p/resnet", 2), ("loss", "p/vit", 0)]
    assert found[1].as_json() == {"artifact": "p/vit", "metric": "acc", "points": [
        {"version": 1, "value": 0.75, "marks": []}, {"version": 2, "value": 0.81, "marks": []}]}


def test_errors_say_what_to_fix() -> None:
    with pytest.raises(InvalidInput) as err:
        series([RESNET], ["f1"])
    assert err.value.reason == "unknown_metric"
    assert "'f1'" in str(err.value) and "recorded: acc, loss" in str(err.value)
    for metrics, reason in (([], "missing_metric"), ([" "], "missing_metric"),
                            ([f"m{i}" for i in range(9)], "too_many_metrics")):
        with pytest.raises(InvalidInput) as err:
            series([RESNET], metrics)
        assert err.value.reason == reason
    with pytest.raises(InvalidInput) as err:
        series([RESNET] * (MAX_COMPARED + 2), ["acc"])
    assert err.value.reason == "too_many_compared"
    with pytest.raises(InvalidInput) as err:
        draw(series([RESNET], ["acc"]), "gif")
    assert err.value.reason == "invalid_format"


def markers(svg: bytes, gid: str) -> int:
    """How many markers the group `gid` draws (matplotlib: one <use> per point)."""
    group = next(g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("id") == gid)
    return sum(1 for _ in group.iter(f"{SVG}use"))


def test_svg_has_text_one_marker_per_point_and_stars_on_marked_versions() -> None:
    vit = summary("vit", [{"acc": 0.75}, {"acc": 0.81}])
    svg = draw(series([RESNET, vit], ["acc", "loss"]), "svg")
    texts = {t.text for t in ET.fromstring(svg).iter(f"{SVG}text")}
    assert {"acc", "loss", "p/resnet", "p/vit", "production, champion, prod", "staging",
            "baseline"} <= texts
    assert (markers(svg, "metric-acc-0"), markers(svg, "metric-acc-1")) == (4, 2)
    assert (markers(svg, "marks-acc-0"), markers(svg, "metric-loss-0")) == (3, 2)
    assert svg == draw(series([RESNET, vit], ["acc", "loss"]), "svg")  # deterministic


def test_png_is_a_png() -> None:
    assert draw(series([RESNET], ["acc"]), "png").startswith(b"\x89PNG\r\n\x1a\n")
