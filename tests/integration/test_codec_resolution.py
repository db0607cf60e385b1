"""AvroCodec reads a record written with its own schema by the writer schema alone (fastavro's
field-by-field resolution cost about two thirds of every consumer's decode), and still
resolves a record written with an older schema, filling the defaults of the fields it lacks."""

from __future__ import annotations

import copy
import io
import json
import struct
import uuid
from typing import Any

import fastavro
from cairn.core.adapters import schemas
from cairn.core.adapters.codec import MAGIC, AvroCodec, RegistryClient

from tests.conftest import Namespace
from tests.endpoints import Endpoints

STATE: dict[str, Any] = {
    "version_number": 3, "digest": "sha256:" + "ab" * 32, "stage": "staging",
    "aliases": ["best"], "status": "active", "validation": "valid", "completeness": 0.5,
    "created_at": 1_700_000_000_000, "updated_seq": 41, "legal_hold": False,
    "incoming": [{"relation": "evaluates", "source": "p/e@v1", "seq": 40}],
}


def _without_incoming(schema: Any) -> Any:
    """VersionState as it was before `incoming` (a field with a default) was added."""
    schema = copy.deepcopy(schema)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "incoming"]
    return schema


def _state_schema() -> Any:
    """VersionState with its content (a Published) replaced by a string, to keep the test's
    record small: the codec is what is tested, not the contract."""
    schema = copy.deepcopy(schemas.expanded(schemas.RECORDED))
    state = next(f for f in schema["fields"] if f["name"] == "state")["type"]
    for field in state["fields"]:
        if field["name"] == "content":
            field["type"] = "string"
    return state


def _framed(schema_id: int, schema: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", MAGIC, schema_id))
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


def test_own_schema_is_read_without_resolution_and_old_records_are_resolved(
        endpoints: Endpoints, namespace: Namespace, monkeypatch: Any) -> None:
    registry = RegistryClient(endpoints.registry)
    new = _state_schema()
    old = _without_incoming(new)
    topic = f"{namespace.topic_prefix}codec-{uuid.uuid4().hex[:6]}"
    monkeypatch.setattr(schemas, "parsed", lambda name: fastavro.parse_schema(copy.deepcopy(new)))
    monkeypatch.setattr(schemas, "as_text", lambda name: json.dumps(new))
    old_id = registry.register(f"{topic}-value", json.dumps(old))
    codec = AvroCodec[Any](registry, topic, "VersionState")
    new_id = codec.register()
    assert old_id != new_id
    record = {**STATE, "content": "c"}

    read = codec.decode(_framed(new_id, new, record))
    assert {k: read[k] for k in record} == record
    assert codec._resolve[new_id] is None  # read by the writer schema alone

    old_record = {k: v for k, v in record.items() if k != "incoming"}
    read = codec.decode(_framed(old_id, old, old_record))
    assert {k: read[k] for k in record} == {**old_record, "incoming": []}
    assert codec._resolve[old_id] is codec.schema  # resolved to the reader schema
