"""A changelog record is skipped only when its event-type header names another type."""

from __future__ import annotations

from cairn.core.adapters.batches import RawRecord, event_type_header, of_types


def _raw(*headers: tuple[str, bytes | None]) -> RawRecord:
    return RawRecord(b"k", b"v", "t", 0, 0, headers)


def test_a_record_is_skipped_only_when_its_header_names_another_type() -> None:
    verdicts = _raw(("cairn-signature", b"x"), event_type_header("VerdictSet"))
    assert not of_types(verdicts, ("Published", "LinkAdded"))
    assert of_types(verdicts, ("VerdictSet",))
    assert of_types(_raw(), ("Published",))  # no header: written before it, decoded
    assert of_types(_raw(("cairn-event-type", None)), ("Published",))
