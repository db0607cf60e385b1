"""Record a run of Published events with a fixed number of statements, whatever its length.

The per-event path (`recorder.record`) costs about ten round trips a publish. Here a run
(consecutive Published events of a batch) is judged in Python against a few reads made
under the chain head's lock, then written with one statement per table (arrays through
unnest), with the results of recording the events one by one:

- a refusal (checks.check_published, a stage off the project's ladder, a kind other than
  the artifact's) is known before any write: that event alone is dead-lettered and takes no
  seq; the rest of the run is recorded;
- numbers follow the run's order; a digest the artifact already has, or had earlier in the
  run, is a duplicate of that version; an import's requested number is taken if free (the
  tables' and the run's), refused (version_number_taken) if another digest holds it, and
  takes `latest` only above the artifact's newest number (recorder._number);
- a link resolves against what its event would have seen one by one: the tables as they
  were, the run's earlier versions and its own, `latest` where the run had moved it; one
  still unresolved is resolved by the first later version of the run that matches (as
  `recorder._resolve_waiting_links` does), or waits for a later batch; links recorded before
  the run and still waiting are resolved by the run's first matching version;
- each changelog record's state is its version's state right after its event, as the
  per-event path stores it and `cairn audit verify` replays it. A run moves no alias but
  `latest`, so one read of the states (before `latest` moves) is adjusted for who held
  `latest` at each event.

The hash chain is computed here in seq order and the event_log rows go in one statement.
Anything not foreseen (a value PostgreSQL refuses) raises; the caller then records the run
per event, in savepoints, as before.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

import asyncpg

from cairn.core.adapters.batches import RawRecord
from cairn.core.domain import checks
from cairn.core.domain.environments import environment_digest, lean_event
from cairn.core.domain.event_types import ArtifactEvent, Link, Published, RecordedEvent
from cairn.core.domain.events import now_ms, payload_of
from cairn.core.domain.identity import InvalidInput, is_version_selector, parse_ref
from cairn.ledger.entries import log_entry
from cairn.ledger.recorder import STATES_SQL, number_taken
from cairn.ledger.refusals import REFUSED, Refused, note_rejected
from cairn.readmodel.versions import INCOMING_KEPT, rules_among, state_of

Conn: TypeAlias = asyncpg.Connection
Key: TypeAlias = tuple[str, int]  # ("db", version id) or ("new", the event's place in the run)


@dataclass(frozen=True)
class Recorded:
    record: RecordedEvent
    repeat: bool  # recorded before (redelivered, or twice in the batch): the same record


Outcome: TypeAlias = Recorded | Refused


@dataclass
class _Art:
    """An artifact as the run goes: its row's id (None until inserted), kind, newest number,
    who holds `latest`, and its versions by digest (the tables' matches, the run's own)."""

    id: int | None
    kind: str
    number: int
    latest: Key | None
    digests: dict[str, Key] = field(default_factory=dict)
    numbers: dict[int, Key] = field(default_factory=dict)  # the run's new versions
    held: dict[int, str] = field(default_factory=dict)  # requested numbers the tables hold
    created: int | None = None  # the run's event that creates it


@dataclass
class _Link:
    source: int  # the event's place in the run
    link: Link
    artifact: str | None
    selector: str | None
    target: Key | None


@dataclass
class _Item:
    raw: RawRecord
    event: ArtifactEvent
    body: Published
    outcome: str = ""  # applied, duplicate, refused, repeat
    seq: int = 0
    number: int = 0
    version: Key | None = None
    holds_latest: bool = False  # its version holds `latest` right after the event
    loser: Key | None = None
    refusal: Refused | None = None
    repeat_of: RecordedEvent | int | None = None  # a stored record, or an earlier event's place
    first_stored: bool = False  # its version's environment was stored by this event
    reached: list[Key] = field(default_factory=list)  # its links' targets, resolved at once


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _like_prefix(text: str, pattern: str) -> bool:
    """`text LIKE pattern || '%'` as PostgreSQL reads it ('_' any one character)."""
    rx = "".join("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.match(rx, text, re.S) is not None


def _matches(link: _Link, artifact: str, number: int, digest: str) -> bool:
    """Whether a version arriving resolves this waiting link (recorder._resolve_waiting_links)."""
    sel = link.selector
    if sel is None:
        return False
    if link.artifact is None:
        return sel == digest
    return link.artifact == artifact and (
        sel in (f"v{number}", "latest") or (len(sel) >= 7 and _like_prefix(digest, sel)))


def _how(selector: str) -> str:
    """How resolve_version reads a selector: a number, a digest prefix or an alias."""
    if selector.startswith("v") and selector[1:].isdigit():
        return "number"
    return "prefix" if is_version_selector(selector) else "alias"


ARTIFACTS_SQL = """
SELECT a.id, a.project || '/' || a.name AS artifact, a.kind, a.latest_version,
       (SELECT al.version_id FROM aliases al WHERE al.artifact_id = a.id AND al.alias = 'latest')
         AS latest
