"""Run events carrying each facet the OpenLineage spec defines, from the spec's own examples
(tests/unit/openlineage_examples/facets, OpenLineage's spec/tests), each placed wherever its
schema says that facet may stand (dataset, input, output, run or job facets)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).parent / "unit" / "openlineage_examples" / "facets"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/client/python"
PLACES = {  # the spec's base facet → where in a RunEvent it stands
    "DatasetFacet": ("outputs", "facets"), "InputDatasetFacet": ("inputs", "inputFacets"),
    "OutputDatasetFacet": ("outputs", "outputFacets"), "RunFacet": ("run", "facets"),
    "JobFacet": ("job", "facets"),
}


def _bases(schema_file: str) -> list[str]:
    text = resources.files("cairn.core.domain").joinpath(
        "openlineage_spec", "facets", schema_file).read_text()
    return [b for b in PLACES if f'OpenLineage.json#/$defs/{b}"' in text]


def _event(namespace: str) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE", "eventTime": "2026-12-03T08:00:00Z", "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4()), "facets": {}},
        "job": {"namespace": "facets", "name": "every-facet", "facets": {}},
        "inputs": [{"namespace": namespace, "name": "in", "facets": {}, "inputFacets": {}}],
        "outputs": [{"namespace": namespace, "name": "out", "facets": {}, "outputFacets": {}}],
    }


def facet_events(namespace: str = "s3://facets") -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, event) for each example facet in each place its schema allows."""
    for path in sorted(EXAMPLES.glob("*/*.json")):
        for base in _bases(f"{path.parent.name}.json"):
            event = _event(namespace)
            side, key = PLACES[base]
            holder = event[side][0] if side in ("inputs", "outputs") else event[side]
            for name, facet in json.loads(path.read_text()).items():
                holder[key][name] = {"_producer": PRODUCER,
                                     "_schemaURL": f"https://openlineage.io/{name}", **facet}
            yield f"{path.parent.name}/{path.name}@{base}", event
