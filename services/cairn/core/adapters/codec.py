"""Avro in the Confluent wire format: magic byte 0, 4-byte schema id, Avro binary.

Any Kafka tool with a schema registry can read Cairn's topics. Schema ids are cached both
ways, so the registry is asked once per schema per process.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from typing import Any, Generic, cast

import httpx
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential
from typing_extensions import TypeVar

from cairn.core.adapters import schemas
from cairn.core.domain.events import plain

MAGIC = 0
# What decode returns: AvroCodec[RecordedEvent](...) for a topic of one generated event type
# (cairn.core.domain.event_types); a plain AvroCodec(...) decodes to a dict.
R = TypeVar("R", default=dict[str, Any])


class UndecodableRecord(ValueError):
    """A record that is not Confluent-framed Avro of a known schema (dead-letter it)."""


class RegistryClient:
    """The few calls of the Confluent-compatible API Cairn needs (Apicurio or Confluent)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self._schemas_by_id: dict[int, Any] = {}

    @retry(
        retry=retry_if_exception(lambda e: _transient(e)),
        stop=stop_after_delay(60),
        wait=wait_exponential(max=5),
        reraise=True,
    )
    def register(self, subject: str, schema_text: str) -> int:
        """Register (idempotently) and return the schema id; 409 means incompatible.

        Every service registers at start-up, so several may create a subject at once; a 409
        from losing that race is told apart from incompatibility by looking the schema up.
        """
        body = {"schema": schema_text}
        reply = self._http.post(f"/subjects/{subject}/versions", json=body, headers=_AVRO_JSON)
        if reply.status_code == 409:
            known = self._http.post(f"/subjects/{subject}", json=body, headers=_AVRO_JSON)
            if known.status_code == 200:
                return int(known.json()["id"])
            raise IncompatibleSchema(subject, reply.text)
        reply.raise_for_status()
        return int(reply.json()["id"])

    @retry(
        retry=retry_if_exception(lambda e: _transient(e) or _conflict(e)),
        stop=stop_after_delay(60),
        wait=wait_exponential(max=5),
        reraise=True,
    )
    def set_compatibility(self, subject: str, level: str) -> None:
        """Set a subject's compatibility; a no-op when it already has that level.

        Concurrent first writes of the rule make Apicurio answer 409 to the losers; they
        retry and then find the level already set.
        """
        if self.compatibility(subject) == level:
            return
        self._http.put(f"/config/{subject}", json={"compatibility": level}).raise_for_status()

    def compatibility(self, subject: str) -> str | None:
        """The subject's own compatibility level, or None when it has none."""
        reply = self._http.get(f"/config/{subject}")
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        level = reply.json().get("compatibilityLevel")
        return str(level) if level else None

    def schema(self, schema_id: int) -> Any:
        if schema_id not in self._schemas_by_id:
            reply = self._http.get(f"/schemas/ids/{schema_id}")
            if reply.status_code == 404:
                raise UndecodableRecord(f"schema id {schema_id} is not in the registry")
            reply.raise_for_status()
            self._schemas_by_id[schema_id] = parse_schema(json.loads(reply.json()["schema"]))
        return self._schemas_by_id[schema_id]

    def close(self) -> None:
        self._http.close()


_AVRO_JSON = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def _conflict(exc: BaseException) -> bool:
    """A 409 from a concurrent write of the same registry state: worth another look."""
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 409


def _transient(exc: BaseException) -> bool:
    """Registry not up yet or failing: worth retrying. A 4xx answer is final."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


class IncompatibleSchema(RuntimeError):
    def __init__(self, subject: str, detail: str) -> None:
        super().__init__(f"the registry refused an incompatible schema for {subject}: {detail}")
        self.subject = subject


class AvroCodec(Generic[R]):
    """Encode one named Cairn schema for one topic; decode with schema resolution (to `R`, or
    to the part of it a `reader` projection keeps: `schemas.projected`)."""

    def __init__(self, registry: RegistryClient, topic: str, schema_name: str,
                 reader: Any | None = None) -> None:
        self.registry = registry
        self.subject = f"{topic}-value"  # TopicNameStrategy
        self.schema = schemas.parsed(schema_name)
        self.reader = self.schema if reader is None else reader
        self._schema_text = schemas.as_text(schema_name)
        self._id: int | None = None
        self._resolve: dict[int, Any] = {}  # writer schema id -> reader schema, or None

    def register(self) -> int:
        """Register at start-up; the topic's subject gets BACKWARD_TRANSITIVE."""
        if self._id is None:
            self._id = self.registry.register(self.subject, self._schema_text)
            self.registry.set_compatibility(self.subject, "BACKWARD_TRANSITIVE")
        return self._id

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """One of the generated event TypedDicts (cairn.core.domain.event_types), framed."""
        buf = io.BytesIO()
        buf.write(struct.pack(">bI", MAGIC, self.register()))
        schemaless_writer(buf, self.schema, record)
        return buf.getvalue()

    def _reader_for(self, schema_id: int, writer: Any) -> Any:
        """The reader schema to resolve `writer` to, or None when it is the reader schema itself
        (this codec's own records): decoding then reads with the writer alone, which fastavro
        does about three times faster (it resolves field by field otherwise, even for equal
        schemas)."""
        if schema_id not in self._resolve:
            self._resolve[schema_id] = None if writer == self.reader else self.reader
        return self._resolve[schema_id]

    def decode(self, data: bytes | None) -> R:
        if not data or len(data) < 5 or data[0] != MAGIC:
            raise UndecodableRecord("not in the Confluent wire format (magic byte 0 + schema id)")
        (schema_id,) = struct.unpack(">I", data[1:5])
        writer = self.registry.schema(schema_id)
        try:
            record = schemaless_reader(
                io.BytesIO(data[5:]),
                writer,
                self._reader_for(schema_id, writer),
                return_record_name=True,  # union branches come back as (name, record)
                return_record_name_override=True,  # ...except a lone record beside null
            )
        except Exception as exc:
            raise UndecodableRecord(f"Avro body does not match schema {schema_id}: {exc}") from exc
        return cast(R, plain(record))  # the reader schema resolved it to exactly R's shape
