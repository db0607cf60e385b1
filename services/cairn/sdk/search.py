"""Search and suggestions through the api, with typed criteria and typed answers.

    found = client.search("resnet", kind="model", tag=["cv"], metric=["top1>=0.7"],
                          sort="metric.top1", size=10)
    found.total, [h.ref for h in found.hits], found.facets["tag"][0].value
    client.suggest("res")                     # artifact names; field="tag" or "metric"

Criteria are checked locally by the same pure parser the api uses (cairn.search.query), so
a malformed filter is a CairnError before anything is sent. The index follows the ledger
within a refresh interval: a version just published may take a moment to be found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, Unpack

from cairn.sdk.calls import ApiCalls
from cairn.sdk.errors import translated
from cairn.search.query import FACETS, build_request
from cairn.search.results import check_suggest

Values = str | Sequence[str]
When = str | dt.date | dt.datetime
SuggestField = Literal["name", "tag", "metric"]


class SearchCriteria(TypedDict, total=False):
    """What `Client.search` takes besides the text: GET /v1/search's parameters.

    Each facet takes one value or several (several match any of them; different facets must
    all match). `metric` holds ranges such as "accuracy>=0.9"; `filter` holds expressions
    as the CLI's --filter does ("kind=model", "metric.top1>0.7"); `any` holds groups of
    them joined by "|", each matching when one of its filters does (OR across facets:
    "tag=nlp|framework=pytorch"; several groups must all match). Dates are ISO strings,
    dates or datetimes (UTC unless they say otherwise)."""

    kind: Values
    project: Values
    stage: Values
    tag: Values
    license: Values
    creator: Values
    owner_team: Values
    framework: Values
    validation: Values
    dataset: Values
    status: Values
    alias: Values
    environment: Values  # an environment's digest: the versions made in it
    legal_hold: bool
    metric: Values
    filter: Values
    any: Values  # groups of filters joined by |, any of which may match: "tag=nlp|kind=dataset"
    created_after: When
    created_before: When
    sort: str  # relevance | created[:asc] | usage | metric.NAME[:asc|:desc]
    page: int
    size: int
    facet_size: int


FACET_NAMES = tuple(name for name in FACETS if name != "legal_hold")
DEFAULTS: dict[str, Any] = {"sort": "relevance", "page": 1, "size": 20, "facet_size": 20}


def _many(value: Values | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _when(value: When | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def search_params(q: str | None = None, **criteria: Any) -> tuple[tuple[str, str], ...]:
    """The query string of GET /v1/search for `q` and SearchCriteria, checked first:
    InvalidInput (a CairnError once through the Client) names what to fix. Pure."""
    unknown = set(criteria) - set(SearchCriteria.__annotations__)
    if unknown:
        raise TypeError(f"unknown search criteria: {', '.join(sorted(unknown))}")
    given = {**DEFAULTS, **{k: v for k, v in criteria.items() if v is not None}}
    facets = {name: _many(given.get(name)) for name in FACET_NAMES}
    if "legal_hold" in given:
        facets["legal_hold"] = ["true" if given["legal_hold"] else "false"]
    metric, filters = _many(given.get("metric")), _many(given.get("filter"))
    groups = _many(given.get("any"))
    after, before = _when(given.get("created_after")), _when(given.get("created_before"))
    build_request(q=q, filters=facets, expressions=filters, metrics=metric,
                  created_after=after, created_before=before, sort=given["sort"],
                  page=given["page"], size=given["size"], facet_size=given["facet_size"],
                  any_of=groups)
    params = [("q", q)] if q else []
    params += [(name, v) for name, values in facets.items() for v in values]
    params += [("metric", m) for m in metric] + [("filter", f) for f in filters]
    params += [("any", g) for g in groups]
    params += [(k, v) for k, v in (("created_after", after), ("created_before", before)) if v]
    params += [(k, str(given[k])) for k in ("sort", "page", "size", "facet_size")]
    return tuple(params)


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


@dataclass(frozen=True)
class Neighbour:
    """A version next to a hit in the lineage graph: its ref and the link's relation."""

    relation: str
    ref: str


