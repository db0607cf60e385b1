"""Record a VerdictSet (the validator's judgement of one version) as one ledger entry.

Every check it carries is upserted into `verdicts` by one set-based statement (the checks as
arrays, `unnest`, `INSERT … SELECT … ON CONFLICT`), then one statement recomputes the
version's validation (warnings do not make it invalid) and sets its completeness: two round
trips whatever the number of checks, where the single-check Verdict took two per check. The
per-check rows are the same a series of Verdicts would leave, so the api, UI, CLI and
notifier read what they read before. Runs in the recorder's transaction.
"""

from __future__ import annotations

import json

import asyncpg

from cairn.core.domain import checks
from cairn.core.domain.event_types import ArtifactEvent, VerdictSet
from cairn.core.domain.identity import InvalidInput
from cairn.readmodel.versions import artifact_row, resolve_version

UPSERT_CHECKS = """
INSERT INTO verdicts (version_id, check_name, status, reasons, seq)
SELECT $1, c.check_name, c.status, c.reasons::jsonb, $5
FROM unnest($2::text[], $3::text[], $4::text[]) AS c (check_name, status, reasons)
ON CONFLICT (version_id, check_name)
DO UPDATE SET status = EXCLUDED.status, reasons = EXCLUDED.reasons, seq = EXCLUDED.seq
"""
# No verdict yet is pending; a failed check makes the version invalid, warnings do not.
# `{version}`: the SQL naming the version's id (bulk_verdicts sets many at once with it).
VALIDATION_OF = """(SELECT CASE WHEN count(*) = 0 THEN 'pending'
    WHEN bool_or(status = 'failed') THEN 'invalid' ELSE 'valid' END
    FROM verdicts WHERE version_id = {version})"""
UPDATE_VALIDATION = f"""
UPDATE versions SET validation = {VALIDATION_OF.format(version="$1")},
  completeness = coalesce($2, completeness)
WHERE id = $1
"""


def check_verdict_set(body: VerdictSet) -> None:
    """At least one check, each named once, each with a known status; a score in [0, 1]."""
    names = [c["check"] for c in body["checks"]]
    if not names:
        raise InvalidInput("invalid_verdict", "a VerdictSet carries at least one check")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput("invalid_verdict", f"checks named more than once: {', '.join(twice)}")
    for outcome in body["checks"]:
        checks.check_verdict(outcome)
    checks.check_verdict({"status": "passed", "score": body.get("completeness")})


async def record_verdict_set(conn: asyncpg.Connection, event: ArtifactEvent, body: VerdictSet,
                             seq: int) -> int:
    """Upsert every check's verdict and the version's validation; returns the version's id
    (InvalidInput when the set or its version is refused)."""
    check_verdict_set(body)
    art = await artifact_row(conn, event["artifact"], lock=True)
    if art is None:
        raise InvalidInput("unknown_artifact", f"no artifact {event['artifact']}")
    version_id: int = (await resolve_version(conn, art["id"], body["version"]))["id"]
    outcomes = body["checks"]
    await conn.execute(UPSERT_CHECKS, version_id, [c["check"] for c in outcomes],
                       [c["status"] for c in outcomes],
                       [json.dumps(c.get("reasons") or []) for c in outcomes], seq)
    await conn.execute(UPDATE_VALIDATION, version_id, body.get("completeness"))
    return version_id
