"""The ledger's check of who produced each record it takes from Kafka (cairn.core.adapters.signing).

Usage events and delivery reports are taken only from Cairn's own services
(`internal_records`); artifact and config events as follows.

Dead-lettered with the reason, never recorded:
- unsigned, bad_signature, unknown_producer: the producer is not who it says;
- forged_actor: an untrusted service account named someone else as the actor;
- forbidden: a service account without the role the change needs in the event's project
  (what the api would demand: publish for Published, MetadataEdited and LinkAdded; for a
  stage or alias move, and a publish into a stage, the role the project's lifecycle rules
  ask, as the api's gate does; their hold_role for an edit that sets or releases a legal
  hold or reverts one that did; maintain for lifecycle requests and single-check verdicts);
  a VerdictSet only from the validator (`RESERVED`), whoever else produced it;
  configuration changes come only from Cairn's own services, which checked the caller
  already;
- gate_needs_promotion, unknown_stage: a service account's publish into a stage whose gate
  asks for a verdict or an evaluation (a new version has neither: publish, then promote),
  or into a stage the project's ladder lacks (LifecycleRules.check_publish, as the api).
A refusal of a producer that proved who it is is also noted in `rejected_events` (its
author can follow the event_id and read why); anonymous garbage writes nothing here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic

import asyncpg
from typing_extensions import TypeVar

from cairn.core.adapters.settings import Settings
from cairn.core.adapters.signing import (
    INTERNAL,
    MissingKey,
    check_internal,
    check_origin,
    producer_of,
    required_master,
)
from cairn.core.domain.access import Principal, Project, decide, permission_of
from cairn.core.domain.event_types import (
    AliasMoved,
    ArtifactEvent,
    ConfigEvent,
    MetadataEdited,
    Published,
    StageChanged,
)
from cairn.core.domain.events import payload_as, payload_of
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.lifecycle_rules import HOLD, NEEDS_PROMOTION, rules_of

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
HELD_EDITS_SQL = ("SELECT event_id::text FROM metadata_edits WHERE event_id = ANY($1::uuid[])"
                  " AND NOT changes ? $2")  # the reverted edits that leave the hold alone
# the project's lifecycle rules name the permission (cairn.core.domain.lifecycle_rules)
GATE = "gate"
NEEDS = {"Published": GATE, "MetadataEdited": GATE, "LinkAdded": "publish",
         "StageChanged": GATE, "AliasMoved": GATE, "LifecycleRequested": "maintain",
         "Verdict": "maintain"}
# Event types only one of Cairn's own services may produce (a service account with any role,
# or another Cairn service, is refused): a VerdictSet is the validator's judgement.
RESERVED = {"VerdictSet": "cairn-validator"}  # the validator's producer name (its client id)
NOTED = ("forged_actor", "forbidden", NEEDS_PROMOTION, "unknown_stage")  # in rejected_events
# What a Screen screens: ArtifactEvent (the events agent) or ConfigEvent (the config agent)
E = TypeVar("E", bound=Mapping[str, Any], default=dict[str, Any])
Decoded = tuple[Any, E]  # (RawRecord, event)


def artifact_needs(event: ArtifactEvent) -> tuple[str, str] | None:
    """(permission, project) an artifact event needs from an outside producer."""
    return NEEDS.get(payload_of(event)[0], "admin"), event["artifact"].split("/", 1)[0]


def check_reserved(producer: str, event: Mapping[str, Any]) -> None:
    """Refuse an event type reserved to another producer (RESERVED) as forbidden."""
    payload = event.get("payload")
    kind = payload_of(event)[0] if isinstance(payload, tuple | list) else None
    owner = RESERVED.get(kind) if kind else None
    if owner is not None and producer != owner:
        raise InvalidInput("forbidden", f"{producer} may not produce {kind}: only {owner} does")


def gate_permission(event: Mapping[str, Any], project: Project,
                    hold_free: frozenset[str] = frozenset()) -> str:
    """The permission a change needs in `project` by its lifecycle rules (what the api asks of
    its callers): a stage's gate role for a move or a publish into it (a publish into a stage
    whose gate asks for facts is refused: check_publish), `alias_role` for an alias, and
    `hold_role` for a metadata edit that changes legal_hold or reverts an edit that did
    (`hold_free`: the reverted edits known to leave it alone; an edit the ledger has not
    recorded yet counts as touching it)."""
    rules = rules_of({"lifecycle": project.lifecycle})
    if (moved := payload_as(event, AliasMoved)) is not None:
        return permission_of(rules.alias_role(moved["alias"]))
    if (edit := payload_as(event, MetadataEdited)) is not None:
        reverts = edit.get("reverts")
        touches = str(reverts) not in hold_free if reverts else _sets_hold(edit.get("changes"))
        return permission_of(rules.hold_role) if touches else "publish"
    if (published := payload_as(event, Published)) is not None:
        if published.get("version_number") is not None or published.get("as_recorded"):
            return "admin"  # an import's number or as-recorded stage, as the api asks
        return permission_of(rules.publish_role(published.get("stage")))
    if (staged := payload_as(event, StageChanged)) is not None:
        return permission_of(rules.stage_role(staged["stage"]))
    raise KeyError("stage")  # NEEDS sends no other kind to the gate


def _sets_hold(changes: str | None) -> bool:
    try:
        parsed = json.loads(changes or "{}")
    except ValueError:
        return False  # not an edit at all: the recorder refuses it
    return isinstance(parsed, dict) and HOLD in parsed


def reverted_edits(decoded: Sequence[Decoded[Any]]) -> list[str]:
    """The edits that the batch's metadata edits revert."""
    found = set()
    for _, event in decoded:
        try:
            edit = payload_as(event, MetadataEdited)
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(edit, dict) and (reverts := edit.get("reverts")):
            try:
                found.add(str(uuid.UUID(str(reverts))))
            except ValueError:
                continue  # no edit has that id: it counts as touching the hold
    return sorted(found)


