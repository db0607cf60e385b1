"""The Python event types are derived from the .avsc files, never edited by hand."""

from scripts.avrogen import TARGET, render


def test_generated_event_types_are_current() -> None:
    assert TARGET.read_text() == render(), "stale: run `python scripts/avrogen.py`"
