"""The legal_hold facet: parsed as a boolean, `false` also matches documents without it."""

from __future__ import annotations

import pytest
from cairn.core.domain.identity import InvalidInput
from cairn.search.documents import version_document
from cairn.search.query import build_request, facet_clause, search_body
from cairn.search.results import search_response


def _state(**extra: object) -> dict[str, object]:
    content = {"kind": "model", "project": "p", "name": "n", "metadata": {"creator": "ada"},
               "links": []}
    return {"content": content, "version_number": 1, "digest": "d" * 64, "created_at": 0,
            "updated_seq": 3, **extra}


def test_values_are_true_or_false() -> None:
    req = build_request(filters={"legal_hold": ["True"]}, expressions=["legal_hold=no"])
    assert req.filters["legal_hold"] == ("true", "false")
    with pytest.raises(InvalidInput, match="true or false"):
        build_request(filters={"legal_hold": ["maybe"]})


def test_false_means_not_held_and_the_facet_counts_missing_as_false() -> None:
    assert facet_clause(build_request(filters={"legal_hold": ["true"]}), "legal_hold") == {
        "term": {"legal_hold": True}}
    assert facet_clause(build_request(filters={"legal_hold": ["false"]}), "legal_hold") == {
        "bool": {"must_not": [{"term": {"legal_hold": True}}]}}
    assert facet_clause(build_request(filters={"legal_hold": ["true", "false"]}),
                        "legal_hold") is None
    body = search_body(build_request(filters={"legal_hold": ["true"], "kind": ["model"]}))
    hold = body["aggs"]["legal_hold"]
    assert hold["aggs"]["legal_hold"]["terms"] == {"field": "legal_hold", "size": 20,
                                                   "missing": False}
    assert {"term": {"legal_hold": True}} not in hold["filter"]["bool"]["filter"]
    assert {"term": {"legal_hold": True}} in body["aggs"]["kind"]["filter"]["bool"]["filter"]


def test_boolean_buckets_are_named_true_and_false() -> None:
    reply = {"hits": {"total": {"value": 3}, "hits": []}, "aggregations": {"shared": {
        "legal_hold": {"buckets": [{"key": 0, "key_as_string": "false", "doc_count": 2},
                               {"key": 1, "key_as_string": "true", "doc_count": 1}]}}}}
    facets = search_response(reply, build_request())["facets"]
    assert facets["legal_hold"] == [{"value": "false", "count": 2},
                                    {"value": "true", "count": 1}]


def test_documents_take_the_hold_from_the_state_or_the_metadata() -> None:
    assert version_document(_state(legal_hold=True))[1]["legal_hold"] is True
    assert version_document(_state())[1]["legal_hold"] is False
    held = _state()
    held["content"]["metadata"]["legal_hold"] = True  # type: ignore[index]
    assert version_document(held)[1]["legal_hold"] is True