FROM artifacts a JOIN unnest($1::text[], $2::text[]) AS t(project, name)
  ON a.project = t.project AND a.name = t.name
FOR UPDATE OF a
"""
KNOWN_DIGESTS_SQL = """
SELECT a.project || '/' || a.name AS artifact, v.digest, v.id
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(project, name, digest)
JOIN artifacts a ON a.project = t.project AND a.name = t.name
JOIN versions v ON v.artifact_id = a.id AND v.digest = t.digest
"""
HELD_NUMBERS_SQL = """
SELECT a.project || '/' || a.name AS artifact, v.version_number, v.digest
FROM unnest($1::text[], $2::text[], $3::int[]) AS t(project, name, num)
JOIN artifacts a ON a.project = t.project AND a.name = t.name
JOIN versions v ON v.artifact_id = a.id AND v.version_number = t.num
"""
FIRST_BY_DIGEST_SQL = """
SELECT DISTINCT ON (digest) digest, id FROM versions WHERE digest = ANY($1::text[])
ORDER BY digest, id
"""
# A digest prefix is lowercase hex, so 'digest starts with it' is also a range the
# versions_digest index serves (every hex digit sorts before 'g').
# The version ids a selector names in artifact `a` (t.how: _how's word, t.sel, t.num): one for
# a number or an alias, up to two for a digest prefix (two: ambiguous).
SELECTOR_IDS = """CASE t.how
    WHEN 'number' THEN ARRAY(SELECT v.id FROM versions v
                             WHERE v.artifact_id = a.id AND v.version_number = t.num)
    WHEN 'prefix' THEN ARRAY(SELECT v.id FROM versions v
                             WHERE v.digest ~>=~ t.sel AND v.digest ~<~ (t.sel || 'g')
                               AND v.digest LIKE t.sel || '%' AND v.artifact_id = a.id LIMIT 2)
    ELSE ARRAY(SELECT al.version_id FROM aliases al
               WHERE al.artifact_id = a.id AND al.alias = t.sel)
  END"""
TARGETS_SQL = f"""
SELECT t.project || '/' || t.name AS artifact, t.sel, a.id AS artifact_id,
  {SELECTOR_IDS} AS ids
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
  AS t(project, name, how, sel, num)
LEFT JOIN artifacts a ON a.project = t.project AND a.name = t.name
"""
PROJECTS_SQL = """
INSERT INTO projects (name, created_at, created_seq)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[])
ON CONFLICT (name) DO NOTHING
"""
ARTIFACTS_UPSERT = """
INSERT INTO artifacts (project, name, kind, latest_version, created_at, created_seq)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[],
                     $6::bigint[])
ON CONFLICT (project, name) DO UPDATE SET latest_version = EXCLUDED.latest_version
RETURNING id, project || '/' || name AS artifact
"""
# Each environment the run's new versions name, stored once (the first version's seq); returns
# the digests this run stored first (their first records carry the environment whole).
ENVIRONMENTS_INSERT = """
INSERT INTO environments (digest, body, first_seq)
SELECT d, b::jsonb, q FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(d, b, q)
ON CONFLICT (digest) DO NOTHING RETURNING digest
"""
VERSIONS_INSERT = """
INSERT INTO versions (artifact_id, version_number, digest, kind, metadata, environment_digest,
                      extra, stage, created_by, created_at, created_seq, updated_seq)
