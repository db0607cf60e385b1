"""Metadata completeness: the share of recommended fields a version fills, in [0, 1].

A warning lists what is missing, so teams can review metadata quality without blocking
anything: an incomplete version is still valid. Search filters and sorts on the score.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.validator.checks import WARNING, Outcome, judged
from cairn.validator.checks.required import present

CHECK = "completeness"
FOR_ALL = ("description", "license", "owner_team", "tags", "params", "metrics", "seeds",
           "data_splits")
BY_KIND = {"model": ("framework",), "dataset": ("data_source", "preprocessing")}


def recommended(kind: str) -> tuple[str, ...]:
    return FOR_ALL + BY_KIND.get(kind, ())


def check(kind: str, metadata: Mapping[str, Any]) -> Outcome:
    fields = recommended(kind)
    missing = [f for f in fields if not present(metadata.get(f))]
    score = round((len(fields) - len(missing)) / len(fields), 4)
    problems = [f"completeness: {score:.2f}, missing {', '.join(missing)}"] if missing else []
    return judged(CHECK, problems, when_any=WARNING, score=score)