def check_gate_facts(event: Mapping[str, Any], project: Project) -> None:
    """A publish into a stage meets that stage's gate (LifecycleRules.check_publish)."""
    published = payload_as(event, Published)
    if published is not None and (stage := published.get("stage")) is not None \
            and not published.get("as_recorded"):
        rules_of({"lifecycle": project.lifecycle}).check_publish(stage, str(event["artifact"]))


def config_needs(event: ConfigEvent) -> tuple[str, str] | None:
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
    reports); the others go to `dead` with the reason
    (cairn.core.adapters.signing.check_internal)."""
    kept = []
    for raw in raws:
        try:
            check_internal(raw.headers, raw.value or b"", master)
        except InvalidInput as exc:
            dead.append((raw, exc.reason, str(exc)))
            continue
        kept.append(raw)
    return kept


class Screen(Generic[E]):
    """Checks the producer of each decoded event of one kind (`E`)."""

    def __init__(self, master: bytes, subject: Callable[[E], str],
                 needs: Callable[[E], tuple[str, str] | None]) -> None:
        self.master, self.subject, self.needs = master, subject, needs

    @classmethod
    def of(cls, settings: Settings, subject: Callable[[E], str],
           needs: Callable[[E], tuple[str, str] | None]) -> Screen[E]:
        return cls(ledger_master(settings), subject, needs)

    async def keep(self, pool: asyncpg.Pool, decoded: Sequence[Decoded[E]],
                   dead: list[tuple[Any, str, str]]) -> list[Decoded[E]]:
        """The records whose origin checks out; the others go to `dead`."""
        names = {p for raw, _ in decoded
                 if (p := producer_of(raw.headers)) and not p.startswith(INTERNAL)}
        accounts, projects, hold_free = await self._facts(pool, names, decoded)
        kept, noted = [], []
        for raw, event in decoded:
            try:
                producer = check_origin(raw.headers, raw.value or b"", str(event.get("actor")),
                                        self.master, accounts)
                check_reserved(producer, event)
                if not producer.startswith(INTERNAL):
                    self._may(producer, accounts[producer], event, projects, hold_free)
            except InvalidInput as exc:
                dead.append((raw, exc.reason, str(exc)))
                if exc.reason in NOTED:
                    noted.append((str(event["event_id"]), self.subject(event), exc.reason,
                                  str(exc)))
                continue
            kept.append((raw, event))
        if noted:
            await pool.executemany(REJECT_SQL, noted)
        return kept

    async def _facts(self, pool: asyncpg.Pool, names: set[str], decoded: Sequence[Decoded[E]]
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, Project], frozenset[str]]:
        """Accounts, projects and the reverted edits that leave legal_hold alone."""
        if not names:  # only Cairn's services produced this batch: nothing to look up
            return {}, {}, frozenset()
        accounts = {r["key"]: {**json.loads(r["body"]), "teams": list(r["teams"])}
                    for r in await pool.fetch(ACCOUNTS_SQL, sorted(names))}
        wanted = sorted({need[1] for _, e in decoded if (need := self._needs(e))})
        projects = {r["key"]: Project.of(r["key"], json.loads(r["body"]))
                    for r in await pool.fetch(PROJECTS_SQL, wanted)}
        reverted = reverted_edits(decoded)
        hold_free = frozenset(r[0] for r in await pool.fetch(HELD_EDITS_SQL, reverted, HOLD)
                              ) if reverted else frozenset()
        return accounts, projects, hold_free

    def _needs(self, event: E) -> tuple[str, str] | None:
        try:
            return self.needs(event)
        except (KeyError, TypeError, IndexError):
            return None

    def _may(self, producer: str, account: dict[str, Any], event: E,
             projects: dict[str, Project], hold_free: frozenset[str]) -> None:
        need = self._needs(event)
        if need is None:
            raise InvalidInput("forbidden", f"{producer} may not produce this: configuration "
                               "changes go through the api")
        who = Principal(producer, "service_account", teams=frozenset(account["teams"]),
                        scopes=("admin",))
        project = projects.get(need[1]) or Project(need[1])
        permission = gate_permission(event, project, hold_free) if need[0] == GATE \
            else need[0]
        decision = decide(who, permission, project)
        if not decision.allowed:
            raise InvalidInput("forbidden", decision.message)
        check_gate_facts(event, project)
