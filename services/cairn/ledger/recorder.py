"""Record one input event: dedupe, apply to the projections, append to the hash chain.

Everything happens in the caller's transaction, so the log entry and the projections it
changed commit together or not at all. The return value is the changelog record: the
event, the state of its version after it, and — when the event took an alias from another
version (a publish takes `latest`, an AliasMoved its alias) — that version's state too
(`alias_losers`), so a reader of the changelog alone (the indexer) knows every version
whose state the event changed. Every place that writes the aliases table goes through
`_set_alias` (which names the former holder) or is an alias removal, whose state is the
version that lost it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TypeAlias, cast

import asyncpg

from cairn.core.domain import checks
from cairn.core.domain.environments import environment_digest, lean_event
from cairn.core.domain.event_types import (
    AliasMoved,
    ArtifactEvent,
    Environment,
    LifecycleRequested,
    Link,
    LinkAdded,
    MetadataEdited,
    Published,
    RecordedEvent,
    StageChanged,
    Verdict,
    VerdictSet,
    VersionState,
)
from cairn.core.domain.events import now_ms, payload_as, payload_of
from cairn.core.domain.identity import InvalidInput, check_alias, check_stage, parse_ref
from cairn.core.domain.lifecycle_rules import LifecycleRules
from cairn.ledger import lifecycle, read_only, stages
from cairn.ledger.entries import append_entry
from cairn.ledger.verdicts import record_verdict_set
from cairn.readmodel.events import changelog_record
from cairn.readmodel.versions import (
    STATE_SELECT,
    artifact_row,
    project_rules,
    resolve_version,
    state_of,
    state_select,
)

Conn: TypeAlias = asyncpg.Connection
# Versions' states listing up to $2 incoming links (bulk_publish reads more than it keeps).
STATES_SQL = state_select("$2") + " WHERE v.id = ANY($1::bigint[])"
# The states of versions $1 and of those the links this event added to version $2 reached
# (link_targets): a link added now has created_seq $3; one added before (a LinkAdded
# repeated) changes nothing. ARRAY(...) is evaluated once: versions is read by primary key.
LINKED_STATES_SQL = STATE_SELECT + """
WHERE v.id = ANY(ARRAY(SELECT unnest($1::bigint[]) UNION SELECT l.target_version_id FROM links l
                       WHERE l.source_version_id = $2 AND l.created_seq = $3
                       AND l.target_version_id IS NOT NULL))"""


# An entry as changelog_record reads it: with the environment it first stored, if any.
RECORDED_AMONG_SQL = """
SELECT e.*, en.body AS environment FROM event_log e
LEFT JOIN environments en ON en.first_seq = e.seq WHERE e.event_id = ANY($1::uuid[])
"""


@dataclass(frozen=True)
class Change:
    """What a handler did: the version the event is about, applied or duplicate, and the
    versions it took an alias from (their states go into the changelog record)."""

    version_id: int
    outcome: str
    losers: tuple[int, ...] = ()
    environment: Environment | None = None  # the whole one, when this event first stored it


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


async def recorded_among(conn: Conn, event_ids: list[str]) -> dict[str, RecordedEvent]:
    """Changelog records of the events in `event_ids` that were recorded before (redelivery)."""
    rows = await conn.fetch(RECORDED_AMONG_SQL, event_ids)
    return {str(row["event_id"]): changelog_record(row) for row in rows}


async def lock_head(conn: Conn) -> tuple[int, str]:
    """Lock the chain head for this transaction: appends are serialised, seq stays gapless."""
    head = await conn.fetchrow("SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE")
    return int(head["seq"]), str(head["hash"])


async def save_head(conn: Conn, head: tuple[int, str]) -> None:
    await conn.execute("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1", *head)


async def record(conn: Conn, event: ArtifactEvent, head: tuple[int, str], *,
                 kinds: tuple[str, ...]) -> RecordedEvent:
    """Apply a new event after `head`; raises InvalidInput when it must be refused.

    The caller wraps this in a savepoint and, once its transaction is done, saves the last
    head it got back (`record["seq"]`, `record["hash"]`) with `save_head`.
    """
    seq = head[0] + 1
    change = await _apply(conn, event, seq, kinds)
    return await _append(conn, event, payload_of(event)[0], change, seq, head[1])


async def _apply(conn: Conn, event: ArtifactEvent, seq: int, kinds: tuple[str, ...]
                 ) -> Change:
    """Change the projections as the event's payload says (its handler, by payload type)."""
    if (published := payload_as(event, Published)) is not None:
        return await _published(conn, event, published, seq, kinds)
    if (staged := payload_as(event, StageChanged)) is not None:
        return await _stage_changed(conn, event, staged, seq)
    if (moved := payload_as(event, AliasMoved)) is not None:
        return await _alias_moved(conn, event, moved, seq)
    if (edit := payload_as(event, MetadataEdited)) is not None:
        return await _metadata_edited(conn, event, edit, seq)
    if (linked := payload_as(event, LinkAdded)) is not None:
        return await _link_added(conn, event, linked, seq)
    if (verdict := payload_as(event, Verdict)) is not None:
        return await _verdict(conn, event, verdict, seq)
    if (judged := payload_as(event, VerdictSet)) is not None:
        return Change(await record_verdict_set(conn, event, judged, seq), "applied")
    if (requested := payload_as(event, LifecycleRequested)) is not None:
        return await _lifecycle(conn, event, requested)
    raise ValueError(f"no handler for {payload_of(event)[0]}")  # refused as malformed


