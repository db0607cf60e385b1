"""Check an OpenLineage event against the spec's own JSON schema (vendored unchanged in
openlineage_spec/, see its NOTICE), so what Cairn accepts is exactly what the spec allows.

The spec's root schema is a oneOf of RunEvent, DatasetEvent and JobEvent, whose failure says
only "not valid under any"; so the event's type is read from its keys first (run → RunEvent,
dataset → DatasetEvent, else JobEvent) and checked against that one definition, and every
facet the spec defines (schema, columnLineage, ownership, ...) against its facet schema. A
facet the spec does not define (a custom one: any name, with `_producer` and `_schemaURL`)
is checked only as a base facet and kept. A refusal is InvalidInput("invalid_openlineage")
whose message names the field as a JSON path (`$.run.runId: 'x' is not a 'uuid'`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cairn.core.domain.identity import InvalidInput

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
REASON = "invalid_openlineage"
# facet containers: where in an event (path from a dataset, run or job) → the spec's base def
DATASET_FACETS, INPUT_FACETS, OUTPUT_FACETS = "DatasetFacet", "InputDatasetFacet", \
    "OutputDatasetFacet"
RUN_FACETS, JOB_FACETS = "RunFacet", "JobFacet"


def _load(name: str) -> dict[str, Any]:
    text = resources.files("cairn.core.domain").joinpath("openlineage_spec", name).read_text()
    value: dict[str, Any] = json.loads(text)
    return value


@cache
def _schemas() -> tuple[Registry[Any], dict[str, list[dict[str, Any]]]]:
    """The registry of every vendored schema, and per facet base def the facet schemas that
    extend it (a facet file's root says which facet name it defines)."""
    root = _load("OpenLineage.json")
    resources_ = [(SPEC, Resource.from_contents(root, DRAFT202012))]
    by_base: dict[str, list[dict[str, Any]]] = {}
    folder = resources.files("cairn.core.domain").joinpath("openlineage_spec", "facets")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        facet = json.loads(entry.read_text())
        resources_.append((facet["$id"], Resource.from_contents(facet, DRAFT202012)))
        text = json.dumps(facet)
        # each facet name the file defines, as an optional property (a file's root may
        # require its facet, as BaseSubsetDatasetFacet's does: facets are never required)
        named = {"type": "object", "properties": {
            name: {"$ref": f"{facet['$id']}#/properties/{name}"}
            for name in facet.get("properties", {})}}
        for base in (DATASET_FACETS, INPUT_FACETS, OUTPUT_FACETS, RUN_FACETS, JOB_FACETS):
            if f'OpenLineage.json#/$defs/{base}"' in text:
                by_base.setdefault(base, []).append(named)
    return Registry().with_resources(resources_), by_base


def event_type(event: Mapping[str, Any]) -> str:
    """RunEvent, DatasetEvent or JobEvent, by the keys the spec makes each one require."""
    if "run" in event:
        return "RunEvent"
    return "DatasetEvent" if "dataset" in event else "JobEvent"


def _validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    registry, _ = _schemas()
    return Draft202012Validator(schema, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def _facet_errors(event: Mapping[str, Any]) -> Iterator[ValidationError]:
    """Each spec-defined facet checked against its own schema, where it stands."""
    _, by_base = _schemas()
    for path, base in _facet_places(event):
        facets = _at(event, path)
        if not isinstance(facets, Mapping):
            continue
        for schema in by_base.get(base, []):
            for error in _validator(schema).iter_errors(facets):
                error.path.extendleft(reversed(path))
                yield error


def _facet_places(event: Mapping[str, Any]) -> Iterator[tuple[list[str | int], str]]:
    yield ["run", "facets"], RUN_FACETS
    yield ["job", "facets"], JOB_FACETS
    yield ["dataset", "facets"], DATASET_FACETS
    for side, extra in (("inputs", INPUT_FACETS), ("outputs", OUTPUT_FACETS)):
        items = event.get(side)
        for i in range(len(items) if isinstance(items, list) else 0):
            yield [side, i, "facets"], DATASET_FACETS
            yield [side, i, "inputFacets" if side == "inputs" else "outputFacets"], extra


def _at(value: Any, path: list[str | int]) -> Any:
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and step < len(value) else None
        else:
            value = value.get(step) if isinstance(value, Mapping) else None
    return value


def _where(error: ValidationError) -> str:
    return str(error.json_path)


def check_event(event: Any) -> dict[str, Any]:
    """The event if the spec accepts it, else InvalidInput naming the first bad field."""
    if not isinstance(event, dict):
        raise InvalidInput(REASON, "$: an OpenLineage event is a JSON object")
    kind = event_type(event)
    error = best_match(_validator({"$ref": f"{SPEC}#/$defs/{kind}"}).iter_errors(event))
    if error is None:
        error = next(iter(sorted(_facet_errors(event), key=lambda e: list(e.path))), None)
    if error is not None:
        raise InvalidInput(REASON, f"{_where(error)}: {error.message} ({kind})")
    try:
        dt.datetime.fromisoformat(event["eventTime"])
    except ValueError:
        raise InvalidInput(REASON, f"$.eventTime: {event['eventTime']!r} is not an ISO 8601 "
                           f"date-time ({kind})") from None
    return event
