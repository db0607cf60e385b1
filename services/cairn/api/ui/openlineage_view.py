"""An OpenLineage dataset's schema and column lineage, read for the version page (pure).

OpenLineage in (cairn.core.domain.openlineage) keeps every facet whole in
`extra.openlineage.facets`; the page shows two of them as tables: `schema` (fields, nested
ones by a dotted name) and `columnLineage` (each output field, the input fields it came from
and how). Anything malformed is left out: the facets arrive as the producer wrote them, and
the Extra section still shows them whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 500  # a wide table's schema stays a page


@dataclass(frozen=True)
class SchemaField:
    name: str  # dotted for a nested field: address.city
    type: str
    description: str


@dataclass(frozen=True)
class ColumnSource:
    dataset: str  # namespace/name
    field: str
    how: str  # its transformations (type, subtype, description), or ""


@dataclass(frozen=True)
class ColumnLineage:
    field: str
    sources: list[ColumnSource]
    how: str  # the field's transformationDescription/Type (older producers), or ""


def _facets(extra: Any) -> Mapping[str, Any]:
    ol = extra.get("openlineage") if isinstance(extra, Mapping) else None
    facets = ol.get("facets") if isinstance(ol, Mapping) else None
    return facets if isinstance(facets, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _fields(fields: Any, prefix: str = "", depth: int = 0) -> Iterator[SchemaField]:
    for f in fields if isinstance(fields, list) else ():
        if not isinstance(f, Mapping) or not _text(f.get("name")):
            continue
        name = f"{prefix}{f['name']}"
        yield SchemaField(name, _text(f.get("type")), _text(f.get("description")))
        if depth < 10:
            yield from _fields(f.get("fields"), f"{name}.", depth + 1)


def schema(extra: Any) -> list[SchemaField]:
    """The `schema` facet's fields, nested ones after their parent."""
    facet = _facets(extra).get("schema")
    found = _fields(facet.get("fields")) if isinstance(facet, Mapping) else iter(())
    return [f for _, f in zip(range(MAX_ROWS), found, strict=False)]


def _how(*parts: Any) -> str:
    return " · ".join(p for p in map(_text, parts) if p)


def _source(given: Any) -> ColumnSource | None:
    if not isinstance(given, Mapping) or not _text(given.get("field")):
        return None
    steps = given.get("transformations")
    how = "; ".join(_how(t.get("type"), t.get("subtype"), t.get("description"))
                    for t in steps if isinstance(t, Mapping)) if isinstance(steps, list) else ""
    dataset = "/".join(p for p in (_text(given.get("namespace")), _text(given.get("name")))
                       if p)
    return ColumnSource(dataset, given["field"], how)


def column_lineage(extra: Any) -> list[ColumnLineage]:
    """The `columnLineage` facet: each output field and the input fields it came from."""
    facet = _facets(extra).get("columnLineage")
    fields = facet.get("fields") if isinstance(facet, Mapping) else None
    out: list[ColumnLineage] = []
    for name, spec in (fields.items() if isinstance(fields, Mapping) else ()):
        if not isinstance(spec, Mapping) or len(out) >= MAX_ROWS:
            continue
        inputs = spec.get("inputFields")
        sources = [s for s in map(_source, inputs if isinstance(inputs, list) else ()) if s]
        out.append(ColumnLineage(str(name), sources, _how(spec.get("transformationType"),
                                                          spec.get("transformationDescription"))))
    return out