async def _append(conn: Conn, event: ArtifactEvent, kind: str, change: Change, seq: int,
                  prev_hash: str) -> RecordedEvent:
    recorded_at = now_ms()
    version_id, outcome = change.version_id, change.outcome
    if outcome == "applied" and kind != "Published":  # a new version was inserted with it
        await conn.execute("UPDATE versions SET updated_seq = $2 WHERE id = $1", version_id, seq)
    ids = [version_id, *change.losers]
    states = await _states(conn, ids, seq)  # one round trip for all
    state, losers = states[version_id], [states[v] for v in change.losers]
    targets = [states[v] for v in sorted(states) if v not in ids]
    digest = await append_entry(conn, prev_hash, {
        "seq": seq, "event_id": str(event["event_id"]), "artifact": event["artifact"],
        "event_type": kind, "outcome": outcome, "actor": event["actor"],
        "occurred_at_ms": event["occurred_at"], "recorded_at_ms": recorded_at,
        "event": event, "state": state, "version_id": version_id}, alias_losers=losers,
        link_targets=targets)
    return {"seq": seq, "recorded_at": recorded_at, "hash": digest, "outcome": outcome,
            "event": cast(ArtifactEvent, lean_event(event)), "state": state,
            "alias_losers": losers, "link_targets": targets, "environment": change.environment}


async def _states(conn: Conn, version_ids: list[int], seq: int) -> dict[int, VersionState]:
    """The versions' states and those of the versions their links added at `seq` reach."""
    rows = await conn.fetch(LINKED_STATES_SQL, version_ids, version_ids[0], seq)
    return {row["id"]: cast(VersionState, state_of(row)) for row in rows}  # its shape


# One round trip each: round trips, not work, bound the ledger's rate.
UPSERT_ARTIFACT = """
WITH project AS (
    INSERT INTO projects (name, created_at, created_seq) VALUES ($1, $4, $5)
    ON CONFLICT (name) DO NOTHING
)
INSERT INTO artifacts (project, name, kind, created_at, created_seq) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (project, name) DO UPDATE SET latest_version = artifacts.latest_version
RETURNING id, kind, latest_version
"""
NEXT_NUMBER = """
UPDATE artifacts SET latest_version = latest_version + 1
WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM versions WHERE artifact_id = $1 AND digest = $2)
RETURNING latest_version
"""
# An import's requested number: the version that holds it, if any (the artifact row is locked).
NUMBER_HOLDER = "SELECT digest FROM versions WHERE artifact_id = $1 AND version_number = $2"
CLAIM_NUMBER = """
UPDATE artifacts SET latest_version = greatest(latest_version, $2) WHERE id = $1
"""


# The version and, if new, its environment (stored once, by digest: ENVIRONMENT_INSERT), in
# one round trip; `first_stored` says this event stored the environment (the changelog
# record then carries it whole). The foreign key is checked at the statement's end.
INSERT_VERSION = """
WITH env AS (
    INSERT INTO environments (digest, body, first_seq) VALUES ($6, $12::jsonb, $11)
    ON CONFLICT (digest) DO NOTHING RETURNING digest
)
INSERT INTO versions (artifact_id, version_number, digest, kind, metadata, environment_digest,
                      extra, stage, created_by, created_at, created_seq, updated_seq)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9, $10, $11, $11)
RETURNING id, EXISTS (SELECT 1 FROM env) AS first_stored
"""


