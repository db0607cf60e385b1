"""Client.search and Client.suggest without services: the query string they build (pure),
local refusals before any request, and the typed answers (the engine is tested on the real
stack in tests/integration/test_sdk_search.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cairn.core.domain.identity import InvalidInput
from cairn.sdk import CairnError
from cairn.sdk.search import Hit, SearchResult, Suggestion, search_params, suggest_params

from tests.unit.fake_api import FakeApi

DEFAULTS = [("sort", "relevance"), ("page", "1"), ("size", "20"), ("facet_size", "20")]


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


def test_nothing_given_asks_for_everything_by_relevance() -> None:
    assert list(search_params()) == DEFAULTS


def test_facets_take_one_value_or_several_and_none_is_left_out() -> None:
    got = search_params("resnet", kind="model", tag=["cv", "nlp"], project=None,
                        stage=[], sort="metric.top1:asc", page=2, size=5)
    assert list(got) == [("q", "resnet"), ("kind", "model"), ("tag", "cv"), ("tag", "nlp"),
                         ("sort", "metric.top1:asc"), ("page", "2"), ("size", "5"),
                         ("facet_size", "20")]


def test_legal_hold_metrics_filters_and_dates() -> None:
    got = search_params(legal_hold=False, metric="top1>=0.7", filter=["license=mit"],
                        created_after=dt.date(2025, 1, 31),
                        created_before=dt.datetime(2025, 2, 1, 12, tzinfo=dt.UTC))
    assert list(got)[:5] == [("legal_hold", "false"), ("metric", "top1>=0.7"),
                             ("filter", "license=mit"), ("created_after", "2025-01-31"),
                             ("created_before", "2025-02-01T12:00:00+00:00")]
    assert ("legal_hold", "true") in search_params(legal_hold=True)


@pytest.mark.parametrize("criteria,reason", [
    ({"metric": "top1>>0.7"}, "invalid_metric_filter"),
    ({"filter": "colour=red"}, "invalid_filter"),
    ({"sort": "fastest"}, "invalid_sort"),
    ({"size": 101}, "invalid_page"),
    ({"page": 0}, "invalid_page"),
    ({"created_after": "last tuesday"}, "invalid_date"),
])
def test_bad_criteria_name_what_to_fix(criteria: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        search_params(**criteria)
    assert raised.value.reason == reason


def test_an_unknown_criterion_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="colour"):
        search_params(colour="red")


def test_suggest_params_are_checked() -> None:
    assert suggest_params("res", "tag", 5) == {"prefix": "res", "field": "tag", "size": "5"}
    with pytest.raises(InvalidInput, match="invalid_field|suggest name"):
        suggest_params("res", "colour", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        suggest_params("--", "name")


def test_client_search_sends_the_params_and_answers_typed(fake: FakeApi, tmp_path: Path
                                                          ) -> None:
    client = fake.sdk()
    (tmp_path / "m.pt").write_bytes(b"weights")
    client.publish("model", "vision", "resnet50", ["m.pt"], root=tmp_path,
                   environment={"python": "3.11", "packages": {}},
                   metadata={"tags": ["cv"], "metrics": {"top1": 0.76}})
    found = client.search("resnet", kind=["model"], metric="top1>=0.7")
    sent = fake.requests[-1]
    assert sent.url.path == "/v1/search"
    assert sent.url.params.get_list("kind") == ["model"]
    assert sent.url.params["metric"] == "top1>=0.7" and sent.url.params["q"] == "resnet"
    assert isinstance(found, SearchResult) and found.total == 1
    hit = found.hits[0]
    assert isinstance(hit, Hit)
    assert (hit.ref, hit.kind, hit.tags, hit.metrics) == ("vision/resnet50@v1", "model", ["cv"],
                                                          {"top1": 0.76})
    assert found.counts("kind") == {"model": 1} and found.counts("license") == {}
    assert found.answer["hits"][0]["ref"] == hit.ref  # the api's JSON, as it came
    assert client.suggest("res") == [Suggestion("vision/resnet50", kind="model")]


def test_client_search_refuses_locally_before_any_request(fake: FakeApi) -> None:
    client = fake.sdk()
    with pytest.raises(CairnError) as raised:
        client.search(metric="top1>>0.7")
    assert raised.value.reason == "invalid_metric_filter" and raised.value.local
    with pytest.raises(CairnError) as raised:
        client.suggest("res", size=99)
    assert raised.value.reason == "invalid_page"
    assert fake.requests == []
