"""The validator's batch handler with hand-written fakes: a judge that answers fixed outcomes
and an emitter that collects events; no Kafka, no PostgreSQL."""

from __future__ import annotations

from typing import Any, cast

import pytest
from cairn.validator.app import judge_and_emit
from cairn.validator.checks import Outcome
from cairn.validator.judge import Judge
from cairn.validator.verdicts import Seen

from tests.unit.notifier_records import record


class FakeJudge:
    def __init__(self) -> None:
        self.judged: list[int] = []

    async def judge_all(self, states: list[dict[str, Any]]) -> list[list[Outcome]]:
        self.judged += [state["updated_seq"] for state in states]
        return [[Outcome("license", "passed"), Outcome("naming", "failed", ("bad name",))]
                for _ in states]


class Log:
    def info(self, what: str, **fields: Any) -> None:
        pass


class FakeEmitter:
    def __init__(self, fails: bool = False) -> None:
        self.calls: list[list[Any]] = []
        self.fails = fails

    async def __call__(self, *events: Any) -> None:
        if self.fails:
            raise ConnectionError("broker away")
        self.calls.append(list(events))


async def run(records: list[dict[str, Any]], seen: Seen, judge: FakeJudge,
              emit: FakeEmitter, prepared: list[list[int]] | None = None) -> None:
    async def current() -> Judge:
        return cast(Judge, judge)

    async def prepare(todo: list[Any]) -> list[Any]:  # the validator's reads from PostgreSQL
        assert prepared is not None
        prepared.append([r["seq"] for r in todo])
        return todo

    await judge_and_emit(records, seen=seen, projects=["val-*"], judge=current, emit=emit,
                         log=Log(), prepare=None if prepared is None else prepare)


async def test_wanted_versions_are_judged_once_and_their_verdicts_emitted_together() -> None:
    judge, emit, seen = FakeJudge(), FakeEmitter(), Seen()
    batch = [record(10, project="val-a"), record(11, project="other"),
             record(12, project="val-a", outcome="duplicate"), record(13, project="val-b"),
             record(13, project="val-b")]
    await run(batch, seen, judge, emit)
    assert judge.judged == [10, 13]
    assert len(emit.calls) == 1 and len(emit.calls[0]) == 2  # one event per version
    bodies = [e["payload"][1] for e in emit.calls[0]]
    assert [[(c["check"], c["status"]) for c in b["checks"]] for b in bodies] == \
        [[("license", "passed"), ("naming", "failed")]] * 2
    assert 10 in seen and 13 in seen and 11 not in seen
    await run([record(10, project="val-a")], seen, judge, emit)  # judged lately: skipped
    assert judge.judged == [10, 13] and len(emit.calls) == 1


async def test_a_failed_emit_leaves_the_versions_to_be_judged_again() -> None:
    judge, seen = FakeJudge(), Seen()
    with pytest.raises(ConnectionError):
        await run([record(10, project="val-a")], seen, judge, FakeEmitter(fails=True))
    assert 10 not in seen  # settle() redoes the batch: the judgement is repeated
    emit = FakeEmitter()
    await run([record(10, project="val-a")], seen, judge, emit)
    assert judge.judged == [10, 10] and len(emit.calls) == 1


async def test_only_a_batch_with_versions_to_judge_reads_postgresql() -> None:
    """Most changelog batches hold only VerdictSet records (the validator's own answers):
    those must cost no PostgreSQL round trip."""
    judge, emit, seen = FakeJudge(), FakeEmitter(), Seen()
    prepared: list[list[int]] = []
    await run([record(11, project="other"), record(12, "VerdictSet", project="val-a")], seen,
              judge, emit, prepared)
    assert prepared == [] and emit.calls == []
    await run([record(13, project="val-a"), record(14, project="other")], seen, judge, emit,
              prepared)
    assert prepared == [[13]] and judge.judged == [13]
    await run([record(13, project="val-a")], seen, judge, emit, prepared)  # judged lately
    assert prepared == [[13]]
