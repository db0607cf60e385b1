"""`cairn audit verify` compares the tables the api serves with what the chained log rebuilds.

Issue 9, finding 10: `UPDATE versions SET stage = 'production'` by hand made the api serve
it while the chain check said intact. History goes through the real ledger (Kafka,
PostgreSQL); then rows are edited by hand and each must be named (table, key, column, what
the log says, what the table holds), while the chain alone still says intact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from cairn.core.domain.events import new_event
from cairn.readmodel.audit import verify, verify_chain

from tests.conftest import Namespace
from tests.ledger_helpers import emit_recorded, publish_event
from tests.processes import Service


def _event(artifact: str, kind: str, **body: Any) -> dict[str, Any]:
    return new_event(artifact, kind, body, actor="tester", tool="test")


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "cairn"), "audit", "verify", *args],
                          env={**os.environ, "DATABASE_URL": database_url, "COLUMNS": "250"},
                          capture_output=True, text=True, timeout=120)


async def _history(env: dict[str, str], db: str) -> str:
    p = f"p{uuid.uuid4().hex[:8]}"
    model = f"{p}/m"
    edit = _event(model, "MetadataEdited", version="v2", reverts=None,
                  changes=json.dumps({"description": "second try", "tags": ["cv"]}))
    events = [
        publish_event(p, "d", "dataset"),
        publish_event(p, "m", "model", links=[{"relation": "trained_on", "target": f"{p}/d@v1"}]),
        publish_event(p, "m", "model"),
        _event(model, "AliasMoved", alias="prod", version="v1"),
        _event(model, "StageChanged", version="v1", stage="staging"),
        edit,
        _event(model, "MetadataEdited", version="v2", reverts=edit["event_id"], changes="{}"),
        _event(model, "MetadataEdited", version="v1", reverts=None,
               changes=json.dumps({"description": "the first"})),
        publish_event(p, "m", "model"),
        _event(model, "AliasMoved", alias="prod", version="v3"),  # v1 loses prod
        _event(model, "AliasMoved", alias="champion", version="v2"),
        _event(model, "AliasMoved", alias="champion", version=None),  # removed
        _event(model, "AliasMoved", alias="best", version="v1"),
        _event(model, "LinkAdded", version="v3",
               link={"relation": "derived_from", "target": f"{model}@v1", "external": None}),
    ]
    got = await emit_recorded(env, db, events)
    assert {r["outcome"] for r in got.values()} == {"applied"}, got
    return p


async def test_rows_edited_by_hand_are_named_while_the_chain_alone_says_intact(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    db = namespace.database_url
    p = await _history(cairn_env, db)
    report = await verify(db)
    assert report.ok and report.state is not None, report.state
    assert report.state.rows["versions"] >= 4 and report.state.rows["metadata_edits"] >= 3
    cli = _cli(db)
    assert cli.returncode == 0 and "tables match the log" in cli.stdout, cli.stderr

    conn = await asyncpg.connect(db)
    try:
        ids = {r["version_number"]: r["id"] for r in await conn.fetch(
            "SELECT v.id, v.version_number FROM versions v JOIN artifacts a ON a.id ="
            " v.artifact_id WHERE a.project = $1 AND a.name = 'm'", p)}
        prod = await conn.fetchrow("SELECT * FROM aliases WHERE version_id = $1 AND alias ="
                                   " 'prod'", ids[3])
        meta = await conn.fetchval("SELECT metadata FROM versions WHERE id = $1", ids[1])
        await conn.execute("UPDATE versions SET stage = 'production' WHERE id = $1", ids[1])
        await conn.execute("DELETE FROM aliases WHERE version_id = $1 AND alias = 'prod'",
                           ids[3])
        await conn.execute("UPDATE versions SET metadata = jsonb_set(metadata, '{legal_hold}',"
                           " 'false') || '{\"description\": \"forged\"}' WHERE id = $1", ids[1])
        try:
            assert (await verify_chain(db)).ok  # what `cairn audit verify` said before
            report = await verify(db)
            assert not report.ok and report.chain.ok and report.state is not None
            named = {(d.table, d.key, d.column): (d.expected, d.found)
                     for d in report.state.differences}
            v1 = f"{p}/m@v1 (id {ids[1]})"
            assert named == {
                ("versions", v1, "stage"): ("staging", "production"),
                ("versions", v1, "metadata.description"): ("the first", "forged"),
                ("versions", v1, "metadata.legal_hold"): ("(no row)", False),
                ("aliases", f"{p}/m:prod", "row"): (f"v3 (id {ids[3]})", "(no row)"),
            }, named
            cli = _cli(db)
            assert cli.returncode == 1, (cli.stdout, cli.stderr)
            assert "4 table values the log does not vouch for" in cli.stderr, cli.stderr
            for text in (v1, "stage", "production", f"{p}/m:prod", "metadata.description"):
                assert text in cli.stderr, (text, cli.stderr)
            chain_only = _cli(db, "--chain-only")
            assert chain_only.returncode == 0 and "intact" in chain_only.stdout
            as_json = json.loads(_cli(db, "--json").stdout)
            assert not as_json["ok"] and as_json["tables"]["differences"] == 4
        finally:
            await conn.execute("UPDATE versions SET stage = 'staging', metadata = $2::jsonb"
                               " WHERE id = $1", ids[1], meta)
            await conn.execute("INSERT INTO aliases VALUES ($1, $2, $3, $4)", *prod.values())
        assert (await verify(db)).ok
    finally:
        await conn.close()


async def test_hand_edits_of_edits_verdicts_and_files_are_named(
    ledger: Service, cairn_env: dict[str, str], namespace: Namespace
) -> None:
    """The tables a revert, a gate or a pull reads from: metadata_edits.previous (a revert
    applies it), a file's sha256, a link added by hand, a verdict row nobody recorded."""
    db = namespace.database_url
    p = await _history(cairn_env, db)
    conn = await asyncpg.connect(db)
    try:
        ids = {r["version_number"]: r["id"] for r in await conn.fetch(
            "SELECT v.id, v.version_number FROM versions v JOIN artifacts a ON a.id ="
            " v.artifact_id WHERE a.project = $1 AND a.name = 'm'", p)}
        v1, v2 = ids[1], ids[2]
        previous = await conn.fetchval("SELECT previous FROM metadata_edits WHERE version_id = $1"
                                       " AND reverts IS NULL", v2)
        files = await conn.fetch("SELECT path, sha256 FROM files WHERE version_id = $1", v1)
        async with conn.transaction():
            await conn.execute("UPDATE metadata_edits SET previous = '{\"description\": \"x\","
                               " \"tags\": []}' WHERE version_id = $1 AND reverts IS NULL", v2)
            await conn.execute("UPDATE files SET sha256 = repeat('0', 64) WHERE version_id = $1",
                               v1)
            await conn.execute("INSERT INTO links (source_version_id, relation, target_ref,"
                               " created_seq) VALUES ($1, 'evaluates', 'x/y@v1', 1)", v1)
            await conn.execute("INSERT INTO verdicts VALUES ($1, 'schema', 'passed', '[]', 1)",
                               v1)
        report = await verify(db)
        assert report.chain.ok and report.state is not None
        tables = {(d.table, d.column) for d in report.state.differences}
        assert tables == {("metadata_edits", "previous"), ("files", "sha256"),
                          ("links", "row"), ("verdicts", "row")}, report.state.differences
    finally:  # undo the edits: later tests of this run verify the same database
        async with conn.transaction():
            await conn.execute("UPDATE metadata_edits SET previous = $2::jsonb"
                               " WHERE version_id = $1 AND reverts IS NULL", v2, previous)
            for f in files:
                await conn.execute("UPDATE files SET sha256 = $3 WHERE version_id = $1"
                                   " AND path = $2", v1, f["path"], f["sha256"])
            await conn.execute("DELETE FROM links WHERE source_version_id = $1"
                               " AND target_ref = 'x/y@v1'", v1)
            await conn.execute("DELETE FROM verdicts WHERE version_id = $1 AND seq = 1"
                               " AND check_name = 'schema'", v1)
        assert (await verify(db)).ok
        await conn.close()
