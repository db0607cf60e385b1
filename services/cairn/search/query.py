"""Search requests: parsed and checked in pure code, then turned into an engine request body.

User text only ever goes into `match` queries (operator and) or exact `term`/`terms`
values, never into query_string, regexps or wildcards, so no operator or pattern a user
types can change what the query means. Facet counts follow faceted-search practice: every
facet is counted with every filter but its own (facet filters go in `post_filter`, each
facet's aggregation sits in a `filter` aggregation of all the other facet filters).
What a caller may not see is left out in the engine too: versions of hidden projects by a
query filter, datasets they may not learn of (dataset_seen) from the dataset facet by a
script whose parameters are project names, never user text.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.core.domain.identity import InvalidInput
from cairn.search.documents import field_name_ok

# filter/facet name → document field
FACETS = {
    "kind": "kind", "project": "project", "stage": "stage", "tag": "tags", "license": "license",
    "creator": "creator", "owner_team": "owner_team", "framework": "framework",
    "validation": "validation", "dataset": "datasets", "status": "status", "alias": "aliases",
    "legal_hold": "legal_hold",  # boolean: values true | false
    "environment": "environment_digest",  # versions that share an environment, by digest
}
FLAGS = {"true": "true", "yes": "true", "1": "true", "false": "false", "no": "false", "0": "false"}
OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt", "=": "eq", "==": "eq"}
MAX_WINDOW = 10_000  # the engines' index.max_result_window
MAX_TEXT = 500
MAX_ANY = 20  # alternatives in one `any` group
HIDDEN_STATUS = "deleted"  # shown only when a status filter asks for it
_METRIC = re.compile(r"^\s*(?:metric\.)?(?P<name>[^<>=]+?)\s*(?P<op>>=|<=|==|=|>|<)\s*"
                     r"(?P<value>[^<>=\s]+)\s*$")


@dataclass(frozen=True)
class MetricRange:
    name: str
    op: str  # a key of OPS
    value: float

    def clause(self) -> dict[str, Any]:
        path = f"metrics.{self.name}"
        if OPS[self.op] == "eq":
            return {"term": {path: self.value}}
        return {"range": {path: {OPS[self.op]: self.value}}}


@dataclass(frozen=True)
class SearchRequest:
    q: str | None = None
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: tuple[MetricRange, ...] = ()
    created_after: int | None = None  # epoch millis, inclusive
    created_before: int | None = None  # epoch millis, exclusive
    sort: str = "relevance"
    page: int = 1
    size: int = 20
    facet_size: int = 20
    # `any` groups: each matches when one of its alternatives does (facet=value or a metric
    # range); groups, like filters, must all match
    any_of: tuple[tuple[tuple[str, str] | MetricRange, ...], ...] = ()
    hidden_projects: tuple[str, ...] = ()  # private projects the caller may not see
    # every project that exists; None: any project counts as existing (a site admin)
    known_projects: frozenset[str] | None = None


def parse_metric(expr: str) -> MetricRange:
    """`accuracy>=0.9` or `metric.accuracy>=0.9` (ops: >= <= > < =)."""
    match = _METRIC.match(expr)
    if not match or not field_name_ok(match["name"].strip()):
        raise InvalidInput("invalid_metric_filter", f"{expr!r}: write a metric filter as "
                           "name>=number, e.g. accuracy>=0.9 (ops: >= <= > < =)")
    try:
        value = float(match["value"])
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidInput("invalid_metric_filter", f"{expr!r}: {match['value']!r} is not a "
                           "finite number")
    return MetricRange(match["name"].strip(), match["op"], value)


def parse_filter(expr: str) -> tuple[str, str] | MetricRange:
    """A CLI/api `filter`: `kind=model`, `tag=nlp` or a metric range `metric.acc>=0.9`."""
    if expr.strip().startswith("metric."):
        return parse_metric(expr)
    name, sep, value = expr.partition("=")
    name = name.strip()
    if not sep or name not in FACETS or not value.strip():
        raise InvalidInput("invalid_filter", f"{expr!r}: use one of "
                           f"{', '.join(f'{f}=VALUE' for f in FACETS)} or metric.NAME>=NUMBER")
    return name, value.strip()


def parse_any(group: str) -> tuple[tuple[str, str] | MetricRange, ...]:
    """An `any` group: filter expressions joined by `|`, any of which may match, e.g.
    `tag=nlp|framework=pytorch|metric.f1>=0.8` (OR across facets)."""
    parts = [p for p in group.split("|") if p.strip()]
    if not parts or len(parts) > MAX_ANY:
        raise InvalidInput("invalid_filter", f"any={group!r}: join 1 to {MAX_ANY} filters "
                           "with |, e.g. tag=nlp|framework=pytorch")
    parsed = [parse_filter(p) for p in parts]
    return tuple(x if isinstance(x, MetricRange) or x[0] != "legal_hold"
                 else (x[0], flag(x[1], "legal_hold")) for x in parsed)


def flag(text: str, what: str) -> str:
    """A boolean filter's value as the engine's facet names it: true or false."""
    try:
        return FLAGS[text.strip().lower()]
    except KeyError:
        raise InvalidInput("invalid_filter", f"{what}={text!r}: use true or false") from None


def hold_clause(values: Iterable[str]) -> dict[str, Any] | None:
    """legal_hold=false is "not held", so documents indexed before the field existed (no
    value until `cairn reindex`) count as not held, here and in the facet (`missing`)."""
    wanted = set(values)
    if wanted == {"true"}:
        return {"term": {"legal_hold": True}}
    if wanted == {"false"}:
        return {"bool": {"must_not": [{"term": {"legal_hold": True}}]}}
    return None


def parse_date(text: str, what: str) -> int:
    """ISO date or date-time (UTC unless it says otherwise) → epoch millis."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("invalid_date", f"{what} {text!r}: use an ISO date such as "
                           "2025-01-31 or 2025-01-31T12:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def sort_clauses(sort: str) -> list[Any]:
    """relevance | created[:asc|:desc] | usage | metric.<name>[:asc|:desc]; ties by ref."""
    key, _, order = sort.strip().partition(":")
    if order not in ("", "asc", "desc"):
        raise InvalidInput("invalid_sort", f"sort {sort!r}: the order must be asc or desc")
    order = order or "desc"
    if key == "relevance":
        clauses: list[Any] = ["_score", {"created_at": "desc"}]
    elif key == "created":
        clauses = [{"created_at": order}]
    elif key == "usage":
        clauses = [{"usage.total": order}, {"created_at": "desc"}]
    elif key.startswith("metric.") and field_name_ok(key.removeprefix("metric.")):
        clauses = [{f"metrics.{key.removeprefix('metric.')}": {
            "order": order, "missing": "_last", "unmapped_type": "double"}}]
    else:
        raise InvalidInput("invalid_sort", f"sort {sort!r}: use relevance, created, usage or "
                           "metric.NAME, optionally with :asc or :desc")
    return [*clauses, {"ref": "asc"}]


