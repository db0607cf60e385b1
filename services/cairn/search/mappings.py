"""The index's settings and explicit mappings (one physical index per build, behind an alias).

Facets are keyword fields; names, tags and prose are indexed by one analyzer that splits on
anything that is not a letter or digit and again where letters meet digits or case changes,
keeping the whole word too (so `resnet50-imagenet_v2.1` is found by `imagenet`, `resnet` and
`resnet50`); queries are split on non-alphanumerics only, so `resnet50` stays one exact word.
`*.suggest` subfields hold edge n-grams of each word for suggestions as a user types.
One shard: facet counts are exact (a terms aggregation over several shards is approximate).
"""

from __future__ import annotations

from typing import Any

_WORDS = r"[^\p{L}\p{N}]+"
_TEXT = {"type": "text", "analyzer": "cairn_text", "search_analyzer": "cairn_query"}
_SUGGEST = {"type": "text", "analyzer": "cairn_prefix", "search_analyzer": "cairn_query"}


def index_settings(refresh_interval: str = "1s", replicas: int = 0) -> dict[str, Any]:
    """`refresh_interval` is near-real-time visibility (CAIRN_SEARCH_REFRESH): the only
    refresh there is; requests never refresh. `replicas` (CAIRN_SEARCH_REPLICAS): 0 keeps a
    single-node stack green; 1 on a cluster keeps the index searchable when a node dies."""
    return {
        "number_of_shards": 1,
        "number_of_replicas": replicas,
        "refresh_interval": refresh_interval,
        "mapping.total_fields.limit": 5000,  # metric and param names become fields
        "analysis": {
            "tokenizer": {"cairn_words": {"type": "pattern", "pattern": _WORDS}},
            "filter": {
                "cairn_prefixes": {"type": "edge_ngram", "min_gram": 1, "max_gram": 20},
                "cairn_parts": {"type": "word_delimiter_graph", "preserve_original": True},
            },
            "analyzer": {
                "cairn_text": {"type": "custom", "tokenizer": "cairn_words",
                               "filter": ["cairn_parts", "flatten_graph", "lowercase",
                                          "asciifolding"]},
                "cairn_query": {"type": "custom", "tokenizer": "cairn_words",
                                "filter": ["lowercase", "asciifolding"]},
                "cairn_prefix": {"type": "custom", "tokenizer": "cairn_words",
                                 "filter": ["cairn_parts", "flatten_graph", "lowercase",
                                            "asciifolding", "cairn_prefixes"]},
            },
        },
    }


def _keyword(*, text: bool = False, suggest: bool = False, all_text: bool = False
             ) -> dict[str, Any]:
    field: dict[str, Any] = {"type": "keyword", "ignore_above": 512}
    subfields = {**({"text": _TEXT} if text else {}), **({"suggest": _SUGGEST} if suggest else {})}
    if subfields:
        field["fields"] = subfields
    if all_text:
        field["copy_to"] = "all_text"
    return field


def mappings() -> dict[str, Any]:
    """Root `dynamic: false`: a field documents.py adds before the mapping knows it is kept
    in _source but never breaks indexing; only metrics.* and params.* map themselves."""
    keyword = _keyword()
    return {
        "dynamic": False,
        "date_detection": False,
        "numeric_detection": False,
        "dynamic_templates": [
            {"metrics": {"path_match": "metrics.*", "match_mapping_type": "double",
                         "mapping": {"type": "double"}}},
            {"metric_ints": {"path_match": "metrics.*", "match_mapping_type": "long",
                             "mapping": {"type": "double"}}},
            {"params": {"path_match": "params.*", "match_mapping_type": "string",
                        "mapping": {"type": "keyword", "ignore_above": 256}}},
        ],
        "properties": {
            "ref": keyword,
            "artifact": keyword,
            "project": _keyword(text=True, all_text=True),
            "name": _keyword(text=True, suggest=True, all_text=True),
            "kind": keyword,
            "version_number": {"type": "integer"},
            "digest": keyword,
            "stage": keyword,
            "status": keyword,
            "validation": keyword,
            "aliases": keyword,
            "tags": _keyword(text=True, suggest=True, all_text=True),
            "license": keyword,
            "creator": keyword,
            "owner_team": keyword,
            "framework": _keyword(all_text=True),
            "data_source": keyword,
            "description": {**_TEXT, "copy_to": "all_text"},
            "card": {**_TEXT, "copy_to": "all_text"},
            "datasets": keyword,  # not in all_text: free text would confirm hidden names
            "links": {"properties": {"relation": keyword, "target": keyword}},
            "metrics": {"type": "object", "dynamic": True},
            "metric_names": _keyword(suggest=True),
            "params": {"type": "object", "dynamic": True},
            "created_at": {"type": "date", "format": "epoch_millis"},
            "seq": {"type": "long"},
            "usage": {"properties": {"views": {"type": "long"}, "downloads": {"type": "long"},
                                     "total": {"type": "long"}}},
            "completeness": {"type": "float"},
            "legal_hold": {"type": "boolean"},
            "environment_digest": keyword,
            "python": keyword,
            "all_text": _TEXT,
        },
    }


def index_body(refresh_interval: str = "1s", replicas: int = 0) -> dict[str, Any]:
    return {"settings": index_settings(refresh_interval, replicas), "mappings": mappings()}
