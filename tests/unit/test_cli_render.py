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
