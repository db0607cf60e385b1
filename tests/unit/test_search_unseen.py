"""Datasets a caller may not learn of, in search requests (cairn.search.query.dataset_seen):
a hidden project's, a missing project's and a bare digest are alike; a site admin sees all."""

from __future__ import annotations

from typing import Any

from cairn.search.query import MATCH_NONE, SHARED, build_request, dataset_seen, search_body

KNOWN = ("open", "secret")


def test_hidden_missing_and_digest_datasets_are_unseen_alike() -> None:
    stranger = build_request(hidden_projects=["secret"], known_projects=KNOWN)
    assert dataset_seen(stranger, "open/data")
    for value in ("secret/data", "nope/data", "sha256:" + "a" * 64, "open"):
        assert not dataset_seen(stranger, value), value
    admin = build_request()
    assert all(dataset_seen(admin, v) for v in ("secret/data", "nope/data", "sha256:" + "a" * 64))


def test_a_filter_on_unseen_datasets_matches_nothing_and_the_facet_leaves_them_out() -> None:
    def body(*datasets: str) -> dict[str, Any]:
        return dict(search_body(build_request(filters={"dataset": list(datasets)},
                                              hidden_projects=["secret"], known_projects=KNOWN)))

    for value in ("secret/data", "nope/data", "sha256:" + "a" * 64):
        assert MATCH_NONE in body(value)["post_filter"]["bool"]["filter"]
    mixed = body("nope/data", "open/data")["post_filter"]["bool"]["filter"]
    assert {"terms": {"datasets": ["open/data"]}} in mixed
    terms = body()["aggs"][SHARED]["aggs"]["dataset"]["terms"]
    assert terms == {"field": "datasets", "include": "(open)/.*", "size": 20}
