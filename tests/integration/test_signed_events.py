"""Direct-Kafka producers sign their events; the ledger dead-letters what it cannot trust.

A service account gets its key from the api, produces through cairn.core.emitter (which
signs every record), and may only act as itself, in projects where it holds the role the
change needs. Unsigned, badly signed, forged and unauthorised events end in the ledger's
dead-letter topic with their reason, and never in the log.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from cairn.core.codec import UndecodableRecord
from cairn.core.emitter import Emitter
from cairn.core.events import new_config_event, new_event
from cairn.core.kafka import produce_all
from cairn.core.topics import Topics

from tests.conftest import API_TOKEN, Namespace
from tests.ledger_helpers import publish_event, read_topic, settings_for, wait_recorded
from tests.processes import Service


async def _accepted(ns: Namespace, reply: httpx.Response) -> None:
    assert reply.status_code == 202, reply.text
    got = await wait_recorded(ns.database_url, [reply.json()["event_id"]])
    assert {r["outcome"] for r in got.values()} == {"applied"}


def _as(account: str | None, key: str | None, cairn_env: dict[str, str]) -> Emitter:
    extra = {"CAIRN_PRODUCER": account, "CAIRN_PRODUCER_KEY": key} if account and key else {}
    return Emitter(settings_for({**cairn_env, **extra}), "test-producer")


async def _dead_letters(cairn_env: dict[str, str], ns: Namespace, emitter: Emitter,
                        wanted: set[str]) -> dict[str, str]:
    """event_id -> dead-letter reason, for the wanted events (artifact or config)."""
    topic = Topics(ns.topic_prefix).dead_letter("ledger")
    reasons: dict[str, str] = {}
    for _ in range(60):
        for msg in await asyncio.to_thread(read_topic, cairn_env["KAFKA_BOOTSTRAP_SERVERS"],
                                           topic, 20.0):
            for codec in (emitter.codec, emitter.config_codec):
                try:
                    event_id = str(codec.decode(msg.value())["event_id"])
                except (UndecodableRecord, KeyError, TypeError, ValueError):
                    continue
                if event_id in wanted:
                    reasons[event_id] = dict(msg.headers() or [])["cairn.dlq.reason"].decode()
                break
        if set(reasons) == wanted:
            break
        await asyncio.sleep(0.5)
    return reasons


@pytest.fixture(scope="module")
async def accounts(api: Service, namespace: Namespace) -> dict[str, Any]:
    """orch (untrusted) and airflow (trusted), contributors of one project; their keys."""
    tag = uuid.uuid4().hex[:6]
    made = {"orch": f"orch-{tag}", "airflow": f"airflow-{tag}", "project": f"sig-{tag}"}
    admin = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=api.url, headers=admin, timeout=30) as http:
        for who, trusted in (("orch", False), ("airflow", True)):
            await _accepted(namespace, await http.put(f"/v1/service-accounts/{made[who]}",
                                                      json={"trusted": trusted}))
            made[f"{who}_key"] = (await http.get(
                f"/v1/service-accounts/{made[who]}/key")).json()["key"]
        members = {made["orch"]: "contributor", made["airflow"]: "contributor"}
        await _accepted(namespace, await http.put(f"/v1/projects/{made['project']}",
                                                  json={"members": members}))
        assert (await http.put("/v1/service-accounts/cairn-x", json={})).status_code == 400
    return made


async def test_forged_unsigned_and_unauthorised_events_are_dead_lettered(
        accounts: dict[str, Any], cairn_env: dict[str, str], namespace: Namespace) -> None:
    p, orch, airflow = accounts["project"], accounts["orch"], accounts["airflow"]
    as_orch = _as(orch, accounts["orch_key"], cairn_env)
    as_airflow = _as(airflow, accounts["airflow_key"], cairn_env)
    impostor = _as(orch, accounts["airflow_key"], cairn_env)  # someone else's key
    fine = publish_event(p, "fine", actor=orch)
    on_behalf = publish_event(p, "on-behalf", actor="ana")  # a trusted account may
    forged = publish_event(p, "forged", actor="alice")
    elsewhere = publish_event(f"other-{uuid.uuid4().hex[:6]}", "x", actor=orch)
    stage = new_event(f"{p}/fine", "StageChanged", {"version": "v1", "stage": "staging"},
                      actor=orch, tool="test")  # the default gate: contributors, as in the api
    promote = new_event(f"{p}/fine", "StageChanged", {"version": "v1", "stage": "production"},
                        actor=orch, tool="test")  # maintainers only
    badly_signed = publish_event(p, "bad", actor=orch)
    unsigned = publish_event(p, "unsigned", actor="alice")
    make_admin = new_config_event("user", orch, {"admin": True}, actor=orch, tool="test")
    try:
        as_orch.emit(fine, forged, elsewhere, stage, promote)
        as_airflow.emit(on_behalf)
        impostor.emit(badly_signed)
        topic, key, value, _ = as_orch.encode(unsigned)
        produce_all(as_orch.producer, [(topic, key, value, None)])  # no headers at all
        await as_orch.emit_config_async(make_admin)  # configuration: through the api only
        got = await wait_recorded(namespace.database_url,
                                  [fine["event_id"], on_behalf["event_id"], forged["event_id"],
                                   elsewhere["event_id"], stage["event_id"],
                                   promote["event_id"]])
        assert got[fine["event_id"]]["outcome"] == got[on_behalf["event_id"]]["outcome"] \
            == got[stage["event_id"]]["outcome"] == "applied"
        assert got[forged["event_id"]]["reason"] == "forged_actor"
        assert got[elsewhere["event_id"]]["reason"] == got[promote["event_id"]]["reason"] \
            == "forbidden"
        refused = {e["event_id"]: reason for e, reason in (
            (forged, "forged_actor"), (elsewhere, "forbidden"), (promote, "forbidden"),
            (badly_signed, "bad_signature"), (unsigned, "unsigned"),
            (make_admin, "forbidden"))}
        dead = await _dead_letters(cairn_env, namespace, as_orch, set(refused))
        assert dead == refused
        after = await wait_recorded(namespace.database_url,
                                    [badly_signed["event_id"], unsigned["event_id"],
                                     make_admin["event_id"]], patience_s=3)
        # the anonymous ones wrote nothing; the known account's refusal is noted, not applied
        assert {k: r["reason"] for k, r in after.items()} == {make_admin["event_id"]: "forbidden"}
    finally:
        for emitter in (as_orch, as_airflow, impostor):
            emitter.close()


async def test_keys_are_for_administrators_and_owners(api: Service, accounts: dict[str, Any]
                                                      ) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        reply = await http.get(f"/v1/service-accounts/{accounts['orch']}/key")
    assert reply.status_code == 401