async def _number(conn: Conn, artifact: str, art_id: int, body: Published) -> int | None:
    """The new version's number: the next one, or the one an import asked for if it is free
    (a number another digest holds refuses the event); None for a digest already there."""
    if (requested := body.get("version_number")) is None:
        number: int | None = await conn.fetchval(NEXT_NUMBER, art_id, body["digest"])
        return number
    if await conn.fetchval("SELECT 1 FROM versions WHERE artifact_id = $1 AND digest = $2",
                           art_id, body["digest"]):
        return None
    if (holder := await conn.fetchval(NUMBER_HOLDER, art_id, requested)) is not None:
        raise number_taken(artifact, requested, holder)
    await conn.execute(CLAIM_NUMBER, art_id, requested)
    return requested


def number_taken(artifact: str, number: int, holder: str) -> InvalidInput:
    return InvalidInput("version_number_taken", f"{artifact}@v{number} is already version "
                        f"{holder[:12]}…, another digest: the import's number is refused")


async def _published(conn: Conn, event: ArtifactEvent, body: Published,
                     seq: int, kinds: tuple[str, ...]) -> Change:
    checks.check_published(event["artifact"], body, kinds)
    if (stage := body.get("stage")) is not None:  # its gate: the api's and origins' check_publish
        (await project_rules(conn, body["project"])).check_on_ladder(stage, body["project"])
    occurred = _ts(event["occurred_at"])
    art = await conn.fetchrow(UPSERT_ARTIFACT, body["project"], body["name"], body["kind"],
                              occurred, seq)  # creates the project too; row stays locked
    if art["kind"] != body["kind"]:
        raise InvalidInput("kind_mismatch", f"{event['artifact']} is a {art['kind']}, "
                           f"not a {body['kind']}")
    number = await _number(conn, event["artifact"], art["id"], body)
    if number is None:  # same content: the same version, nothing changes
        existing = await conn.fetchval(
            "SELECT id FROM versions WHERE artifact_id = $1 AND digest = $2",
            art["id"], body["digest"])
        return Change(existing, "duplicate")
    version_id, first_stored = await conn.fetchrow(
        INSERT_VERSION, art["id"], number, body["digest"], body["kind"],
        json.dumps(body["metadata"]), environment_digest(body["environment"]),
        body.get("extra") or "{}", body.get("stage"), event["actor"], occurred, seq,
        json.dumps(body["environment"]))
    await conn.executemany(
        "INSERT INTO files (version_id, path, size, sha256, media_type) VALUES ($1,$2,$3,$4,$5)",
        [(version_id, f["path"], f["size"], f["sha256"], f.get("media_type"))
         for f in body["files"]],
    )
    for link in body["links"]:
        await _add_link(conn, version_id, link, seq)
    await _resolve_waiting_links(conn, event["artifact"], version_id, number, body["digest"])
    stored = body["environment"] if first_stored else None
    if number <= art["latest_version"]:  # an import's number below the newest: no `latest`
        return Change(version_id, "applied", environment=stored)
    former = await _set_alias(conn, art["id"], "latest", version_id, seq)
    return Change(version_id, "applied", _lost(former, version_id), stored)


async def _add_link(conn: Conn, version_id: int, link: Link, seq: int) -> None:
    target_artifact = selector = None
    target_version = None
    if target := link.get("target"):
        if target.startswith("sha256:"):
            selector = target.removeprefix("sha256:")
            target_version = await conn.fetchval(
                "SELECT id FROM versions WHERE digest = $1 ORDER BY id LIMIT 1", selector
            )
        else:
            ref = parse_ref(target)
            target_artifact, selector = ref.artifact, ref.selector or "latest"
            art = await artifact_row(conn, target_artifact)
            if art is not None:
                try:
                    target_version = (await resolve_version(conn, art["id"], selector))["id"]
                except InvalidInput:
                    target_version = None  # not there yet: resolved when it arrives
    await conn.execute(
        "INSERT INTO links (source_version_id, relation, target_ref, target_artifact,"
        " target_selector, target_version_id, external, created_seq)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8) ON CONFLICT DO NOTHING",
        version_id, link["relation"], link.get("target"), target_artifact, selector,
        target_version, json.dumps(link["external"]) if link.get("external") else None, seq,
    )


