"""Every changelog record names its event type in a header (the ledger's), so the validator
and the archiver skip decoding the types they never act on; the header must say what the
body is, or they would skip a record they should judge."""

from __future__ import annotations

import uuid

from cairn.core.adapters import schemas
from cairn.core.adapters.batches import EVENT_TYPE_HEADER, RawRecord, of_types
from cairn.core.adapters.codec import AvroCodec, RegistryClient
from cairn.core.adapters.topics import Topics
from cairn.core.domain.events import new_event, payload_of

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event, read_topic
from tests.processes import Service


async def test_each_changelog_record_names_its_event_type(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    p = f"hdr{uuid.uuid4().hex[:6]}"
    events = [publish_event(p, "m"),
              new_event(f"{p}/m", "AliasMoved", {"alias": "best", "version": "v1"},
                        actor="tester", tool="test")]
    got = await emit_recorded(cairn_env, namespace.database_url, events)
    assert {r["outcome"] for r in got.values()} == {"applied"}

    topic = Topics(namespace.topic_prefix).changelog
    codec = AvroCodec(RegistryClient(cairn_env["SCHEMA_REGISTRY_URL"]), topic, schemas.RECORDED)
    seen = {}
    for m in read_topic(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], topic):
        if not (m.key() or b"").startswith(f"{p}/".encode()):
            continue
        headers = tuple(m.headers() or ())
        kind = payload_of(codec.decode(m.value())["event"])[0]
        assert dict(headers)[EVENT_TYPE_HEADER] == kind.encode()
        raw = RawRecord(m.key(), m.value(), topic, m.partition(), m.offset(), headers)
        seen[kind] = (of_types(raw, ("Published",)), of_types(raw, ("VerdictSet",)))
    assert seen == {"Published": (True, False), "AliasMoved": (False, False)}
