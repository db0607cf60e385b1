"""Generate services/cairn/core/domain/event_types.py (TypedDicts) from avro_schemas/*.avsc.

The .avsc files are the single source of truth; this derives the Python types from them so
mypy checks event dicts without anyone typing the contract twice: a TypedDict per record,
`PayloadType` (the names of ArtifactEvent's payload branches) and `Payload` (their bodies),
and `DEFAULTS` (each record's Avro field defaults, which builders fill in). A unit test fails
when the generated file is stale: run `python scripts/avrogen.py` after changing a schema.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))

from cairn.core.adapters import schemas  # noqa: E402

TARGET = ROOT / "services" / "cairn" / "core" / "domain" / "event_types.py"
WIDTH = 100  # ruff's line-length: the generated file is linted like the rest
PRIMITIVES = {"string": "str", "long": "int", "int": "int", "double": "float", "float": "float",
              "boolean": "bool", "null": "None", "bytes": "bytes"}


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _type(t: Any, records: dict[str, dict[str, Any]]) -> str:
    if isinstance(t, str):
        return PRIMITIVES.get(t) or _short(t)
    if isinstance(t, list):
        branches = [_type(b, records) for b in t]
        named = [b for b in t if isinstance(b, dict) and b.get("type") == "record"
                 or isinstance(b, str) and b not in PRIMITIVES]
        if len(named) > 1:  # a union of records travels as (full name, body)
            return "tuple[str, " + " | ".join(branches) + "]"
        return " | ".join(branches)
    kind = t["type"]
    if kind == "record":
        records.setdefault(_short(t["name"]), t)
        for field in t["fields"]:
            _type(field["type"], records)
        return _short(t["name"])
    if kind == "array":
        return f"list[{_type(t['items'], records)}]"
    if kind == "map":
        return f"dict[str, {_type(t['values'], records)}]"
    return PRIMITIVES[kind]


def _docstring(doc: str) -> list[str]:
    """The class docstring, wrapped within WIDTH."""
    lines = textwrap.wrap(doc, WIDTH - len('"""'), initial_indent='    """',
                          subsequent_indent="    ", break_long_words=False,
                          break_on_hyphens=False)
    lines[-1] += '"""'
    return lines


def _field(name: str, annotation: str) -> list[str]:
    """`name: annotation`; a union too long for one line is split before its `|`s."""
    line = f"    {name}: {annotation}"
    if len(line) <= WIDTH or " | " not in annotation:
        return [line]
    prefix, opening, closing = "", "(", ")"
    if annotation.startswith("tuple[str, "):  # a union of records: tuple[str, A | B | ...]
        prefix, opening, closing = "str,", "tuple[", "]"
        annotation = annotation.removeprefix("tuple[str, ").removesuffix("]")
    out = [f"    {name}: {opening}"] + ([f"        {prefix}"] if prefix else [])
    current = "        "
    for i, branch in enumerate(annotation.split(" | ")):
        piece = branch if i == 0 else f" | {branch}"
        if i and len(current) + len(piece) > WIDTH:
            out.append(current)
            current, piece = "        ", f"| {branch}"
        current += piece
    return [*out, current + ("," if prefix else ""), f"    {closing}"]


def _literal(value: Any) -> str:
    """A default as Python source: null, booleans, numbers, strings, empty arrays and maps."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | dict) and value:
        raise ValueError(f"a non-empty default {value!r} is not supported")
    return repr(value)


def _payload_names(event: dict[str, Any]) -> list[str]:
    """ArtifactEvent's payload branches, in the schema's order."""
    union = next(f["type"] for f in event["fields"] if f["name"] == "payload")
    return [_short(b if isinstance(b, str) else b["name"]) for b in union]


def _defaults(records: dict[str, dict[str, Any]]) -> list[str]:
    out = ["", "# Each record's Avro field defaults: what a builder fills in for a field not given",
           "DEFAULTS: dict[str, dict[str, object]] = {"]
    for name, record in records.items():
        given = [(f["name"], f["default"]) for f in record["fields"] if "default" in f]
        if given:
            out.append(f'    "{name}": {{')
            out += [f'        "{field}": {_literal(value)},' for field, value in given]
            out.append("    },")
    return [*out, "}"]


def _class(name: str, record: dict[str, Any], records: dict[str, dict[str, Any]],
           generic: str = "") -> list[str]:
    out = ["", f"class {name}(TypedDict{generic}):"]
    if record.get("doc"):
        out += [*_docstring(record["doc"]), ""]
    for field in record["fields"]:
        annotation = _type(field["type"], records)
        if generic and field["name"] == "payload":  # ArtifactEvent[Verdict]: a Verdict's event
            annotation = "tuple[str, P]"
        out += _field(field["name"], annotation)
    return [*out, ""]


def render() -> str:
    records: dict[str, dict[str, Any]] = {}
    for name in (schemas.EVENT, schemas.RECORDED, schemas.USAGE, schemas.USAGE_TOTALS,
                 schemas.CONFIG, schemas.DELIVERY):
        _type(schemas.expanded(name), records)
    event = _short(schemas.EVENT)
    payloads = _payload_names(records[event])
    out = ['"""Generated by scripts/avrogen.py from avro_schemas/ — do not edit by hand."""', "",
           "from __future__ import annotations", "",
           "from typing import Generic, Literal, TypeAlias, TypedDict, get_args", "",
           "from typing_extensions import TypeVar", ""]
    for name, record in records.items():
        if name != event:
            out += _class(name, record, records)
    out += ["", "# The branches of ArtifactEvent.payload: the short name travels with the body.",
            "PayloadType: TypeAlias = Literal[", *[f'    "{p}",' for p in payloads], "]",
            "Payload: TypeAlias = (", f"    {payloads[0]}",
            *[f"    | {p}" for p in payloads[1:]], ")",
            "PAYLOAD_TYPES: tuple[PayloadType, ...] = get_args(PayloadType)",
            'P = TypeVar("P", bound=Payload, default=Payload)', "",
            *_class(event, records[event], records, ", Generic[P]"),
            *_defaults(records)]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