def build_request(*, q: str | None = None, filters: Mapping[str, Iterable[str]] | None = None,
                  expressions: Iterable[str] = (), metrics: Iterable[str] = (),
                  created_after: str | None = None, created_before: str | None = None,
                  sort: str = "relevance", page: int = 1, size: int = 20,
                  facet_size: int = 20, any_of: Iterable[str] = (),
                  hidden_projects: Iterable[str] = (),
                  known_projects: Iterable[str] | None = None) -> SearchRequest:
    """Everything a caller gives, checked: InvalidInput names the parameter to fix.
    `any_of`: `any` groups (parse_any). `hidden_projects` and `known_projects` are what
    cairn.api.visibility.Hidden holds."""
    chosen: dict[str, list[str]] = {}
    for name, values in (filters or {}).items():
        if name not in FACETS:
            raise InvalidInput("invalid_filter", f"unknown filter {name!r}")
        chosen.setdefault(name, []).extend(v.strip() for v in values if v.strip())
    ranges = [parse_metric(m) for m in metrics]
    for expr in expressions:
        parsed = parse_filter(expr)
        if isinstance(parsed, MetricRange):
            ranges.append(parsed)
        else:
            chosen.setdefault(parsed[0], []).append(parsed[1])
    if "legal_hold" in chosen:
        chosen["legal_hold"] = [flag(v, "legal_hold") for v in chosen["legal_hold"]]
    q = (q or "").strip() or None
    if q is not None and len(q) > MAX_TEXT:
        raise InvalidInput("invalid_query", f"q is {len(q)} characters; the limit is {MAX_TEXT}")
    if not 1 <= size <= 100 or page < 1 or page * size > MAX_WINDOW:
        raise InvalidInput("invalid_page", f"page {page} of size {size}: size is 1..100 and "
                           f"page*size at most {MAX_WINDOW}; narrow the search instead")
    if not 1 <= facet_size <= 500:
        raise InvalidInput("invalid_page", "facet_size must be 1..500")
    sort_clauses(sort)  # refuse a bad sort before anything is sent
    return SearchRequest(
        q=q, filters={k: tuple(dict.fromkeys(v)) for k, v in chosen.items() if v},
        metrics=tuple(ranges), any_of=tuple(parse_any(g) for g in any_of),
        created_after=parse_date(created_after, "created_after") if created_after else None,
        created_before=parse_date(created_before, "created_before") if created_before else None,
        sort=sort, page=page, size=size, facet_size=facet_size,
        hidden_projects=tuple(sorted(hidden_projects)),
        known_projects=None if known_projects is None else frozenset(known_projects),
    )


