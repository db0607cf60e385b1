"""The CLI's human output: no Python reprs, headers on the audit log, 80 columns respected."""

from __future__ import annotations

from typing import Any

import pytest
from cairn.cli import render
from cairn.cli.access import audit_table
from rich.console import Console


@pytest.mark.parametrize(("value", "shown"), [
    (None, "-"), ("", "-"), ([], "-"), ({}, "-"), (False, "no"), (True, "yes"),
    ({"ana": "maintainer", "bob": "viewer"}, "ana=maintainer, bob=viewer"),
    (["read", "write"], "read, write"), (0.5, "0.5"),
    ({"lifecycle": {"gate": "maintainer"}}, "lifecycle: (gate=maintainer)"),
])
def test_plain_values_read_as_text_not_reprs(value: Any, shown: str) -> None:
    assert render.plain(value) == shown


def _printed(monkeypatch: pytest.MonkeyPatch, width: int = 80) -> Console:
    console = Console(width=width, record=True, highlight=False, markup=False)
    monkeypatch.setattr(render, "out", console)
    return console


def test_whoami_prints_aligned_fields_without_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    console = _printed(monkeypatch)
    render.fields({"name": "ana", "teams": [], "roles": {"vision": "maintainer"},
                   "admin": False, "description": None})
    text = console.export_text()
    for repr_ in ("{'", "None", "False", "[]"):
        assert repr_ not in text
    assert "roles" in text and "vision=maintainer" in text and "admin" in text and "no" in text


def _entry(seq: int, **over: Any) -> dict[str, Any]:
    return {"seq": seq, "recorded_at": 1_767_000_000_000, "actor": "alice",
            "action": "StageChanged", "outcome": "applied", "ref": None, "subject": None,
            "denial": None, **over}


def test_audit_log_has_headers_and_fits_80_columns() -> None:
    long_ref = "vision/" + "a-very-long-artifact-name-" * 3 + "@v12"
    table = audit_table([_entry(7, ref=long_ref),
                         _entry(9, action="Verdict", detail="license failed"),
                         _entry(8, action="AccessDenied", outcome="denied",
                                denial={"method": "GET", "path": "/v1/x", "status": 403})])
    console = Console(width=80, record=True)
    console.print(table)
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "seq" in line)
    for col in ("when", "actor", "action", "outcome", "subject"):
        assert col in header
    text = "\n".join(lines)
    joined = "".join(text.split())  # folded cells join up again without the spaces
    assert "GET/v1/x→403" in joined and "3 entries" in text
    assert "licensefailed" in joined and "detail" in header
    assert "".join(text.split()).count("a-very-long-artifact-name-") == 3  # folded, not cut


def _hits() -> Any:
    from cairn.sdk.search import SearchResult

    def hit(ref: str, **over: Any) -> dict[str, Any]:
        return {"ref": ref, "kind": "model", "stage": "production", "validation": "valid",
                "tags": ["cnn", "baseline"], "created_at": 1_767_000_000_000,
                "metrics": {"top1": 0.774123, "top5": 0.93612, "loss": 1.25e-05},
                "usage": {"total": 12}, **over}

    return SearchResult.of({"total": 3, "page": 1, "size": 20, "hits": [
        hit("computer-vision-research/resnet50-imagenet-finetuned@v12"),
        hit("computer-vision-research/resnet50-eval@v3", kind="eval_log", legal_hold=True),
        hit("cv/tiny@v1", stage=None, tags=[], metrics={})]})


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_search_hits_fit_the_terminal_dropping_columns_never_cutting_values(width: int) -> None:
    from cairn.cli.search import COLUMNS, hits_table

    found = _hits()
    console = Console(width=width, record=True, highlight=False, markup=False)
    console.print(hits_table(found, "metric.top1:desc", width))
    text = console.export_text()
    assert all(len(line.rstrip()) <= width for line in text.splitlines())
    assert all(h.ref in text for h in found.hits)  # the ref is what a user copies: whole
    header = next(line for line in text.splitlines() if line.startswith("version"))
    shown = [c for c in COLUMNS if f" {c}" in header]
    if "metrics" in shown:  # a value is whole or not there at all
        assert all(f"{name}={value:g}" in text
                   for name, value in found.hits[0].metrics.items())
    if width == 60:  # the longest ref (56) leaves room for nothing whole
        assert shown == []
    elif width == 160:
        assert shown == list(COLUMNS)
    else:  # the least useful go first; one that does not fit leaves room for a narrower one
        assert shown[0] == "metrics" and "used" not in shown
        assert shown[:2] == ["metrics", "kind"] or width < 100


def test_no_hits_keeps_the_title_whole() -> None:
    from cairn.cli.search import hits_table
    from cairn.sdk.search import SearchResult

    console = Console(width=80, record=True, highlight=False, markup=False)
    console.print(hits_table(SearchResult.of({"total": 0, "hits": []}), "", 80))
    assert "0 matches (showing 0)" in console.export_text()
