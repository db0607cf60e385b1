"""The archiver's tick and its placing of a changelog batch, with hand-written fakes: no Kafka,
no PostgreSQL, no blob tiers; a fixed clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cairn.archiver import schedule
from cairn.core.domain.retention import Plan, Step, VersionFacts

from tests.unit.notifier_records import record

NOW = 1_800_000_000.0


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, what: str, **fields: Any) -> None:
        self.lines.append(("info", what, fields))

    def error(self, what: str, **fields: Any) -> None:
        self.lines.append(("error", what, fields))

    def errors(self) -> list[tuple[str, dict[str, Any]]]:
        return [(what, fields) for level, what, fields in self.lines if level == "error"]


def step(artifact: str, number: int, action: str = "archive") -> Step:
    facts = VersionFacts(id=number, artifact=artifact, number=number, digest=f"{number:064x}",
                         kind="model", stage=None, status="active", created_at=0)
    return Step(facts, action, "old", "older than 30 days")


class Fakes:
    """The tick's world: stored policies, their plans, what was emitted, trashed and placed."""

    def __init__(self, plans: Mapping[str, Plan], trashed: Sequence[str] = (),
                 emit_fails: bool = False) -> None:
        self.plans, self.trashed, self.emit_fails = plans, list(trashed), emit_fails
        self.journal: list[tuple[str, Any]] = []
        self.log = Log()

    async def policies(self) -> list[dict[str, Any]]:
        return [{"project": p, "policy": {"rules": []}} for p in self.plans]

    async def plan(self, project: str, policy: dict[str, Any]) -> Plan:
        return self.plans[project]

    async def emit(self, *events: Any) -> None:
        if self.emit_fails:
            raise ConnectionError("broker away")
        self.journal.append(("emit", len(events)))

    def purgeable(self, now: float) -> Iterable[str]:
        self.journal.append(("purgeable", now))
        return iter(self.trashed)

    async def place(self, digests: Iterable[str], purge: bool) -> dict[str, str]:
        wanted = sorted(digests)
        self.journal.append(("place", (wanted, purge)))
        return dict.fromkeys(wanted, "purged" if purge else "archived")

    def ports(self) -> schedule.Ports:
        return schedule.Ports(self.policies, self.plan, self.emit, self.purgeable, self.place,
                              lambda: NOW, self.log)


def test_the_tick_runs_every_interval_and_not_at_all_for_zero() -> None:
    assert schedule.every(3) == 3
    assert schedule.every(0) is None


async def test_a_tick_requests_each_projects_plan_then_purges_the_old_trash() -> None:
    fakes = Fakes({"vision": Plan(steps=[step("vision/a", 1), step("vision/a", 2, "delete")]),
                   "quiet": Plan(),  # nothing to do: nothing emitted
                   "nlp": Plan(steps=[step("nlp/b", 1)], protected=[step("nlp/b", 2)])},
                  trashed=["cc" * 32])
    done = await schedule.scheduled(fakes.ports())
    assert done is not None
    assert fakes.journal == [("emit", 2), ("emit", 1), ("purgeable", NOW),
                             ("place", (["cc" * 32], True))]
    assert {p: len(events) for p, events in done.requested.items()} == {
        "vision": 2, "quiet": 0, "nlp": 1}
    assert done.purged == {"cc" * 32: "purged"}
    runs = [f for _, what, f in fakes.log.lines if what == "retention run"]
    assert [(r["project"], r["requested"], r["protected"]) for r in runs] == [
        ("vision", 2, 0), ("quiet", 0, 0), ("nlp", 1, 1)]


async def test_a_tick_sweeps_abandoned_uploads_and_logs_them() -> None:
    swept: list[float] = []
    fakes = Fakes({})
    ports = dataclasses.replace(fakes.ports(), sweep=lambda now: (swept.append(now),
                                                                  ["uploads/x"])[1])
    assert await schedule.scheduled(ports) is not None
    assert swept == [NOW]
    assert [f["count"] for _, what, f in fakes.log.lines
            if what == "abandoned uploads removed"] == [1]


async def test_a_failed_tick_is_logged_purges_nothing_and_does_not_raise() -> None:
    fakes = Fakes({"vision": Plan(steps=[step("vision/a", 1)])}, trashed=["cc" * 32],
                  emit_fails=True)
    assert await schedule.scheduled(fakes.ports()) is None
    assert fakes.journal == []  # requests not acknowledged: the trash waits for the next tick
    assert [what for what, _ in fakes.log.errors()] == ["retention run failed"]


def with_files(rec: dict[str, Any], *digests: str) -> dict[str, Any]:
    rec["state"]["content"]["files"] = [{"sha256": d} for d in digests]
    return rec


async def test_a_changelog_batch_places_the_blobs_of_moved_and_published_versions() -> None:
    moved, published, shared = "a1" * 32, "b2" * 32, "c3" * 32
    records = [
        with_files(record(10, "LifecycleRequested", body={"action": "archive"}), moved, shared),
        with_files(record(11), published, shared),
        with_files(record(12, "MetadataEdited", body={}), "d4" * 32),  # no blob moves
        with_files(record(13, outcome="duplicate"), "e5" * 32),  # not applied
    ]
    placed: list[tuple[list[str], bool]] = []

    async def place(digests: Iterable[str], purge: bool) -> dict[str, str]:
        placed.append((sorted(digests), purge))
        return {moved: "missing", published: "missing", shared: "corrupted"}

    log = Log()
    await schedule.place_changed(records, place, log)
    assert placed == [(sorted([moved, published, shared]), False)]
    # a moved version's missing blob is a problem; a published one's is the validator's
    assert sorted((f["sha256"], f["problem"]) for _, f in log.errors()) == sorted(
        [(moved, "missing"), (shared, "corrupted")])


def test_problems_are_corrupted_blobs_and_missing_ones_that_were_expected() -> None:
    done = {"a": "archived", "b": "missing", "c": "missing", "d": "corrupted"}
    assert schedule.problems(done, {"b"}) == [("b", "missing"), ("d", "corrupted")]
