"""Metadata against the JSON Schema of its kind (validation/schemas/{kind}.schema.json).

The validated document is the version's content as JSON: kind, project, name, metadata,
environment, links, stage, and `extra` parsed into an object, so a schema can constrain
the free-form extra metadata per kind as well as the standard fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from cairn.validator.checks import FAILED, Outcome, judged

CHECK = "schema"
MAX_REASONS = 20


def document(content: Mapping[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in content.items() if k not in ("files", "digest")}
    try:
        doc["extra"] = json.loads(content.get("extra") or "{}")
    except json.JSONDecodeError:
        doc["extra"] = content.get("extra")  # the schema then says what is wrong with it
    return doc


def check(content: Mapping[str, Any], schema: Mapping[str, Any] | None, source: str
          ) -> Outcome:
    """`source` names the schema file in reasons; no schema for the kind passes."""
    if schema is None:
        return judged(CHECK, ())
    compiled = _compiled_for(schema)
    if isinstance(compiled, str):
        return Outcome(CHECK, FAILED, (f"schema: {source} is not a valid JSON Schema: "
                                       f"{compiled}",))
    errors = sorted(compiled.iter_errors(document(content)),
                    key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"schema: {_where(e.absolute_path)}: {e.message} ({source})"
                for e in errors[:MAX_REASONS]]
    if len(errors) > MAX_REASONS:
        problems.append(f"schema: … and {len(errors) - MAX_REASONS} more")
    return judged(CHECK, problems)


_BY_OBJECT: dict[int, tuple[Mapping[str, Any], Validator | str]] = {}


def _compiled_for(schema: Mapping[str, Any]) -> Validator | str:
    """`_compiled` remembered per schema object as well (rules.load_schema hands out the same
    object until its file changes), so the schema is not serialised again per version. The
    entry holds the object, so its id cannot be reused while it is in there."""
    known = _BY_OBJECT.get(id(schema))
    if known is None or known[0] is not schema:
        if len(_BY_OBJECT) >= 64:
            _BY_OBJECT.clear()
        known = _BY_OBJECT[id(schema)] = (schema, _compiled(json.dumps(schema, sort_keys=True)))
    return known[1]


@lru_cache(maxsize=64)
def _compiled(schema_json: str) -> Validator | str:
    """The schema's validator, or why the schema is invalid: checked against its metaschema
    once per schema text (that check cost ~35 ms, most of a judgement, when made per version)."""
    schema = json.loads(schema_json)
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        return str(exc.message)
    return cls(schema)


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(the whole document)"