@dataclass(frozen=True)
class Hit:
    """One version found; `document` is everything the index holds for it (params, card,
    links, datasets, ...), the named fields are what most callers read. Lineage neighbours:
    `made_from` (its links' targets as written), `made_into` (the newest versions that link
    to it, evaluations aside) and `evaluated_by` (the newest evaluations of it), all
    without what the caller may not see."""

    ref: str
    artifact: str
    kind: str
    version_number: int
    digest: str
    stage: str | None
    status: str
    validation: str
    legal_hold: bool
    tags: list[str]
    metrics: dict[str, float]
    created_at: int  # epoch millis
    usage: dict[str, int]
    score: float | None
    made_from: list[Neighbour]
    made_into: list[Neighbour]
    evaluated_by: list[str]
    document: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, hit: Mapping[str, Any]) -> Hit:
        def text(key: str) -> str:
            return str(hit.get(key) or "")

        return cls(ref=str(hit.get("ref") or hit["id"]), artifact=text("artifact"),
                   kind=text("kind"), version_number=int(hit.get("version_number") or 0),
                   digest=text("digest"), stage=hit.get("stage"), status=text("status"),
                   validation=text("validation"), legal_hold=bool(hit.get("legal_hold")),
                   tags=list(hit.get("tags") or []), metrics=dict(hit.get("metrics") or {}),
                   created_at=int(hit.get("created_at") or 0),
                   usage=dict(hit.get("usage") or {}), score=hit.get("score"),
                   made_from=_neighbours(hit.get("made_from")),
                   made_into=_neighbours(hit.get("made_into")),
                   evaluated_by=[str(r) for r in hit.get("evaluated_by") or ()],
                   document=dict(hit))


def _neighbours(given: Any) -> list[Neighbour]:
    return [Neighbour(str(n["relation"]), str(n["ref"])) for n in given or ()]


@dataclass(frozen=True)
class SearchResult:
    """A page of hits and, per facet, its values with counts (each counted with every filter
    but its own). `answer` is the api's JSON as it came."""

    total: int
    page: int
    size: int
    hits: list[Hit]
    facets: dict[str, list[FacetCount]]
    answer: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, answer: Mapping[str, Any]) -> SearchResult:
        facets = {name: [FacetCount(str(b["value"]), int(b["count"])) for b in buckets]
                  for name, buckets in (answer.get("facets") or {}).items()}
        return cls(total=int(answer.get("total", 0)), page=int(answer.get("page", 1)),
                   size=int(answer.get("size", 20)),
                   hits=[Hit.of(h) for h in answer.get("hits") or []], facets=facets,
                   answer=dict(answer))

    def counts(self, facet: str) -> dict[str, int]:
        """`{"model": 12, "dataset": 4}`: one facet's values and counts."""
        return {b.value: b.count for b in self.facets.get(facet, [])}


@dataclass(frozen=True)
class Suggestion:
    """An artifact name (with its kind), or a tag or metric name (with how many versions
    carry it)."""

    value: str
    kind: str | None = None
    count: int | None = None


def suggest_params(prefix: str, field: SuggestField = "name", size: int = 10
                   ) -> dict[str, str]:
    """GET /v1/suggest's query string, checked first (pure)."""
    check_suggest(prefix, field, size)
    return {"prefix": prefix, "field": field, "size": str(size)}


def suggestions(answer: Mapping[str, Any]) -> list[Suggestion]:
    return [Suggestion(str(s["value"]), s.get("kind"), s.get("count"))
            for s in answer.get("suggestions") or []]


class SearchCalls(ApiCalls):
    @translated
    def search(self, q: str | None = None, **criteria: Unpack[SearchCriteria]) -> SearchResult:
        """Versions matching the words of `q` (all must match) and every criterion, with facet
        counts; private projects you have no role in are neither hits nor counted."""
        return SearchResult.of(self._get("/v1/search", search_params(q, **criteria)))

    @translated
    def suggest(self, prefix: str, field: SuggestField = "name", size: int = 10
                ) -> list[Suggestion]:
        """Artifact names (field "name"), tags or metric names with a word starting with
        what was typed, most used first."""
        return suggestions(self._get("/v1/suggest", suggest_params(prefix, field, size)))
