"""Which asked metrics a search's own answer leaves unproven (the rest need no count)."""

from __future__ import annotations

from cairn.search.query import build_request
from cairn.search.results import metric_names_asked, metrics_hits_leave_open


def _open(total: int, **kwargs: object) -> list[str]:
    req = build_request(**kwargs)  # type: ignore[arg-type]
    return metrics_hits_leave_open(metric_names_asked(req), req, total)


def test_a_hit_proves_every_filtered_metric() -> None:
    assert _open(3, metrics=["accuracy>=0.5", "f1<0.9"]) == []


def test_without_hits_every_metric_is_left_to_the_presence_count() -> None:
    assert _open(0, metrics=["acuracy>=0.5"]) == ["acuracy"]


def test_a_metric_only_sorted_by_or_only_in_an_any_group_is_not_proven_by_hits() -> None:
    assert _open(5, metrics=["accuracy>=0.5"], sort="metric.loss:asc") == ["loss"]
    assert _open(5, any_of=["metric.f1>=0.5|kind=dataset"]) == ["f1"]
