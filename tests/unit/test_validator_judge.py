"""A whole judgement with fakes at the edges, and the VerdictSet event it becomes."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
from cairn.core.adapters.blobstore import LocalBlobStore
from cairn.core.domain.derived_ids import derived_uuid7
from cairn.core.domain.events import payload_of
from cairn.ledger.verdicts import check_verdict_set
from cairn.validator.checks.lineage import LinkTarget
from cairn.validator.hooks import Plugin
from cairn.validator.judge import Judge
from cairn.validator.rules import default_dir
from cairn.validator.verdicts import Seen, verdict_event, wanted

DATA = b"weights"
BUILTIN = ["schema", "naming", "required", "license", "files", "lineage", "completeness"]


def state(project: str = "p", name: str = "m", **metadata: object) -> dict[str, object]:
    files = [{"path": "w.bin", "size": len(DATA), "sha256": hashlib.sha256(DATA).hexdigest(),
              "media_type": None}]
    content = {"kind": "model", "project": project, "name": name, "digest": "d" * 64,
               "files": files, "metadata": {"creator": "ana", "tags": [], "params": {},
                                            "metrics": {}, "seeds": {}, "data_splits": [],
                                            **metadata},
               "environment": {}, "links": [{"relation": "trained_on", "target": "p/d@v1",
                                             "external": None}],
               "stage": None, "extra": "{}"}
    return {"version_number": 1, "digest": "d" * 64, "content": content, "stage": None,
            "aliases": ["latest"], "status": "active", "validation": "pending",
            "completeness": None, "created_at": 0, "updated_seq": 7}


async def unresolved(project: str, name: str, digest: str) -> list[LinkTarget]:
    return [LinkTarget("trained_on", "p/d@v1", False)]


def judge(tmp_path: Path, plugins: list[tuple[str, Plugin | Exception]] | None = None
          ) -> Judge:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put([DATA])
    rules = tmp_path / "rules"
    (rules / "projects").mkdir(parents=True)
    (rules / "schemas").symlink_to(default_dir() / "schemas")
    (rules / "projects" / "p.toml").write_text('model_pattern = "{project}-{arch}-v{n}"\n')
    (rules / "projects" / "broken.toml").write_text("not = [toml\n")
    return Judge(rules, store, unresolved, httpx.AsyncClient(), plugins=plugins or [])


async def test_every_builtin_check_gives_one_outcome(tmp_path: Path) -> None:
    outcomes = await judge(tmp_path).judge(state(license="MIT"))
    by_check = {o.check: o for o in outcomes}
    assert [o.check for o in outcomes] == BUILTIN
    assert by_check["naming"].status == "failed"  # "m" is not p-<arch>-v<n>
    assert by_check["lineage"].status == "warning"
    assert by_check["completeness"].score is not None
    assert {by_check[c].status for c in ("schema", "required", "license", "files")} == \
        {"passed"}


async def test_a_broken_rules_file_is_a_config_verdict_and_the_rest_still_runs(
        tmp_path: Path) -> None:
    outcomes = await judge(tmp_path).judge(state(project="broken"))
    assert outcomes[0].check == "config" and "is not TOML" in outcomes[0].reasons[0]
    assert [o.check for o in outcomes[1:]] == BUILTIN


async def test_plugins_run_after_the_builtins(tmp_path: Path) -> None:
    plugins: list[tuple[str, Plugin | Exception]] = [
        ("owner", lambda s: ("warning", ["owner: no team"]))]
    outcomes = await judge(tmp_path, plugins).judge(state())
    assert (outcomes[-1].check, outcomes[-1].status) == ("owner", "warning")


async def test_a_batch_gets_each_versions_own_outcomes_in_order(tmp_path: Path) -> None:
    """judge_all reads the batch's blobs in one thread: each version still gets the outcomes
    it gets alone, in the batch's order."""
    missing = state(name="gone", license="MIT")
    cast(dict[str, Any], missing["content"])["files"] = [
        {"path": "x.bin", "size": 1, "sha256": "0" * 64, "media_type": None}]
    batch = [state(license="MIT"), missing, state(project="broken"), state(license="mit")]
    judging = judge(tmp_path)
    alone = [await judging.judge(s) for s in batch]
    assert await judging.judge_all(batch) == alone
    assert [next(o.status for o in found if o.check == "files") for found in alone] == \
        ["passed", "failed", "passed", "passed"]
    assert alone[2][0].check == "config" and alone[3][3].status == "warning"


async def test_a_judgement_is_one_checked_event_with_a_stable_id(tmp_path: Path) -> None:
    record = {"seq": 41, "recorded_at": 1_760_000_000_000, "outcome": "applied",
              "event": {"payload": ("dev.cairn.events.Published", {})}, "state": state()}
    outcomes = await judge(tmp_path).judge(record["state"])
    event = verdict_event(record, outcomes)
    assert event["event_id"] == verdict_event(record, outcomes)["event_id"]
    kind, body = payload_of(event)
    check_verdict_set(body)
    assert (kind, event["actor"], event["artifact"]) == ("VerdictSet", "validator", "p/m")
    assert body["version"] == "d" * 64
    assert [c["check"] for c in body["checks"]] == [o.check for o in outcomes]
    assert body["completeness"] == next(o.score for o in outcomes if o.check == "completeness")
    parsed = uuid.UUID(event["event_id"])
    assert parsed.version == 7 and parsed.int >> 80 == 1_760_000_000_000


def test_which_records_are_judged() -> None:
    def record(kind: str, outcome: str = "applied", project: str = "val-x") -> dict[str, object]:
        return {"outcome": outcome, "event": {"payload": (f"dev.cairn.events.{kind}", {})},
                "state": {"content": {"project": project}}}

    assert wanted(record("Published"), ["*"])
    assert wanted(record("MetadataEdited"), ["val-*"])
    assert not wanted(record("Published", "duplicate"), ["*"])
    assert not wanted(record("Verdict"), ["*"])  # never judge our own answers
    assert not wanted(record("VerdictSet"), ["*"])
    assert not wanted(record("StageChanged"), ["*"])
    assert not wanted(record("Published", project="other"), ["val-*", "team-*"])


def test_seen_forgets_the_oldest() -> None:
    seen = Seen(size=2)
    for seq in (1, 2, 3):
        seen.add(seq)
    assert 1 not in seen and 2 in seen and 3 in seen
    assert derived_uuid7(0, 1, "d", "a") != derived_uuid7(0, 1, "d", "b")