async def _resolve_waiting_links(conn: Conn, artifact: str, version_id: int, number: int,
                                 digest: str) -> None:
    await conn.execute(
        "UPDATE links SET target_version_id = $1 WHERE target_version_id IS NULL AND ("
        " (target_artifact = $2 AND (target_selector = $3 OR target_selector = 'latest'"
        "   OR (length(target_selector) >= 7 AND $4 LIKE target_selector || '%')))"
        " OR (target_artifact IS NULL AND target_selector = $4))"
        " AND target_selector IS NOT NULL",  # so links_waiting (0009) serves it
        version_id, artifact, f"v{number}", digest,
    )


# `before` reads the statement's snapshot: the holder before this upsert (the artifact row is
# locked by the caller, so no one moves the alias in between). One round trip, as before.
SET_ALIAS = """
WITH before AS (SELECT version_id FROM aliases WHERE artifact_id = $1 AND alias = $2)
INSERT INTO aliases (artifact_id, alias, version_id, updated_seq) VALUES ($1,$2,$3,$4)
ON CONFLICT (artifact_id, alias) DO UPDATE SET version_id = $3, updated_seq = $4
RETURNING (SELECT version_id FROM before)
"""


async def _set_alias(conn: Conn, artifact_id: int, alias: str, version_id: int, seq: int
                     ) -> int | None:
    """Point the alias at the version; returns the version that held it before, if any."""
    former: int | None = await conn.fetchval(SET_ALIAS, artifact_id, alias, version_id, seq)
    return former


def _lost(former: int | None, version_id: int) -> tuple[int, ...]:
    """The version an alias was taken from, unless it had none or is the new holder."""
    return () if former is None or former == version_id else (former,)


async def _target(conn: Conn, event: ArtifactEvent, selector: str) -> tuple[int, int]:
    art = await artifact_row(conn, event["artifact"], lock=True)
    if art is None:
        raise InvalidInput("unknown_artifact", f"no artifact {event['artifact']}")
    return art["id"], (await resolve_version(conn, art["id"], selector))["id"]


async def _stage_changed(conn: Conn, event: ArtifactEvent, body: StageChanged, seq: int
                         ) -> Change:
    check_stage(body["stage"])
    _, version_id = await _target(conn, event, body["version"])
    await lifecycle.guard(conn, event["artifact"], version_id, f"a move to {body['stage']}",
                          archived_ok=body["stage"] == "archived")
    await read_only.guard(conn, event["artifact"], version_id, f"a move to {body['stage']}",
                          allowed=body["stage"] == "archived")
    facts, rules = await _stage_facts(conn, event["artifact"], version_id)
    stages.check_transition(facts, body["stage"], rules)
    await conn.execute("UPDATE versions SET stage = $2 WHERE id = $1", version_id, body["stage"])
    return Change(version_id, "applied")


async def _stage_facts(conn: Conn, artifact: str, version_id: int
                       ) -> tuple[stages.Facts, LifecycleRules]:
    """The version's facts and its project's lifecycle rules, read in this transaction."""
    row = await conn.fetchrow(
        "SELECT v.version_number, v.stage, v.validation, (SELECT count(*) FROM links l"
        " JOIN versions s ON s.id = l.source_version_id WHERE l.target_version_id = v.id"
        " AND l.relation = 'evaluates' AND s.kind = 'eval_log') AS evaluations"
        " FROM versions v WHERE v.id = $1", version_id)
    return (stages.Facts(f"{artifact}@v{row['version_number']}", row["stage"],
                         row["validation"], row["evaluations"]),
            await project_rules(conn, artifact.split("/", 1)[0]))


