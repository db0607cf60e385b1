"""Write the README's "Error codes" table from cairn.core.domain.error_codes, the one list of codes.

A unit test (tests/unit/test_error_codes.py) fails when the README's table is stale: run
`python scripts/error_codes.py` after changing the registry.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services"))

from cairn.core.domain.error_codes import CODES, FAMILIES, ErrorCode  # noqa: E402

README = ROOT / "README.md"
START, END = "<!-- error-codes:start -->", "<!-- error-codes:end -->"


def _row(code: str, c: ErrorCode) -> str:
    status = "—" if c.status is None else str(c.status)
    meaning = c.meaning + (f" (answered as `{c.answered_as}`)" if c.answered_as else "")
    return f"| `{code}` | {status} | {c.where} | {meaning.replace('|', '/')} |"


def render() -> str:
    """The table, between its markers."""
    rows = [_row(code, c) for code, c in CODES.items()]
    rows += [_row(f"{prefix}<status>", c) for prefix, c in FAMILIES.items()]
    return "\n".join([START, "| code | status | where | meaning |", "|---|---|---|---|",
                      *rows, END])


def updated(readme: str) -> str:
    """`readme` with its table replaced by `render()`."""
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return head + render() + tail


if __name__ == "__main__":
    README.write_text(updated(README.read_text()))