SELECT a, n, d, k, m::jsonb, e, x::jsonb, s, c, t, q, q
FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::bigint[])
  WITH ORDINALITY AS u(a, n, d, k, m, e, x, s, c, t, q, o)
ORDER BY o
RETURNING id, created_seq
"""
# Links recorded before the run and still waiting: the run's first version that matches,
# by recorder._resolve_waiting_links' two arms (each an index probe on links_waiting).
RESOLVE_WAITING = """
WITH arrived AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
    AS n(version_id, artifact, number_sel, digest, ord)),
matched AS (
  SELECT l.id, n.version_id, n.ord FROM arrived n JOIN links l
    ON l.target_version_id IS NULL AND l.target_selector IS NOT NULL
   AND l.target_artifact = n.artifact
   AND (l.target_selector = n.number_sel OR l.target_selector = 'latest'
        OR (length(l.target_selector) >= 7 AND n.digest LIKE l.target_selector || '%'))
  UNION ALL
  SELECT l.id, n.version_id, n.ord FROM arrived n JOIN links l
    ON l.target_version_id IS NULL AND l.target_selector IS NOT NULL
   AND l.target_artifact IS NULL AND l.target_selector = n.digest),
first AS (SELECT DISTINCT ON (id) id, version_id FROM matched ORDER BY id, ord)
UPDATE links l SET target_version_id = f.version_id FROM first f WHERE l.id = f.id
"""
FILES_INSERT = """
INSERT INTO files (version_id, path, size, sha256, media_type)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[])
"""
LINKS_INSERT = """
INSERT INTO links (source_version_id, relation, target_ref, target_artifact, target_selector,
                   target_version_id, external, created_seq)
SELECT s, r, t, ta, ts, tv, x::jsonb, q
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
            $7::text[], $8::bigint[]) WITH ORDINALITY AS u(s, r, t, ta, ts, tv, x, q, o)
ORDER BY o
ON CONFLICT DO NOTHING
"""
LATEST_UPSERT = """
INSERT INTO aliases (artifact_id, alias, version_id, updated_seq)
SELECT a, 'latest', v, q FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(a, v, q)
ON CONFLICT (artifact_id, alias)
DO UPDATE SET version_id = EXCLUDED.version_id, updated_seq = EXCLUDED.updated_seq
"""
LOG_INSERT = """
INSERT INTO event_log (seq, event_id, artifact, event_type, outcome, actor, occurred_at,
                       recorded_at, event, state, version_id, chain_version, prev_hash, hash,
                       alias_losers, link_targets)
SELECT s, i, a, t, o, ac, oa, ra, e::jsonb, st::jsonb, v, c, p, h, l::jsonb, lt::jsonb
FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[], $11::bigint[],
            $12::int[], $13::text[], $14::text[], $15::text[], $16::text[])
  AS u(s, i, a, t, o, ac, oa, ra, e, st, v, c, p, h, l, lt)
