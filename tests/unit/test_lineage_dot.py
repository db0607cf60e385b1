"""The lineage graph as Graphviz DOT: colours by kind, the focus outlined, facts in labels,
relations on edges, private versions as nameless grey placeholders, gone versions dashed."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
from cairn.core.domain.lineage_dot import FOCUS, KIND_COLOURS, REDACTED, quote, to_dot


def node(ref: str, kind: str = "dataset", **facts: Any) -> dict[str, Any]:
    return {"id": ref, "kind": kind, "stage": None, "status": "active",
            "validation": "pending", **facts}


GRAPH = {
    "root": "p/model@v2", "direction": "both", "depth": 3,
    "nodes": [node("p/model@v2", "model", stage="production", validation="valid"),
              node("p/data@v1", status="archived"),
              node("p/old@v1", status="deleted"),
              {"id": "redacted-1", "redacted": True, "distance": 1},
              {"id": "external:https://github.com/acme/train@4f2a9c1", "kind": "external",
               "url": "https://github.com/acme/train", "commit": "4f2a9c1",
               "external_kind": "code"},
              {"id": "unresolved:p/later@v3", "kind": "unresolved", "unresolved": True,
               "target_ref": "p/later@v3"},
              node("p/eval@v1", "eval_log")],
    "edges": [{"from": "p/model@v2", "to": "p/data@v1", "relation": "trained_on"},
              {"from": "p/model@v2", "to": "redacted-1", "relation": "fine_tuned_from"},
              {"from": "p/eval@v1", "to": "p/model@v2", "relation": "evaluates"},
              {"from": "p/model@v2", "to": "external:https://github.com/acme/train@4f2a9c1",
               "relation": "produced_by"},
              {"from": "p/model@v2", "to": "unresolved:p/later@v3", "relation": "trained_on"},
              {"from": "p/data@v1", "to": "p/old@v1", "relation": "derived_from"}],
}


def statement(dot: str, node_id: str) -> str:
    """The attribute list of one node's statement."""
    found = re.search(rf"^  {re.escape(quote(node_id))} \[(.*)\];$", dot, re.M)
    assert found, (node_id, dot)
    return found.group(1)


def test_nodes_are_coloured_by_kind_and_labelled_with_their_facts() -> None:
    dot = to_dot(GRAPH)
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    model = statement(dot, "p/model@v2")
    assert f'fillcolor="{KIND_COLOURS["model"][0]}"' in model
    assert 'label="p/model@v2\\nmodel · production · validation valid"' in model
    evaluation = statement(dot, "p/eval@v1")
    assert f'fillcolor="{KIND_COLOURS["eval_log"][0]}"' in evaluation
    assert 'label="p/eval@v1\\neval_log"' in evaluation  # pending validation says nothing
    code = statement(dot, "external:https://github.com/acme/train@4f2a9c1")
    assert 'shape="note"' in code and "https://github.com/acme/train @ 4f2a9c1" in code
    later = statement(dot, "unresolved:p/later@v3")
    assert "not recorded yet" in later and "dotted" in later
    other = to_dot({"root": "x", "nodes": [node("p/x@v1", "notebook")], "edges": []})
    assert 'fillcolor="#f3f4f6"' in other  # a kind added by configuration still draws


def test_only_the_focus_is_outlined() -> None:
    dot = to_dot(GRAPH)
    outlined = [n["id"] for n in GRAPH["nodes"]
                if f'penwidth="{FOCUS["penwidth"]}"' in statement(dot, n["id"])]
    assert outlined == ["p/model@v2"]
    assert 'label="lineage of p/model@v2 (both, depth 3)"' in dot


def test_archived_and_deleted_versions_are_dashed() -> None:
    dot = to_dot(GRAPH)
    assert "dashed" in statement(dot, "p/data@v1") and "archived" in statement(dot, "p/data@v1")
    assert "dashed" in statement(dot, "p/old@v1") and "deleted" in statement(dot, "p/old@v1")
    assert "dashed" not in statement(dot, "p/model@v2")


def test_redacted_nodes_are_grey_and_name_nothing() -> None:
    dot = to_dot(GRAPH)
    placeholder = statement(dot, "redacted-1")
    assert f'fillcolor="{REDACTED["fillcolor"]}"' in placeholder
    assert 'label="private"' in placeholder
    assert '"p/model@v2" -> "redacted-1" [label="fine_tuned_from"];' in dot


def test_edges_carry_their_relation() -> None:
    dot = to_dot(GRAPH)
    edges = re.findall(r'^  "([^"]+)" -> "([^"]+)" \[label="([^"]+)"\];$', dot, re.M)
    assert edges == [(e["from"], e["to"], e["relation"]) for e in GRAPH["edges"]]


def test_user_text_cannot_break_out_of_its_string() -> None:
    sneaky = 'https://x.org/"]; evil [label="boom'
    dot = to_dot({"root": "p/m@v1", "nodes": [
        node("p/m@v1", "model"),
        {"id": f"external:{sneaky}", "kind": "external", "url": sneaky, "commit": "a\\l\nb"}],
        "edges": [{"from": "p/m@v1", "to": f"external:{sneaky}", "relation": "uses"}]})
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', "S", dot)  # every quoted string as one token
    assert "evil" not in outside and "boom" not in outside
    assert re.findall(r"^  (S|S -> S) \[", outside, re.M) == ["S", "S", "S -> S"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_accepts_the_text() -> None:
    done = subprocess.run(["dot", "-Tsvg"], input=to_dot(GRAPH), capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "p/model@v2" in done.stdout and "fine_tuned_from" in done.stdout
