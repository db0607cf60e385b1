"""Published payloads are built once from the generated event types and their Avro defaults."""

from __future__ import annotations

import json

import pytest
from cairn.core.domain import payloads
from cairn.core.domain.event_types import DEFAULTS, Metadata, Published
from cairn.core.domain.identity import InvalidInput

FILE = {"path": "m.pt", "size": 3, "sha256": "a" * 64}


def _draft(**given: object) -> payloads.Draft:
    args: dict = {"kind": "model", "project": "p", "name": "m",
                  "metadata_": {"creator": "ann"}} | given
    return payloads.draft(**args)


def test_defaults_come_from_the_schema_and_every_field_is_filled() -> None:
    body = payloads.assembled(_draft(), payloads.file_entries([FILE]))
    assert set(body) == set(Published.__annotations__)
    assert set(body["metadata"]) == set(Metadata.__annotations__)
    assert body["metadata"]["tags"] == [] and body["environment"]["packages"] == {}
    assert body["files"] == [{**FILE, "media_type": None}]
    body["metadata"]["tags"].append("x")  # a fresh copy each time: defaults stay empty
    assert DEFAULTS["Metadata"]["tags"] == [] and _draft().metadata["tags"] == []


def test_extra_is_an_object_in_the_request_and_json_text_in_the_event() -> None:
    draft = _draft(extra={"b": 1, "a": {"c": None}})
    request = draft.request(payloads.file_entries([FILE]), {"a" * 64: "receipt"})
    assert request["extra"] == {"b": 1, "a": {"c": None}}
    assert request["receipts"] == {"a" * 64: "receipt"}
    assert request["files"] == [FILE]  # nulls left out
    event = payloads.assembled(draft, payloads.file_entries([FILE]))
    assert json.loads(event["extra"]) == {"b": 1, "a": {"c": None}}
    assert event["extra"] == json.dumps({"a": {"c": None}, "b": 1}, sort_keys=True)


def test_the_one_call_equals_the_steps() -> None:
    given = {"kind": "model", "project": "p", "name": "m", "metadata_": {"creator": "ann"},
             "links": [{"relation": "trained_on", "target": "p/d@v1"}], "stage": "staging"}
    draft = payloads.draft(**given)  # type: ignore[arg-type]
    whole = payloads.published(files=[FILE], **given)  # type: ignore[arg-type]
    assert whole == payloads.assembled(draft, payloads.file_entries([FILE]))
    assert whole["links"] == [{"relation": "trained_on", "target": "p/d@v1", "external": None}]


@pytest.mark.parametrize("given,reason", [
    ({"metadata_": {"creator": "ann", "colour": "red"}}, "unknown_field"),
    ({"metadata_": {"creator": "  "}}, "missing_creator"),
    ({"environment_": {"shell": "zsh"}}, "unknown_field"),
    ({"name": "Bad Name"}, "invalid_name"),
    ({"kind": "spaceship"}, "invalid_kind"),
    ({"stage": "Prod!"}, "invalid_stage"),
    ({"links": [{"relation": "eats", "target": "p/d@v1"}]}, "invalid_relation"),
])
def test_a_draft_refuses_what_the_ledger_refuses(given: dict, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _draft(**given)
    assert err.value.reason == reason


def test_file_entries_are_checked_and_sorted() -> None:
    assert [e["path"] for e in payloads.file_entries(
        [{**FILE, "path": "b"}, {**FILE, "path": "a"}])] == ["a", "b"]
    with pytest.raises(InvalidInput) as err:
        payloads.file_entries([])
    assert err.value.reason == "no_files"
    with pytest.raises(InvalidInput) as err:
        payloads.file_entries([{**FILE, "path": "../x"}])
    assert err.value.reason == "path_traversal"
