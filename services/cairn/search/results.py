"""Engine answers → Cairn's response shapes, and suggestions as a user types (pure).

Suggestions match word prefixes through the `*.suggest` edge n-gram subfields (a `match`
query, so typed text is never a pattern); tags and metric names are then counted with a
terms aggregation and kept only when one of their words starts with what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cairn.core.domain.identity import InvalidInput
from cairn.search.query import FACETS, HIDDEN_STATUS, SearchRequest, hidden_clause

SUGGEST_FIELDS = {"name": "name", "tag": "tags", "metric": "metric_names"}
_WORD = re.compile(r"[^\W_]+")
_CANDIDATES = 200


def search_response(reply: Mapping[str, Any], req: SearchRequest) -> dict[str, Any]:
    hits = reply["hits"]
    facets = {
        facet: [{"value": b.get("key_as_string", b["key"]), "count": b["doc_count"]}  # bool: "true"
                for b in reply.get("aggregations", {}).get(facet, {}).get("values", {})
                .get("buckets", [])]
        for facet in FACETS
    }
    return {
        "total": hits["total"]["value"],
        "page": req.page,
        "size": req.size,
        "hits": [{**h["_source"], "id": h["_id"], "score": h.get("_score")}
                 for h in hits["hits"]],
        "facets": facets,
    }


def check_suggest(prefix: str, field: str, size: int) -> None:
    if field not in SUGGEST_FIELDS:
        raise InvalidInput("invalid_field", f"field {field!r}: suggest name, tag or metric")
    if not words(prefix) or len(prefix) > 100:
        raise InvalidInput("invalid_prefix", "prefix needs a letter or digit (at most 100 "
                           "characters)")
    if not 1 <= size <= 50:
        raise InvalidInput("invalid_page", "size must be 1..50")


def words(text: str) -> list[str]:
    """Roughly what the `cairn_query` analyzer makes of text: lower-cased letters and digits."""
    return _WORD.findall(text.lower())


def suggest_body(prefix: str, field: str, size: int = 10,
                 hidden_projects: tuple[str, ...] = ()) -> dict[str, Any]:
    check_suggest(prefix, field, size)
    visible = {"bool": {"must_not": [{"term": {"status": HIDDEN_STATUS}}]}}
    match = {"match": {f"{SUGGEST_FIELDS[field]}.suggest": {"query": prefix, "operator": "and"}}}
    query = {"bool": {"must": [match], "filter": [visible, *hidden_clause(hidden_projects)]}}
    if field == "name":
        return {"query": query, "size": size, "collapse": {"field": "artifact"},
                "sort": ["_score", {"usage.total": "desc"}, {"artifact": "asc"}],
                "_source": ["artifact", "project", "name", "kind"]}
    return {"query": query, "size": 0, "aggs": {"values": {"terms": {
        "field": SUGGEST_FIELDS[field], "size": _CANDIDATES}}}}


def _starts(value: str, typed: list[str]) -> bool:
    got = words(value)
    return all(any(w.startswith(t) for w in got) for t in typed)


def suggest_response(reply: Mapping[str, Any], prefix: str, field: str, size: int = 10
                     ) -> dict[str, Any]:
    if field == "name":
        found = [{"value": h["_source"]["artifact"], "kind": h["_source"].get("kind")}
                 for h in reply["hits"]["hits"]]
    else:
        typed = words(prefix)
        buckets = reply.get("aggregations", {}).get("values", {}).get("buckets", [])
        found = [{"value": b["key"], "count": b["doc_count"]} for b in buckets
                 if _starts(b["key"], typed)][:size]
    return {"field": field, "prefix": prefix, "suggestions": found}
