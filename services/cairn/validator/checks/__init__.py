"""Built-in checks: pure functions from what a version says to an Outcome.

Each check gets plain values (the version's content, the project's rules, facts an adapter
read), never a connection, so each one is unit-tested with literals. A version's Outcomes
become one VerdictSet event (an entry each in its `checks`); `reasons` holds one
human-readable sentence per problem, prefixed with what it is about ("license: missing
(required for every artifact)").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PASSED, FAILED, WARNING = "passed", "failed", "warning"


@dataclass(frozen=True)
class Outcome:
    check: str
    status: str  # passed | failed | warning
    reasons: tuple[str, ...] = ()
    score: float | None = None


def judged(check: str, problems: Iterable[str], when_any: str = FAILED,
           score: float | None = None) -> Outcome:
    """`passed` without problems, else `when_any` with one reason per problem."""
    reasons = tuple(problems)
    return Outcome(check, when_any if reasons else PASSED, reasons, score)
