"""Direct-Kafka producers sign their events; the ledger dead-letters what it cannot trust.

A service account gets its key from the api, produces through cairn.core.adapters.emitter (which
signs every record), and may only act as itself, in projects where it holds the role the
change needs. Unsigned, badly signed, forged and unauthorised events end in the ledger's
dead-letter topic with their reason, and never in the log.

No key written in Cairn's source signs anything: a service without its own key refuses to
start, and an event signed with such a key as a Cairn service is dead-lettered, by this run's
ledger and by the ledger of the running `scripts/stack` (if there is one).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import httpx
import pytest
from cairn.core.adapters import schemas
from cairn.core.adapters.codec import AvroCodec, RegistryClient, UndecodableRecord
from cairn.core.adapters.emitter import Emitter
from cairn.core.adapters.kafka import produce_all, producer
from cairn.core.adapters.settings import PUBLIC_SECRETS
from cairn.core.adapters.signing import producer_key, sign
from cairn.core.adapters.topics import Topics
from cairn.core.domain.events import new_config_event, new_event

from tests.conftest import API_TOKEN, Namespace
from tests.endpoints import ROOT, parse_exports
from tests.ledger_helpers import publish_event, read_topic, settings_for, wait_recorded
from tests.processes import Service, free_port

STACK = str(ROOT / "scripts" / "stack")


async def _accepted(ns: Namespace, reply: httpx.Response) -> None:
    assert reply.status_code == 202, reply.text
    got = await wait_recorded(ns.database_url, [reply.json()["event_id"]])
    assert {r["outcome"] for r in got.values()} == {"applied"}


def _as(account: str | None, key: str | None, cairn_env: dict[str, str]) -> Emitter:
    extra = {"CAIRN_PRODUCER": account, "CAIRN_PRODUCER_KEY": key} if account and key else {}
    return Emitter(settings_for({**cairn_env, **extra}), "test-producer")


async def _dead_letters(bootstrap: str, prefix: str, codecs: Sequence[AvroCodec],
                        wanted: set[str]) -> dict[str, str]:
    """event_id -> dead-letter reason, for the wanted events (artifact or config) in the
    ledger's dead-letter topic of the topic prefix."""
    topic = Topics(prefix).dead_letter("ledger")
    reasons: dict[str, str] = {}
    for _ in range(60):
        for msg in await asyncio.to_thread(read_topic, bootstrap, topic, 20.0):
            for codec in codecs:
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
        dead = await _dead_letters(cairn_env["KAFKA_BOOTSTRAP_SERVERS"], namespace.topic_prefix,
                                   (as_orch.codec, as_orch.config_codec), set(refused))
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


class Forger:
    """Produces events signed as the api (`cairn-api`) with a key anyone can read in Cairn's
    source, naming an actor nobody authenticated: what an outsider on Kafka would try."""

    def __init__(self, bootstrap: str, registry_url: str, prefix: str) -> None:
        registry = RegistryClient(registry_url)
        self.topics = Topics(prefix)
        self.codec = AvroCodec(registry, self.topics.events, schemas.EVENT)
        self.config_codec = AvroCodec(registry, self.topics.config, schemas.CONFIG)
        self.producer = producer(bootstrap, "forger")

    def send(self, project: str, configs: bool) -> dict[str, str]:
        """A Published event as `someone-else` (and, with `configs`, a config event making
        a user an administrator) per public secret; event_id -> the secret it was signed with."""
        signed_with: dict[str, str] = {}
        records = []
        for secret in sorted(PUBLIC_SECRETS):
            key = producer_key(secret.encode(), "cairn-api")
            event = publish_event(project, "weights", kind="model", actor="someone-else")
            value = self.codec.encode(event)
            records.append((self.topics.events, event["artifact"].encode(), value,
                            sign(value, "cairn-api", key)))
            signed_with[event["event_id"]] = secret
            if configs:
                change = new_config_event("user", project, {"admin": True},
                                          actor="someone-else", tool="api")
                value = self.config_codec.encode(change)
                records.append((self.topics.config, f"user/{project}".encode(), value,
                                sign(value, "cairn-api", key)))
                signed_with[change["event_id"]] = secret
        produce_all(self.producer, records)
        return signed_with