async def _alias_moved(conn: Conn, event: ArtifactEvent, body: AliasMoved, seq: int
                       ) -> Change:
    alias = check_alias(body["alias"])
    if alias == "latest":
        raise InvalidInput("reserved_alias", "'latest' always points at the newest version")
    art = await artifact_row(conn, event["artifact"], lock=True)
    if art is None:
        raise InvalidInput("unknown_artifact", f"no artifact {event['artifact']}")
    if (selector := body.get("version")) is None:
        version_id = await conn.fetchval(
            "DELETE FROM aliases WHERE artifact_id = $1 AND alias = $2 RETURNING version_id",
            art["id"], alias,
        )
        if version_id is None:
            raise InvalidInput("unknown_alias", f"{event['artifact']} has no alias {alias!r}")
        return Change(version_id, "applied")  # the state is the version that lost it
    version_id = (await resolve_version(conn, art["id"], selector))["id"]
    await lifecycle.guard(conn, event["artifact"], version_id, f"alias {alias}", archived_ok=True)
    former = await _set_alias(conn, art["id"], alias, version_id, seq)
    await conn.execute(
        "UPDATE links SET target_version_id = $1 WHERE target_version_id IS NULL"
        " AND target_artifact = $2 AND target_selector = $3",
        version_id, event["artifact"], alias,
    )
    return Change(version_id, "applied", _lost(former, version_id))


async def _metadata_edited(conn: Conn, event: ArtifactEvent, body: MetadataEdited, seq: int
                           ) -> Change:
    _, version_id = await _target(conn, event, body["version"])
    if body.get("reverts"):
        undone = await conn.fetchrow(
            "SELECT previous FROM metadata_edits WHERE event_id = $1 AND version_id = $2",
            body["reverts"], version_id,
        )
        if undone is None:
            raise InvalidInput("unknown_edit", f"no edit {body['reverts']} of this version")
        changes = json.loads(undone["previous"])
    else:
        changes = checks.check_metadata_changes(body["changes"])
    await lifecycle.guard(conn, event["artifact"], version_id, "a metadata edit",
                          archived_ok=set(changes) <= {"legal_hold"})
    await read_only.guard(conn, event["artifact"], version_id, "a metadata edit",
                          allowed=set(changes) <= {"legal_hold"})
    current = json.loads(
        await conn.fetchval("SELECT metadata FROM versions WHERE id = $1", version_id))
    previous = {k: current.get(k) for k in changes}
    current.update(changes)
    if current.get("tags") is None:
        current["tags"] = []
    await conn.execute("UPDATE versions SET metadata = $2::jsonb WHERE id = $1",
                       version_id, json.dumps(current))
    await conn.execute(
        "INSERT INTO metadata_edits (seq, event_id, version_id, actor, changes, previous, reverts)"
        " VALUES ($1,$2,$3,$4,$5::jsonb,$6::jsonb,$7)",
        seq, event["event_id"], version_id, event["actor"],
        json.dumps(changes), json.dumps(previous), body.get("reverts"),
    )
    return Change(version_id, "applied")


async def _link_added(conn: Conn, event: ArtifactEvent, body: LinkAdded, seq: int
                      ) -> Change:
    checks.check_link(body["link"])
    _, version_id = await _target(conn, event, body["version"])
    await lifecycle.guard(conn, event["artifact"], version_id, "a new link")
    await _add_link(conn, version_id, body["link"], seq)
    return Change(version_id, "applied")


async def _verdict(conn: Conn, event: ArtifactEvent, body: Verdict, seq: int) -> Change:
    checks.check_verdict(body)
    _, version_id = await _target(conn, event, body["version"])
    await conn.execute(
        "INSERT INTO verdicts (version_id, check_name, status, reasons, seq)"
        " VALUES ($1,$2,$3,$4::jsonb,$5) ON CONFLICT (version_id, check_name)"
        " DO UPDATE SET status = $3, reasons = $4::jsonb, seq = $5",
        version_id, body["check"], body["status"], json.dumps(body["reasons"]),
        seq,
    )
    await conn.execute(  # warnings do not make a version invalid; no verdict yet is pending
        "UPDATE versions SET validation = (SELECT CASE WHEN count(*) = 0 THEN 'pending'"
        " WHEN bool_or(status = 'failed') THEN 'invalid' ELSE 'valid' END"
        " FROM verdicts WHERE version_id = $1),"
        " completeness = coalesce($2, completeness) WHERE id = $1",
        version_id, body.get("score"),
    )
    return Change(version_id, "applied")


async def _lifecycle(conn: Conn, event: ArtifactEvent, body: LifecycleRequested) -> Change:
    checks.check_lifecycle(body)
    _, version_id = await _target(conn, event, body["version"])
    status = await lifecycle.next_status(conn, version_id, body["action"])  # or refused
    await conn.execute("UPDATE versions SET status = $2 WHERE id = $1", version_id, status)
    return Change(version_id, "applied")