"""


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column (unnest's arrays); `width` columns when there are none."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class _Run:
    """One run's judgement (in Python, from the reads) and its writes."""

    def __init__(self, items: list[_Item], head: tuple[int, str]) -> None:
        self.items = items
        self.head = head
        self.arts: dict[str, _Art] = {}
        self.first_by_digest: dict[str, int] = {}  # from the tables: the oldest id
        self.new_by_digest: dict[str, Key] = {}  # the run's first version of each digest
        self.targets: dict[tuple[str, str], list[int]] = {}  # (artifact, selector) → ids
        self.existing: set[str] = set()  # link target artifacts the tables hold
        self.links: list[_Link] = []
        self.waiting_on: dict[str, list[_Link]] = {}  # by target artifact, or by digest
        self.ids: dict[Key, int] = {}

    # -- reads -----------------------------------------------------------------------
    async def read(self, conn: Conn) -> None:
        live = [it for it in self.items if not it.outcome]
        pairs = sorted({tuple(it.event["artifact"].split("/", 1)) for it in live})
        for row in await conn.fetch(ARTIFACTS_SQL, *_columns(pairs, 2)):
            self.arts[row["artifact"]] = _Art(
                row["id"], row["kind"], row["latest_version"],
                None if row["latest"] is None else ("db", row["latest"]))
        digests = sorted({(it.body["project"], it.body["name"], it.body["digest"])
                          for it in live})
        for row in await conn.fetch(KNOWN_DIGESTS_SQL, *_columns(digests, 3)):
            self.arts[row["artifact"]].digests[row["digest"]] = ("db", row["id"])
        asked = sorted({(it.body["project"], it.body["name"], n) for it in live
                        if (n := it.body.get("version_number")) is not None})
        if asked:
            for row in await conn.fetch(HELD_NUMBERS_SQL, *_columns(asked, 3)):
                self.arts[row["artifact"]].held[row["version_number"]] = row["digest"]
        links = [t for it in live for link in it.body["links"] if (t := link.get("target"))]
        shas = sorted({t.removeprefix("sha256:") for t in links if t.startswith("sha256:")})
        if shas:
            self.first_by_digest = {r["digest"]: r["id"]
                                    for r in await conn.fetch(FIRST_BY_DIGEST_SQL, shas)}
        refs = set()
        for target in links:
            if not target.startswith("sha256:"):
                ref = parse_ref(target)
                sel = (ref.selector or "latest").removeprefix("sha256:")
                how = _how(sel)
                refs.add((ref.project, ref.name, how, sel, int(sel[1:]) if how == "number" else 0))
        if refs:
            for row in await conn.fetch(TARGETS_SQL, *_columns(sorted(refs), 5)):
                self.targets[(row["artifact"], row["sel"])] = list(row["ids"] or [])
                if row["artifact_id"] is not None:
                    self.existing.add(row["artifact"])

    # -- judgement, in the run's order ------------------------------------------------
    def judge(self, rules: dict[str, Any]) -> None:
        seq = self.head[0]
        for i, it in enumerate(self.items):
            if it.outcome:
                continue
            try:
                if (stage := it.body.get("stage")) is not None:
                    rules[it.body["project"]].check_on_ladder(stage, it.body["project"])
                art = self._art(it)
                if it.body["digest"] not in art.digests:
                    self._check_number(it, art)
            except REFUSED as exc:
                it.outcome, it.refusal = "refused", Refused.of(exc)
                continue
            seq += 1
            it.seq = seq
            if art.created is None and art.id is None:
                art.created = i
            if (known := art.digests.get(it.body["digest"])) is not None:
                it.outcome, it.version, it.holds_latest = "duplicate", known, art.latest == known
                continue
            requested = it.body.get("version_number")
            number = art.number + 1 if requested is None else requested
            key: Key = ("new", i)
            holds = number > art.number  # an import's number below the newest: no `latest`
            it.outcome, it.number, it.version, it.holds_latest = "applied", number, key, holds
            art.number = max(art.number, number)
            art.digests[it.body["digest"]] = key
            art.numbers[number] = key
            self.new_by_digest.setdefault(it.body["digest"], key)
            for link in it.body["links"]:
                self._add_link(i, link)
            self._arrive(it.event["artifact"], number, it.body["digest"], key)
            if not holds:
                continue
            if art.latest is not None and art.latest != key:
                it.loser = art.latest
            art.latest = key

    def _check_number(self, it: _Item, art: _Art) -> None:
        """An import's requested number must be free: in the tables and in the run."""
        if (number := it.body.get("version_number")) is None:
            return
        if (holder := art.held.get(number)) is not None:
            raise number_taken(it.event["artifact"], number, holder)
        if (key := art.numbers.get(number)) is not None:
            raise number_taken(it.event["artifact"], number,
                               self.items[key[1]].body["digest"])

    def _art(self, it: _Item) -> _Art:
        artifact, kind = it.event["artifact"], it.body["kind"]
        art = self.arts.setdefault(artifact, _Art(None, kind, 0, None))
        if art.kind != kind:
            raise InvalidInput("kind_mismatch", f"{artifact} is a {art.kind}, not a {kind}")
        return art

    def _exists(self, artifact: str) -> bool:
        if (art := self.arts.get(artifact)) is not None:
            return art.id is not None or art.created is not None
        return artifact in self.existing

    def _add_link(self, source: int, link: Link) -> None:
        """Resolve as recorder._add_link would at this point of the run."""
        artifact: str | None = None
        selector: str | None = None
        target: Key | None = None
        if (text := link.get("target")) and text.startswith("sha256:"):
            selector = text.removeprefix("sha256:")
            first = self.first_by_digest.get(selector)
            target = ("db", first) if first is not None else self.new_by_digest.get(selector)
        elif text:
            ref = parse_ref(text)
            artifact, selector = ref.artifact, ref.selector or "latest"
            if self._exists(artifact):
                target = self._resolve(artifact, selector.removeprefix("sha256:"))
        entry = _Link(source, link, artifact, selector, target)
        if target is not None:  # a link of a version that was there: its state changes now
            self.items[source].reached.append(target)
        self.links.append(entry)
        if target is None and selector is not None:
            self.waiting_on.setdefault(artifact or selector, []).append(entry)

    def _resolve(self, artifact: str, sel: str) -> Key | None:
        db_ids = self.targets.get((artifact, sel), [])
        art = self.arts.get(artifact)
        how = _how(sel)
        if how == "number":
            if db_ids:
                return ("db", db_ids[0])
            return None if art is None else art.numbers.get(int(sel[1:]))
        if how == "prefix":
            found = [("db", i) for i in db_ids] + (
                [] if art is None else [k for d, k in art.digests.items()
                                        if k[0] == "new" and d.startswith(sel)])
            return found[0] if len(found) == 1 else None  # ambiguous: waits, as one by one
        if sel == "latest" and art is not None:
            return art.latest
        return ("db", db_ids[0]) if db_ids else None

    def _arrive(self, artifact: str, number: int, digest: str, key: Key) -> None:
        """The run's waiting links that this new version resolves (the first one wins)."""
        for bucket in (artifact, digest):
            waiting = self.waiting_on.get(bucket, [])
            still = []
            for link in waiting:
                if _matches(link, artifact, number, digest):
                    link.target = key
                else:
                    still.append(link)
            if waiting:
                self.waiting_on[bucket] = still

    # -- writes ----------------------------------------------------------------------
    async def write(self, conn: Conn) -> list[RecordedEvent | None]:
        applied = [(i, it) for i, it in enumerate(self.items) if it.outcome == "applied"]
        await self._artifacts(conn)
        digests = [environment_digest(it.body["environment"]) for _, it in applied]
        await self._environments(conn, [it for _, it in applied], digests)
        rows = [(self.arts[it.event["artifact"]].id, it.number, it.body["digest"],
                 it.body["kind"], json.dumps(it.body["metadata"]),
                 env, it.body.get("extra") or "{}",
                 it.body.get("stage"), it.event["actor"], _ts(it.event["occurred_at"]), it.seq)
                for (_, it), env in zip(applied, digests, strict=True)]
        by_seq = {r["created_seq"]: r["id"] for r in
                  await conn.fetch(VERSIONS_INSERT, *_columns(rows, 11))} if rows else {}
        for i, it in applied:
            self.ids[("new", i)] = by_seq[it.seq]
        for it in self.items:
            if it.version is not None and it.version[0] == "db":
                self.ids[it.version] = it.version[1]
            if it.loser is not None and it.loser[0] == "db":
                self.ids[it.loser] = it.loser[1]
        for link in self.links:
            if link.target is not None and link.target[0] == "db":
                self.ids[link.target] = link.target[1]
        for it in self.items:
            self.ids.update((k, k[1]) for k in it.reached if k[0] == "db")
        if applied:
            await conn.execute(RESOLVE_WAITING, *_columns(
                [(self.ids[("new", i)], it.event["artifact"], f"v{it.number}",
                  it.body["digest"]) for i, it in applied], 4))
            await self._files_and_links(conn, applied)
        states = await self._states(conn)
        if applied:
            last = {it.event["artifact"]: (self.ids[("new", i)], it.seq) for i, it in applied
                    if it.holds_latest}
            await conn.execute(LATEST_UPSERT, *_columns(
                [(self.arts[a].id, v, s) for a, (v, s) in last.items()], 3))
        return await self._log(conn, states)

    @staticmethod
    async def _environments(conn: Conn, applied: list[_Item], digests: list[str]) -> None:
        """Store each environment the new versions name, once, with its first version's seq;
        mark the items that stored one first (recorder's INSERT_VERSION, set-based)."""
        first: dict[str, _Item] = {}
        for it, env in zip(applied, digests, strict=True):
            first.setdefault(env, it)
        if not first:
            return
        stored = await conn.fetch(ENVIRONMENTS_INSERT, *_columns(
            [(env, json.dumps(it.body["environment"]), it.seq) for env, it in first.items()], 3))
        for row in stored:
            first[row["digest"]].first_stored = True

    async def _artifacts(self, conn: Conn) -> None:
        made = sorted((a for a in self.arts.values() if a.created is not None),
                      key=lambda a: a.created or 0)
        projects: dict[str, tuple[dt.datetime, int]] = {}
        for art in made:
            it = self.items[cast(int, art.created)]
            projects.setdefault(it.body["project"], (_ts(it.event["occurred_at"]), it.seq))
        if projects:
            await conn.execute(PROJECTS_SQL, *_columns(
                [(p, at, s) for p, (at, s) in projects.items()], 3))
        touched = {it.event["artifact"] for it in self.items if it.outcome == "applied"}
        rows = []
        for name, art in self.arts.items():
            if name in touched:
                first = self.items[art.created] if art.created is not None else None
                project, short = name.split("/", 1)
                rows.append((project, short, art.kind, art.number,
                             _ts(first.event["occurred_at"]) if first else _ts(0),
                             first.seq if first else 0))
        rows.sort(key=lambda r: (r[5] == 0, r[5]))  # new ones in the order they were made
        if rows:
            for row in await conn.fetch(ARTIFACTS_UPSERT, *_columns(rows, 6)):
                self.arts[row["artifact"]].id = row["id"]

    async def _files_and_links(self, conn: Conn, applied: list[tuple[int, _Item]]) -> None:
        files = [(self.ids[("new", i)], f["path"], f["size"], f["sha256"], f.get("media_type"))
                 for i, it in applied for f in it.body["files"]]
        await conn.execute(FILES_INSERT, *_columns(files, 5))
        links = [(self.ids[("new", link.source)], link.link["relation"], link.link.get("target"),
                  link.artifact, link.selector,
                  None if link.target is None else self.ids[link.target],
                  json.dumps(link.link["external"]) if link.link.get("external") else None,
                  self.items[link.source].seq) for link in self.links]
        if links:
            await conn.execute(LINKS_INSERT, *_columns(links, 8))

    async def _states(self, conn: Conn) -> dict[int, dict[str, Any]]:
        """Every state the run's records need, read once before `latest` moves, with as many
        incoming links more than a state keeps as the run added (_state drops those)."""
        wanted = sorted({self.ids[k] for it in self.items
                         for k in (it.version, it.loser, *it.reached) if k is not None})
        rows = await conn.fetch(STATES_SQL, wanted, INCOMING_KEPT + len(self.links))
        return {r["id"]: state_of(r) for r in rows}

    def _state(self, states: dict[int, dict[str, Any]], key: Key, holds_latest: bool,
               seq: int) -> dict[str, Any]:
        """The version's state right after the event at `seq`: `latest` where the run had it
        then, and the links that reached it by then."""
        state = states[self.ids[key]]
        aliases = [a for a in state["aliases"] if a != "latest"]
        if holds_latest:
            aliases = state["aliases"] if "latest" in state["aliases"] else ["latest", *aliases]
        incoming = [i for i in state["incoming"] if i["seq"] <= seq][:INCOMING_KEPT]
        return {**state, "aliases": aliases, "incoming": incoming}

    def _reached(self, states: dict[int, dict[str, Any]], it: _Item) -> list[dict[str, Any]]:
        """The states, right after its event, of the versions its links reached (the other
        versions, by id, as recorder.LINKED_STATES_SQL reads them)."""
        own = {self.ids[k] for k in (it.version, it.loser) if k is not None}
        keys = {self.ids[k]: k for k in it.reached if self.ids[k] not in own}
        return [self._state(states, keys[v], self._latest_at(states, keys[v], it.seq), it.seq)
                for v in sorted(keys)]

    def _latest_at(self, states: dict[int, dict[str, Any]], key: Key, seq: int) -> bool:
        """Whether the version holds `latest` right after the event at `seq`: the run's last
        version of its artifact to take it by then, or, if none did, as the tables had it."""
        content = states[self.ids[key]]["content"]
        artifact = f"{content['project']}/{content['name']}"
        holder = None
        for it in self.items:
            if it.seq > seq:
                break
            if it.outcome == "applied" and it.holds_latest and it.event["artifact"] == artifact:
                holder = it.version
        if holder is None:
            return key[0] == "db" and "latest" in states[self.ids[key]]["aliases"]
        return holder == key

    async def _log(self, conn: Conn, states: dict[int, dict[str, Any]]
                   ) -> list[RecordedEvent | None]:
        prev, rows = self.head[1], []
        out: list[RecordedEvent | None] = []
        for it in self.items:
            if it.outcome not in ("applied", "duplicate"):
                out.append(None)
                continue
            assert it.version is not None
            state = self._state(states, it.version, it.holds_latest, it.seq)
            losers = [] if it.loser is None else [self._state(states, it.loser, False, it.seq)]
            reached = self._reached(states, it)
            recorded_at = now_ms()
            digest, values = log_entry(prev, {
                "seq": it.seq, "event_id": str(it.event["event_id"]),
                "artifact": it.event["artifact"], "event_type": "Published",
                "outcome": it.outcome, "actor": it.event["actor"],
                "occurred_at_ms": it.event["occurred_at"], "recorded_at_ms": recorded_at,
                "event": it.event, "state": state, "version_id": self.ids[it.version]},
                alias_losers=cast(Any, losers), link_targets=cast(Any, reached))
            rows.append(values)
            prev = digest
            out.append(cast(RecordedEvent, {
                "seq": it.seq, "recorded_at": recorded_at, "hash": digest,
                "outcome": it.outcome, "event": lean_event(it.event), "state": state,
                "alias_losers": losers, "link_targets": reached,
                "environment": it.body["environment"] if it.first_stored else None}))
        if rows:
            await conn.execute(LOG_INSERT, *_columns(rows, 16))
            self.head = (rows[-1][0], prev)
        return out


