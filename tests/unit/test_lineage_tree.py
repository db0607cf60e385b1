"""`cairn lineage` draws the api's graph as a tree: shared nodes once, cycles cut, depth kept."""

from __future__ import annotations

from typing import Any

import pytest
from cairn.api.lineage import parse_params
from cairn.cli.lineage import tree
from cairn.core.domain.identity import InvalidInput
from rich.console import Console


def node(ref: str, kind: str = "dataset", **facts: Any) -> dict[str, Any]:
    return {"id": ref, "kind": kind, "stage": None, "status": "active",
            "validation": "pending", **facts}


def drawn(graph: dict[str, Any]) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(tree(graph))
    return console.export_text()


def graph(direction: str, depth: int, edges: list[tuple[str, str, str]],
          nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"root": nodes[0]["id"], "direction": direction, "depth": depth, "nodes": nodes,
            "edges": [{"from": a, "relation": r, "to": b} for a, r, b in edges]}


def test_diamond_is_drawn_once_and_cycles_are_cut() -> None:
    nodes = [node("p/eval@v1", "eval_log"), node("p/m1@v1", "model", stage="production"),
             node("p/m2@v1", "model"), node("p/data@v1")]
    text = drawn(graph("up", 5, [("p/eval@v1", "evaluates", "p/m1@v1"),
                                 ("p/eval@v1", "evaluates", "p/m2@v1"),
                                 ("p/m1@v1", "trained_on", "p/data@v1"),
                                 ("p/m2@v1", "trained_on", "p/data@v1"),
                                 ("p/data@v1", "derived_from", "p/eval@v1")], nodes))
    lines = text.splitlines()
    assert lines[0].startswith("p/eval@v1  eval_log")
    assert "evaluates p/m1@v1  model · production" in text
    assert text.count("trained_on p/data@v1") == 2
    assert text.count("derived_from p/eval@v1  eval_log  ↻ cycle") == 1  # under m1 only
    [again] = [line for line in lines if "(shown above)" in line]  # under m2: named, not redrawn
    assert "trained_on p/data@v1" in again


def test_depth_limits_the_tree_and_both_directions_get_a_branch_each() -> None:
    nodes = [node("p/m@v1", "model"), node("p/d@v1"), node("p/raw@v1"), node("p/e@v1", "eval_log"),
             {"id": "unresolved:p/x@v2", "kind": "unresolved", "unresolved": True,
              "target_ref": "p/x@v2"},
             {"id": "external:https://git.example/t@abc", "kind": "external",
              "url": "https://git.example/t", "commit": "abc", "external_kind": "code"}]
    edges = [("p/m@v1", "trained_on", "p/d@v1"), ("p/d@v1", "derived_from", "p/raw@v1"),
             ("p/e@v1", "evaluates", "p/m@v1"), ("p/m@v1", "trained_on", "unresolved:p/x@v2"),
             ("p/m@v1", "produced_by", "external:https://git.example/t@abc")]
    text = drawn(graph("both", 1, edges, nodes))
    assert "made from" in text and "used by" in text
    assert "trained_on p/d@v1" in text and "p/raw@v1" not in text  # depth 1
    assert "trained_on p/x@v2  not recorded yet" in text
    assert "produced_by https://git.example/t @ abc  external code" in text
    assert "evaluates p/e@v1  eval_log" in text
    assert "p/raw@v1" in drawn(graph("up", 2, edges, nodes))
    assert "nothing used by" in drawn(graph("down", 3, [], nodes[:1]))


@pytest.mark.parametrize("direction,depth,reason", [
    ("sideways", "3", "invalid_direction"), ("up", "0", "invalid_depth"),
    ("up", "11", "invalid_depth"), ("up", "-1", "invalid_depth"), ("up", "2.5", "invalid_depth"),
])
def test_bad_parameters_are_refused(direction: str, depth: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_params(direction, depth)
    assert err.value.reason == reason


def test_parameters_default_to_both_and_3() -> None:
    assert parse_params(None, None) == ("both", 3)
    assert parse_params("down", "10") == ("down", 10)
