"""Required fields: what every version must say, and what each kind must say besides.

Creator and license for all; where the data came from and how it was prepared for datasets;
lineage that makes a model or an evaluation reproducible (`trained_on`, `evaluates`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cairn.validator.checks import Outcome, judged

CHECK = "required"
FOR_ALL = ("creator", "license")
BY_KIND = {"dataset": ("data_source", "preprocessing")}
LINKS = {"model": ("trained_on", "the dataset it was trained on"),
         "eval_log": ("evaluates", "the model it evaluates")}
PLURAL = {"model": "models", "dataset": "datasets", "eval_log": "eval logs"}


def present(value: Any) -> bool:
    """Given and not blank: an empty string, list or mapping says nothing."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict | tuple):
        return bool(value)
    return value is not None


def check(kind: str, metadata: Mapping[str, Any], links: Sequence[Mapping[str, Any]]
          ) -> Outcome:
    plural = PLURAL.get(kind, f"{kind}s")
    problems = [f"{field}: missing (required for every artifact)"
                for field in FOR_ALL if not present(metadata.get(field))]
    problems += [f"{field}: missing (required for {plural})"
                 for field in BY_KIND.get(kind, ()) if not present(metadata.get(field))]
    if kind in LINKS:
        relation, what = LINKS[kind]
        if not any(link.get("relation") == relation for link in links):
            problems.append(f"{relation}: no link to {what} (required for {plural})")
    return judged(CHECK, problems)
