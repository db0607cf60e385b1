"""One owner per table (issue 10): SQL against the ledger's tables lives in `cairn.ledger`
(its writes and its own checks) and `cairn.readmodel` (every read), nowhere else in services/.

The tables are the ones the ledger's migrations create. A statement is a string literal
(docstrings aside: they talk about tables) naming one of them after FROM, JOIN, INTO, UPDATE
or TABLE, in any case (SELECT, INSERT, UPDATE and DELETE all need one of those; prose in a
string literal saying "from versions" counts too: reword it). SQL built from a table name
held in a variable is not seen: nothing in services/ does that.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
MIGRATIONS = SERVICES / "cairn" / "ledger" / "migrations" / "versions"
OWNERS = ("cairn/ledger/", "cairn/readmodel/")
# Files still being moved into the read model, as paths under services/ (e.g.
# "cairn/api/reads.py"). Empty: every api, archiver, notifier and validator read went there.
# An entry whose file no longer holds SQL fails test_pending_files_still_hold_sql, so the
# list only shrinks.
PENDING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Hit:
    path: str  # under the scanned root, with /
    line: int
    table: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.table})"


def ledger_tables(migrations: Path = MIGRATIONS) -> frozenset[str]:
    """Every table a migration creates."""
    create = re.compile(r"CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)",
                        re.IGNORECASE)
    return frozenset(t.lower() for p in migrations.glob("*.py")
                     for t in create.findall(p.read_text()))


def statement(tables: frozenset[str]) -> re.Pattern[str]:
    names = "|".join(sorted(tables))
    return re.compile(rf"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+(?:ONLY\s+)?\"?({names})\b",
                      re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, kinds) and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def sql_in(source: str, path: str, pattern: re.Pattern[str]) -> list[Hit]:
    """Each string literal of `source` (docstrings aside) that names a table in SQL, at the
    line the table name is on."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) \
                or id(node) in docs:
            continue
        for found in pattern.finditer(node.value):
            segment = ast.get_source_segment(source, node) or ""
            raw = pattern.search(segment)  # where the table is in the source, across lines
            line = node.lineno + (segment[:raw.start(1)].count("\n") if raw else 0)
            hits.append(Hit(path, line, found.group(1).lower()))
    return sorted(set(hits), key=lambda h: (h.path, h.line, h.table))


def scan(root: Path, tables: frozenset[str]) -> list[Hit]:
    """Every hit in root/cairn/**/*.py, owners' files included."""
    pattern = statement(tables)
    return [hit for path in sorted(root.glob("cairn/**/*.py"))
            for hit in sql_in(path.read_text(), path.relative_to(root).as_posix(), pattern)]


@cache
def services_hits() -> tuple[Hit, ...]:
    """The scan of services/ (once per session: three tests read it)."""
    return tuple(scan(SERVICES, ledger_tables()))


def outside_owners(hits: Sequence[Hit]) -> list[Hit]:
    return [h for h in hits if not h.path.startswith(OWNERS)]


def test_the_tables_come_from_the_migrations() -> None:
    tables = ledger_tables()
    assert {"event_log", "versions", "artifacts", "config_items", "deliveries",
            "files", "links", "usage_counts"} <= tables


def test_no_sql_against_the_ledgers_tables_outside_the_ledger_and_the_read_model() -> None:
    strays = [h for h in outside_owners(services_hits()) if h.path not in PENDING]
    assert not strays, ("SQL against the ledger's tables outside cairn/ledger and "
                        "cairn/readmodel (move it into a cairn.readmodel function):\n"
                        + "\n".join(map(str, strays)))


def test_pending_files_still_hold_sql() -> None:
    with_sql = {h.path for h in services_hits()}
    stale = sorted(PENDING - with_sql)
    assert not stale, f"no SQL left in {stale}: remove them from PENDING"


def test_the_owners_are_scanned_too() -> None:
    """The scan reads the files it must: the owners hold the SQL, so it finds it there."""
    hits = services_hits()
    assert any(h.path.startswith("cairn/readmodel/") for h in hits)
    assert any(h.path.startswith("cairn/ledger/") for h in hits)


def test_a_query_put_back_in_a_router_is_named_with_its_line(tmp_path: Path) -> None:
    """A copy of services/cairn/api/routers/health.py and of a read-model module, each given
    a probe query: the router's is named (file and line of the table), the read model's is
    not, nor is a docstring that mentions a table."""
    tables = ledger_tables()
    router = tmp_path / "cairn" / "api" / "routers" / "health.py"
    router.parent.mkdir(parents=True)
    original = (SERVICES / "cairn" / "api" / "routers" / "health.py").read_text()
    router.write_text(original)
    assert scan(tmp_path, tables) == []
    lines = original.count("\n")
    router.write_text(original + '\n\ndef probe() -> str:\n    """Reads from versions."""\n'
                      '    return ("SELECT s.key FROM settings s"\n'
                      '            " join Event_Log e ON e.seq = s.seq")\n'
                      'MORE = f"""\nupdate versions SET x = {1}\n"""\n')
    readmodel = tmp_path / "cairn" / "readmodel" / "probe.py"
    readmodel.parent.mkdir(parents=True)
    readmodel.write_text('SQL = "SELECT * FROM versions"\n')
    assert [str(h) for h in outside_owners(scan(tmp_path, tables))] == [
        f"cairn/api/routers/health.py:{lines + 6} (event_log)",
        f"cairn/api/routers/health.py:{lines + 8} (versions)"]
