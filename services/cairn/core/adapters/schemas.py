"""The Avro contracts, loaded from avro_schemas/*.avsc (the single source of truth).

Named types live in one file each (`<namespace>.<Name>.avsc`); fastavro resolves the
references, so each topic's schema is registered as one self-contained document.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import load_schema

SCHEMA_DIR = Path(__file__).resolve().parents[4] / "avro_schemas"
EVENT = "dev.cairn.events.ArtifactEvent"
RECORDED = "dev.cairn.events.RecordedEvent"
USAGE = "dev.cairn.events.UsageEvent"
USAGE_TOTALS = "dev.cairn.events.UsageTotals"
CONFIG = "dev.cairn.events.ConfigEvent"
DELIVERY = "dev.cairn.events.DeliveryAttempt"


def schema_dir() -> Path:
    here = SCHEMA_DIR
    if not here.is_dir():  # installed as a wheel inside a container image: /app/avro_schemas
        here = Path.cwd() / "avro_schemas"
    return here


@cache
def expanded(name: str) -> dict[str, Any]:
    """The schema with every referenced named type inlined, as the registry wants it."""
    schema = load_schema(str(schema_dir() / f"{name}.avsc"), _write_hint=False)
    plain: dict[str, Any] = json.loads(json.dumps(schema))
    return plain


@cache
def parsed(name: str) -> Any:
    return parse_schema(expanded(name))


def as_text(name: str) -> str:
    return json.dumps(expanded(name), separators=(",", ":"), sort_keys=True)  # stable text


def projected(name: str, keep: Mapping[str, Collection[str]]) -> Any:
    """A reader schema of `name` with only the fields `keep` names per record (by short name;
    a record it does not name keeps none). Decoding with it skips the other fields' bytes
    instead of building them: a consumer that reads three fields of a changelog record does
    not pay for its whole state. Resolution keeps it valid for every writer version."""
    def cut(node: Any) -> Any:
        if isinstance(node, list):
            return [cut(n) for n in node]
        if not isinstance(node, dict):
            return node
        if node.get("type") == "record":
            wanted = keep.get(node["name"].rsplit(".", 1)[-1], ())
            return {**node, "fields": [{**f, "type": cut(f["type"])}
                                       for f in node["fields"] if f["name"] in wanted]}
        return {k: cut(v) if k in ("type", "items", "values") else v for k, v in node.items()}

    return parse_schema(cut(expanded(name)))
