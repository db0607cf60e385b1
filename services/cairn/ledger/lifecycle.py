"""Archive, restore and delete as the ledger records them, and what such versions may change.

- archive: an active version becomes read-only (its blobs go to the archive tier);
- restore: an archived version becomes active again (its blobs come back);
- delete: an active or archived version becomes a tombstone: its row, metadata, manifest and
  lineage stay so provenance stays answerable; the archiver removes its blobs.
Archive and delete are refused for a version in its project's production-like stage (the
last working stage of its ladder), under legal hold, or that an
active version's lineage points to: the same `protections()` the retention planner uses, so
a version that became protected after a plan was made is still never touched.
An archived version takes no metadata edit but legal_hold, no stage but `archived`, and no
new link; a deleted one takes nothing. The facts are read in the ledger's transaction; the
decisions are pure functions, unit-tested without a database.
"""

from __future__ import annotations

import asyncpg

from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.lifecycle_rules import DEFAULT
from cairn.core.domain.retention import VersionFacts, protections
from cairn.readmodel.version_facts import version_facts
from cairn.readmodel.versions import project_rules

STATUS_AFTER = {"archive": "archived", "restore": "active", "delete": "deleted"}


def decide(v: VersionFacts, action: str, protected_stage: str = DEFAULT.protected_stage
           ) -> str:
    """The status `action` leaves `v` in, or InvalidInput with the reason it is refused."""
    if v.status == "deleted":
        raise InvalidInput("version_deleted", f"{v.ref} is deleted: only its tombstone "
                           f"remains, so it cannot be {action}d")
    if action == "restore":
        if v.status != "archived":
            raise InvalidInput("not_archived", f"{v.ref} is {v.status}, not archived: "
                               "there is nothing to restore")
        return STATUS_AFTER[action]
    if action == "archive" and v.status == "archived":
        raise InvalidInput("already_archived", f"{v.ref} is archived already")
    guards = protections(v, protected_stage)
    if guards:
        raise InvalidInput("protected", f"{action} of {v.ref} refused: {'; '.join(guards)}")
    return STATUS_AFTER[action]


def check_writable(ref: str, status: str, what: str, *, archived_ok: bool = False) -> None:
    """Refuse `what` (a change to the version) when its status no longer allows it."""
    if status == "deleted":
        raise InvalidInput("version_deleted", f"{ref} is deleted (a tombstone kept for its "
                           f"provenance): {what} refused")
    if status == "archived" and not archived_ok:
        raise InvalidInput("version_archived", f"{ref} is archived and read-only: {what} "
                           f"refused; restore it first: cairn restore {ref}")


async def next_status(conn: asyncpg.Connection, version_id: int, action: str) -> str:
    v = await version_facts(conn, version_id)
    rules = await project_rules(conn, v.artifact.split("/", 1)[0])
    return decide(v, action, rules.protected_stage)


async def guard(conn: asyncpg.Connection, artifact: str, version_id: int, what: str, *,
                archived_ok: bool = False) -> None:
    row = await conn.fetchrow("SELECT status, version_number FROM versions WHERE id = $1",
                              version_id)
    check_writable(f"{artifact}@v{row['version_number']}", row["status"], what,
                   archived_ok=archived_ok)
