"""Naming conventions: placeholders become regex groups; no pattern means no rule."""

from __future__ import annotations

import pytest
from cairn.validator.checks import naming

PATTERNS = {"model": "{project}-{arch}-v{n}", "dataset": "{project}-{dataset}-{split}-v{n}",
            "eval_log": "{project}-{arch}-v{n}-{stage}-{date}"}


@pytest.mark.parametrize(("kind", "name"), [
    ("model", "vision-resnet50-v2"),
    ("model", "vision-vit.small-v10"),
    ("dataset", "vision-imagenet-train-v1"),
    ("eval_log", "vision-resnet50-v3-prod-2026-01-31"),
    ("eval_log", "vision-resnet50-v3-staging-20260131"),
    ("eval_log", "vision-resnet50-v3-canary-20260131"),  # a stage of some project's ladder
])
def test_names_that_follow_the_convention_pass(kind: str, name: str) -> None:
    assert naming.check(name, "vision", kind, PATTERNS).status == "passed"


@pytest.mark.parametrize(("kind", "name"), [
    ("model", "resnet50"),  # no project prefix
    ("model", "nlp-resnet50-v2"),  # another project's prefix
    ("model", "vision-resnet50-vx"),  # {n} is digits
    ("model", "vision--v2"),  # {arch} cannot be empty
    ("eval_log", "vision-resnet50-v3-2026-01-31"),  # no stage
    ("eval_log", "vision-resnet50-v3-9th-2026-01-31"),  # a stage starts with a letter
])
def test_names_that_break_it_fail_with_the_pattern_and_an_example(kind: str, name: str) -> None:
    outcome = naming.check(name, "vision", kind, PATTERNS)
    assert outcome.status == "failed"
    [reason] = outcome.reasons
    assert reason.startswith(f"naming: {name!r} does not follow the {kind} convention")
    assert PATTERNS[kind] in reason and "vision-<arch>" in reason


def test_no_pattern_for_the_kind_passes() -> None:
    assert naming.check("anything", "vision", "model", {}).status == "passed"
    assert naming.check("anything", "vision", "model", {"dataset": "x-{n}"}).reasons == ()


def test_a_repeated_placeholder_must_repeat_the_same_text() -> None:
    patterns = {"model": "{arch}-{arch}"}
    assert naming.check("bert-bert", "p", "model", patterns).status == "passed"
    assert naming.check("bert-gpt", "p", "model", patterns).status == "failed"


def test_a_project_name_is_matched_literally() -> None:
    regex = naming.compile_pattern("{project}-{n}", "a.b")
    assert regex.fullmatch("a.b-1") and not regex.fullmatch("axb-1")


def test_a_broken_pattern_is_a_failed_verdict_that_says_so() -> None:
    outcome = naming.check("m", "p", "model", {"model": "{project-{n}"})
    assert outcome.status == "failed" and "is invalid" in outcome.reasons[0]