MATCH_NONE: dict[str, Any] = {"bool": {"must_not": [{"match_all": {}}]}}


def dataset_seen(req: SearchRequest, value: str) -> bool:
    """Whether the caller may learn of a dataset value (`project/name`, or a `sha256:` digest):
    cairn.api.visibility's rule (Hidden.unseen), so a link to a private project, to one that
    does not exist and to a bare digest (which could be anyone's) look alike. Without
    `known_projects` only hidden projects' datasets are unseen. DATASETS_SCRIPT is this rule
    for the engine: keep the two in step."""
    project, slash, _ = value.partition("/")
    if project in req.hidden_projects:
        return False
    return req.known_projects is None or (bool(slash) and project in req.known_projects)


def seen_values(req: SearchRequest, facet: str) -> tuple[str, ...]:
    """A filter's values without unseen datasets: a visible model trained on one would match
    it and confirm the name, so such a value matches nothing, as a dataset nobody links to."""
    values = req.filters.get(facet) or ()
    if facet != "dataset":
        return values
    return tuple(v for v in values if dataset_seen(req, v))


def facet_clause(req: SearchRequest, facet: str) -> dict[str, Any] | None:
    """The filter a facet contributes; status hides deleted versions unless asked. A filter
    whose every value is unseen matches nothing (dropping it would widen the search)."""
    if facet == "legal_hold":
        return hold_clause(req.filters.get(facet) or ())
    if req.filters.get(facet):
        values = seen_values(req, facet)
        return {"terms": {FACETS[facet]: list(values)}} if values else MATCH_NONE
    if facet == "status":
        return {"bool": {"must_not": [{"term": {"status": HIDDEN_STATUS}}]}}
    return None


def any_clause(req: SearchRequest, group: Iterable[tuple[str, str] | MetricRange]
               ) -> dict[str, Any]:
    """One `any` group: a should of its alternatives (an unseen dataset matches nothing)."""
    should = []
    for alt in group:
        if isinstance(alt, MetricRange):
            should.append(alt.clause())
        elif alt[0] == "legal_hold":
            should.append(hold_clause([alt[1]]) or {"match_all": {}})
        elif alt[0] != "dataset" or dataset_seen(req, alt[1]):
            should.append({"term": {FACETS[alt[0]]: alt[1]}})
    return {"bool": {"should": should, "minimum_should_match": 1}} if should else MATCH_NONE


def _all_but(req: SearchRequest, skip: str | None) -> list[dict[str, Any]]:
    return [c for f in FACETS if f != skip and (c := facet_clause(req, f)) is not None]


def text_query(q: str | None) -> dict[str, Any]:
    if q is None:
        return {"match_all": {}}
    return {"bool": {
        "must": [{"match": {"all_text": {"query": q, "operator": "and"}}}],
        "should": [
            {"term": {"name": {"value": q, "boost": 8}}},
            {"match": {"name.text": {"query": q, "operator": "and", "boost": 4}}},
            {"match": {"tags.text": {"query": q, "boost": 2}}},
            {"match": {"description": {"query": q, "boost": 1.5}}},
        ],
    }}


def hidden_clause(hidden: Iterable[str]) -> list[dict[str, Any]]:
    """The filter that keeps private projects out of hits, facet counts and suggestions: in
    the query itself, so the engine never counts what the caller may not see."""
    names = sorted(hidden)
    return [{"bool": {"must_not": [{"terms": {"project": names}}]}}] if names else []


