"""The pure comparison behind `cairn audit verify`: the alias replay and row differences."""

from __future__ import annotations

from cairn.core.domain.rebuild import (
    ABSENT,
    Aliases,
    Difference,
    row_differences,
    version_differences,
)


def state(number: int, *aliases: str) -> dict[str, object]:
    return {"version_number": number, "aliases": list(aliases), "stage": None,
            "content": {"project": "p", "name": "m", "metadata": {"tags": []}, "files": [],
                        "links": []}}


def test_aliases_follow_the_log_through_moves_and_removals() -> None:
    replay = Aliases()
    replay.step(1, "p/m", 10, state(1, "latest"), None)
    replay.step(2, "p/m", 11, state(2, "latest"), None)           # latest moves to v2
    replay.step(3, "p/m", 10, state(1, "prod"), "prod")
    replay.step(4, "p/m", 11, state(2, "latest", "prod"), "prod")  # prod moves to v2
    replay.step(5, "p/m", 11, state(2, "latest"), None)           # and is removed there
    replay.step(6, "p/m", 10, state(1), None)                     # v1 never got it back
    assert replay.held == {("p/m", "latest"): (11, 2, 2)}
    assert replay.differences([("p/m", "latest", 11, 2, 2)]) == []
    assert replay.differences([("p/m", "latest", 10, 1, 2), ("p/m", "prod", 10, 1, 3)]) == [
        Difference("aliases", "p/m:latest", "version_id", "v2 (id 11)", "v1 (id 10)"),
        Difference("aliases", "p/m:prod", "row", ABSENT, "v1 (id 10)")]


def test_values_compare_as_json_and_each_column_is_named() -> None:
    logged = {**state(1), "completeness": 1.0}
    found = {**state(1), "completeness": 1, "stage": "production"}
    found["content"] = {**logged["content"], "metadata": {"tags": [], "legal_hold": False}}
    assert version_differences(7, logged, found) == [
        Difference("versions", "p/m@v1 (id 7)", "stage", None, "production"),
        Difference("versions", "p/m@v1 (id 7)", "metadata.legal_hold", ABSENT, False)]
    assert version_differences(7, None, found)[0].column == "row"
    assert row_differences("verdicts", "k", None, None) == []