async def _versions_of(database_url: str, project: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM versions v JOIN artifacts a ON a.id = v.artifact_id"
            " WHERE a.project = $1", project))
    finally:
        await conn.close()


async def _forged_events_are_dead_lettered(bootstrap: str, registry: str, prefix: str,
                                           database_url: str, configs: bool) -> None:
    project = f"forged-{uuid.uuid4().hex[:8]}"
    forger = Forger(bootstrap, registry, prefix)
    wanted = forger.send(project, configs)
    dead = await _dead_letters(bootstrap, prefix, (forger.codec, forger.config_codec),
                               set(wanted))
    assert dead == dict.fromkeys(wanted, "bad_signature"), {
        secret: dead.get(event_id) for event_id, secret in wanted.items()}
    assert await wait_recorded(database_url, list(wanted), patience_s=3) == {}  # never recorded
    assert await _versions_of(database_url, project) == 0


async def test_events_signed_with_a_key_from_the_source_are_dead_lettered(
        ledger: Service, cairn_env: dict[str, str], namespace: Namespace) -> None:
    """This run's ledger, started as scripts/stack starts its own (development, a random key
    of its own): nothing signed with a secret published in the source gets in."""
    await _forged_events_are_dead_lettered(
        cairn_env["KAFKA_BOOTSTRAP_SERVERS"], cairn_env["SCHEMA_REGISTRY_URL"],
        namespace.topic_prefix, namespace.database_url, configs=True)


def _running_stack() -> dict[str, str]:
    """`scripts/stack env` of the stack whose ledger is up; skip (saying why) if none is."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    status = subprocess.run([STACK, "status"], capture_output=True, text=True, timeout=60,
                            env=clean)
    rows = {cells[0]: cells[2] for line in status.stdout.splitlines()[1:]
            if len(cells := line.split()) >= 3}
    if rows.get("ledger") != "healthy":
        why = f"scripts/stack's ledger is not running ({rows.get('ledger', 'never started')})"
        print(why)
        pytest.skip(why)
    return parse_exports(subprocess.run([STACK, "env"], capture_output=True, text=True,
                                        timeout=60, env=clean, check=True).stdout)


async def test_the_stacks_own_ledger_dead_letters_events_signed_with_a_key_from_the_source(
        ) -> None:
    """The running `scripts/stack up`'s ledger: its topics (no prefix), its database."""
    stack = _running_stack()
    await _forged_events_are_dead_lettered(
        stack["KAFKA_BOOTSTRAP_SERVERS"], stack["SCHEMA_REGISTRY_URL"], "",
        stack["DATABASE_URL"], configs=False)


@pytest.mark.parametrize(("service", "change", "says"), [
    ("ledger", {"CAIRN_SIGNING_KEY": ""}, "CAIRN_SIGNING_KEY is not set"),
    ("ledger", {"CAIRN_SIGNING_KEY": "cairn-development-signing-key"},
     "CAIRN_SIGNING_KEY is refused"),
    ("api", {"CAIRN_WEBHOOK_KEY": ""}, "CAIRN_WEBHOOK_KEY is not set"),
    ("notifier", {"CAIRN_WEBHOOK_KEY": "cairn-development-webhook-key"},
     "CAIRN_WEBHOOK_KEY is refused"),
], ids=["ledger-keyless", "ledger-dev-key", "api-no-webhook-key", "notifier-dev-webhook-key"])
def test_a_service_without_a_key_of_its_own_refuses_to_start(
        service: str, change: dict[str, str], says: str, cairn_env: dict[str, str]) -> None:
    """In development too: there is no development key to fall back to."""
    env = {**os.environ, **cairn_env, "CAIRN_HTTP_PORT": str(free_port()), **change}
    try:
        ran = subprocess.run([sys.executable, "-m", f"cairn.{service}"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:  # a slow machine refuses in seconds, not minutes
        pytest.fail(f"{service} started with {change}: it must refuse")
    assert ran.returncode != 0
    assert says in ran.stdout + ran.stderr, (ran.stdout + ran.stderr)[-2000:]