# The dataset facet's values the caller may see (dataset_seen in Painless): a terms `exclude`
# can only name what to leave out, and the projects that do not exist have no list.
DATASETS_SCRIPT = """
List seen = new ArrayList();
for (String value : doc['datasets']) {
  int cut = value.indexOf('/');
  String project = cut >= 0 ? value.substring(0, cut) : value;
  if (!params.hidden.containsKey(project)
      && (params.known == null || (cut >= 0 && params.known.containsKey(project)))) {
    seen.add(value);
  }
}
return seen;
"""


# The longest `include` pattern: OpenSearch and Elasticsearch refuse a regex longer than
# index.max_regex_length (1000 by default) with a 400; a longer one is DATASETS_SCRIPT.
MAX_PATTERN = 1000


def literal(text: str) -> str:
    """`text` as a literal in the engine's (Lucene) regular expression syntax: every
    character but a letter or digit escaped, so no name can be an operator."""
    return "".join(ch if ch.isascii() and ch.isalnum() else f"\\{ch}" for ch in text)


def datasets_terms(req: SearchRequest) -> dict[str, Any]:
    """The dataset facet's terms source: the field itself, or, when the caller may not see
    every dataset, only the values dataset_seen keeps: an `include` pattern of the seen
    projects (`(a|b)/.*`; the engine matches it once against the field's terms, not per
    document — the script cost more than any other facet), or, for a pattern longer than
    MAX_PATTERN or with no project seen, DATASETS_SCRIPT (params are maps: constant-time
    look-ups, and the script's source stays one compiled script)."""
    if not req.hidden_projects and req.known_projects is None:
        return {"field": FACETS["dataset"]}
    if req.known_projects is not None:
        seen = sorted(req.known_projects.difference(req.hidden_projects))
        pattern = f"({'|'.join(literal(p) for p in seen)})/.*"
        if seen and len(pattern) <= MAX_PATTERN:
            return {"field": FACETS["dataset"], "include": pattern}
    known = None if req.known_projects is None else dict.fromkeys(sorted(req.known_projects), 1)
    return {"script": {"lang": "painless", "source": DATASETS_SCRIPT, "params": {
        "hidden": dict.fromkeys(req.hidden_projects, 1), "known": known}}}


def facet_terms(req: SearchRequest, facet: str) -> dict[str, Any]:
    """A facet's terms aggregation: legal_hold counts documents without it as false, and
    the dataset facet names only datasets the caller may see (a visible model trained on an
    unseen dataset names it)."""
    if facet == "dataset":
        return {"terms": {**datasets_terms(req), "size": req.facet_size}}
    terms: dict[str, Any] = {"field": FACETS[facet], "size": req.facet_size}
    if facet == "legal_hold":
        terms["missing"] = False
    return {"terms": terms}


SHARED = "shared"  # the aggregation that counts every facet without a filter of its own


def facet_aggs(req: SearchRequest) -> dict[str, Any]:
    """Each facet counted under every filter but its own. The facets without a filter of
    their own all count under the same filter (every facet filter), so they share one
    `filter` aggregation: the engine tests that filter once per hit instead of once per
    facet (14 filters over every hit was most of a search's time at 100k versions).
    Each filtered facet gets its own. Facet `f`'s buckets: aggregations.<group>.<f>."""
    shared, own = {}, {}
    for facet in FACETS:
        if facet_clause(req, facet) is None:
            shared[facet] = facet_terms(req, facet)
        else:
            own[facet] = {"filter": {"bool": {"filter": _all_but(req, facet)}},
                          "aggs": {facet: facet_terms(req, facet)}}
    if shared:
        own[SHARED] = {"filter": {"bool": {"filter": _all_but(req, None)}}, "aggs": shared}
    return own


def search_body(req: SearchRequest) -> dict[str, Any]:
    common: list[dict[str, Any]] = [m.clause() for m in req.metrics]
    common += [any_clause(req, group) for group in req.any_of]
    common += hidden_clause(req.hidden_projects)
    if req.created_after is not None or req.created_before is not None:
        bounds = {"gte": req.created_after, "lt": req.created_before}
        common.append({"range": {"created_at": {k: v for k, v in bounds.items()
                                                if v is not None}}})
    return {
        "query": {"bool": {"must": [text_query(req.q)], "filter": common}},
        "post_filter": {"bool": {"filter": _all_but(req, None)}},
        "aggs": facet_aggs(req),
        "sort": sort_clauses(req.sort if req.q or req.sort != "relevance" else "created"),
        "from": (req.page - 1) * req.size,
        "size": req.size,
        "track_total_hits": True,
        "_source": {"excludes": ["card", "links", "as_of"]},  # as_of: merge bookkeeping
    }