async def record_run(conn: Conn, run: Sequence[tuple[RawRecord, ArtifactEvent]],
                     head: tuple[int, str], kinds: tuple[str, ...],
                     seen: dict[str, RecordedEvent]) -> tuple[list[Outcome], tuple[int, str]]:
    """Record consecutive Published events after `head`: each one's outcome, in order (a
    record, or a refusal noted in rejected_events), and the new head. `seen`: the records of
    events recorded before (by event_id). Call inside a savepoint: on an exception the
    caller rolls it back and records the run per event."""
    items = [_Item(raw, event, cast(Published, payload_of(event)[1])) for raw, event in run]
    placed: dict[str, int] = {}
    for i, it in enumerate(items):
        event_id = str(it.event["event_id"])
        if event_id in seen:
            it.outcome, it.repeat_of = "repeat", seen[event_id]
            continue
        if event_id in placed:
            it.outcome, it.repeat_of = "repeat", placed[event_id]
            continue
        try:
            checks.check_published(it.event["artifact"], it.body, kinds)
        except REFUSED as exc:
            it.outcome, it.refusal = "refused", Refused.of(exc)
            continue
        placed[event_id] = i
    work = _Run(items, head)
    await work.read(conn)
    staged = sorted({it.body["project"] for it in items
                     if not it.outcome and it.body.get("stage") is not None})
    work.judge(await rules_among(conn, staged) if staged else {})
    for it in items:  # a second copy of an event refused by the judgement: refused again
        if isinstance(it.repeat_of, int) and (first := items[it.repeat_of].refusal):
            it.outcome, it.refusal, it.repeat_of = "refused", first, None
    records = await work.write(conn)
    await note_rejected(conn, [(str(it.event["event_id"]), it.event.get("artifact"),
                                it.refusal.reason, it.refusal.message)
                               for it in items if it.refusal is not None])
    outcomes: list[Outcome] = []
    for it, record in zip(items, records, strict=True):
        if it.refusal is not None:
            outcomes.append(it.refusal)
        elif record is not None:
            outcomes.append(Recorded(record, False))
        elif isinstance(it.repeat_of, int):
            earlier = records[it.repeat_of]
            outcomes.append(Recorded(cast(RecordedEvent, earlier), True))
        else:
            outcomes.append(Recorded(cast(RecordedEvent, it.repeat_of), True))
    return outcomes, work.head
