"""The ledger's check of who produced each record it takes from Kafka (cairn.core.signing).

Usage events and delivery reports are taken only from Cairn's own services
(`internal_records`); artifact and config events as follows.

Dead-lettered with the reason, never recorded:
- unsigned, bad_signature, unknown_producer: the producer is not who it says;
- forged_actor: an untrusted service account named someone else as the actor;
- forbidden: a service account without the role the change needs in the event's project
  (what the api would demand: publish for Published, MetadataEdited and LinkAdded; for a
  stage or alias move the role the project's lifecycle rules ask, as the api's gate does;
  maintain for lifecycle requests and verdicts); configuration changes come only from
  Cairn's own services, which checked the caller already.
A refusal of a producer that proved who it is is also noted in `rejected_events` (its
author can follow the event_id and read why); anonymous garbage writes nothing here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from cairn.core.access import Principal, Project, decide, permission_of
from cairn.core.events import payload_of
from cairn.core.identity import InvalidInput
from cairn.core.lifecycle_rules import rules_of
from cairn.core.settings import Settings
from cairn.core.signing import (
    INTERNAL,
    MissingKey,
    check_internal,
    check_origin,
    producer_of,
    required_master,
)

ACCOUNTS_SQL = """
SELECT s.key, s.body, ARRAY(SELECT t.key FROM config_items t WHERE t.kind = 'team'
                            AND NOT t.removed AND t.body->'members' ? s.key) AS teams
FROM config_items s WHERE s.kind = 'service_account' AND NOT s.removed
  AND s.key = ANY($1::text[])
"""
PROJECTS_SQL = ("SELECT key, body FROM config_items WHERE kind = 'project' AND NOT removed"
                " AND key = ANY($1::text[])")
REJECT_SQL = ("INSERT INTO rejected_events (event_id, artifact, reason, message)"
              " VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING")
GATE = "gate"  # the project's lifecycle rules name the permission (cairn.core.lifecycle_rules)
NEEDS = {"Published": "publish", "MetadataEdited": "publish", "LinkAdded": "publish",
         "StageChanged": GATE, "AliasMoved": GATE, "LifecycleRequested": "maintain",
         "Verdict": "maintain"}
Decoded = tuple[Any, dict[str, Any]]  # (RawRecord, event)


def artifact_needs(event: dict[str, Any]) -> tuple[str, str] | None:
    """(permission, project) an artifact event needs from an outside producer."""
    kind = str(event["payload"][0]).rsplit(".", 1)[-1]
    return NEEDS.get(kind, "admin"), str(event["artifact"]).split("/", 1)[0]


def gate_permission(event: dict[str, Any], project: Project) -> str:
    """The permission a stage or alias move needs in `project`: its gate's role for the stage,
    `alias_role` for the alias (what the api's gate resolver asks of its callers)."""
    kind, body = payload_of(event)
    rules = rules_of({"lifecycle": project.lifecycle})
    return permission_of(rules.alias_role(str(body["alias"])) if kind == "AliasMoved"
                         else rules.stage_role(str(body["stage"])))


def config_needs(event: dict[str, Any]) -> tuple[str, str] | None:
    return None  # configuration comes through the api only


def ledger_master(settings: Settings) -> bytes:
    """The master the ledger checks signatures with; without one it refuses to start (a key
    written in the source would let anyone on Kafka pass as a Cairn service)."""
    try:
        return required_master(settings, "the ledger")
    except MissingKey as exc:
        raise SystemExit(str(exc)) from None


def internal_records(raws: Sequence[Any], master: bytes, dead: list[tuple[Any, str, str]]
                     ) -> list[Any]:
    """The records a Cairn service signed, for topics only Cairn writes (usage, delivery
    reports); the others go to `dead` with the reason (cairn.core.signing.check_internal)."""
    kept = []
    for raw in raws:
        try:
            check_internal(raw.headers, raw.value or b"", master)
        except InvalidInput as exc:
            dead.append((raw, exc.reason, str(exc)))
            continue
        kept.append(raw)
    return kept


class Screen:
    def __init__(self, master: bytes, subject: Callable[[dict[str, Any]], str],
                 needs: Callable[[dict[str, Any]], tuple[str, str] | None]) -> None:
        self.master, self.subject, self.needs = master, subject, needs

    @classmethod
    def of(cls, settings: Settings, subject: Callable[[dict[str, Any]], str],
           needs: Callable[[dict[str, Any]], tuple[str, str] | None]) -> Screen:
        return cls(ledger_master(settings), subject, needs)

    async def keep(self, pool: asyncpg.Pool, decoded: Sequence[Decoded],
                   dead: list[tuple[Any, str, str]]) -> list[Decoded]:
        """The records whose origin checks out; the others go to `dead`."""
        names = {p for raw, _ in decoded
                 if (p := producer_of(raw.headers)) and not p.startswith(INTERNAL)}
        accounts, projects = await self._facts(pool, names, decoded)
        kept, noted = [], []
        for raw, event in decoded:
            try:
                producer = check_origin(raw.headers, raw.value or b"", str(event.get("actor")),
                                        self.master, accounts)
                if not producer.startswith(INTERNAL):
                    self._may(producer, accounts[producer], event, projects)
            except InvalidInput as exc:
                dead.append((raw, exc.reason, str(exc)))
                if exc.reason in ("forged_actor", "forbidden"):
                    noted.append((str(event["event_id"]), self.subject(event), exc.reason,
                                  str(exc)))
                continue
            kept.append((raw, event))
        if noted:
            await pool.executemany(REJECT_SQL, noted)
        return kept

    async def _facts(self, pool: asyncpg.Pool, names: set[str], decoded: Sequence[Decoded]
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, Project]]:
        if not names:  # only Cairn's services produced this batch: nothing to look up
            return {}, {}
        accounts = {r["key"]: {**json.loads(r["body"]), "teams": list(r["teams"])}
                    for r in await pool.fetch(ACCOUNTS_SQL, sorted(names))}
        wanted = sorted({need[1] for _, e in decoded if (need := self._needs(e))})
        projects = {r["key"]: Project.of(r["key"], json.loads(r["body"]))
                    for r in await pool.fetch(PROJECTS_SQL, wanted)}
        return accounts, projects

    def _needs(self, event: dict[str, Any]) -> tuple[str, str] | None:
        try:
            return self.needs(event)
        except (KeyError, TypeError, IndexError):
            return None

    def _may(self, producer: str, account: dict[str, Any], event: dict[str, Any],
             projects: dict[str, Project]) -> None:
        need = self._needs(event)
        if need is None:
            raise InvalidInput("forbidden", f"{producer} may not produce this: configuration "
                               "changes go through the api")
        who = Principal(producer, "service_account", teams=frozenset(account["teams"]),
                        scopes=("admin",))
        project = projects.get(need[1]) or Project(need[1])
        permission = gate_permission(event, project) if need[0] == GATE else need[0]
        decision = decide(who, permission, project)
        if not decision.allowed:
            raise InvalidInput("forbidden", decision.message)
