"""The compare page's table: two or more versions side by side, section by section (summary,
metrics, params, files, environment), each row marked when its values differ. Pure: version
details in, rows out; the page (cairn.api.ui.pages) reads the details as the version page
does, with the same redaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_COMPARED = 6
SUMMARY = ("kind", "stage", "validation", "status", "created_at", "created_by", "digest")


@dataclass(frozen=True)
class Row:
    key: str
    cells: list[Any]  # one per version; None where that version has no value

    @property
    def differs(self) -> bool:
        return len({repr(c) for c in self.cells}) > 1


@dataclass(frozen=True)
class Section:
    title: str
    rows: list[Row]

    @property
    def differing(self) -> int:
        return sum(r.differs for r in self.rows)


def _rows(maps: Sequence[Mapping[str, Any]], keys: Iterable[str] | None = None,
          cell: Callable[[Any], Any] = lambda x: x) -> list[Row]:
    """One row per key any version has (or per `keys`, in that order)."""
    names = list(keys) if keys is not None else sorted(
        {k for m in maps for k in m}, key=str.lower)
    return [Row(k, [cell(m[k]) if k in m else None for m in maps]) for k in names]


def _files(detail: Mapping[str, Any]) -> dict[str, str]:
    return {f["path"]: f"{f['sha256'][:12]} · {f['size']} B" for f in detail["files"]}


def _packages(detail: Mapping[str, Any]) -> dict[str, Any]:
    found = (detail.get("environment") or {}).get("packages") or {}
    return dict(found) if isinstance(found, Mapping) else {str(p): "" for p in found}


def sections(details: Sequence[Mapping[str, Any]]) -> list[Section]:
    """Summary, metrics, params, files, environment facts; packages only where they differ
    (a shared list of 200 says nothing)."""
    meta = [d.get("metadata") or {} for d in details]
    env = [{k: v for k, v in (d.get("environment") or {}).items() if k != "packages"}
           for d in details]
    packages = [r for r in _rows([_packages(d) for d in details]) if r.differs]
    summary = [{**d, "created_at": str(d["created_at"])[:19].replace("T", " ")}
               for d in details]
    return [
        Section("Summary", _rows(summary, SUMMARY)),
        Section("Metrics", _rows([m.get("metrics") or {} for m in meta])),
        Section("Params", _rows([m.get("params") or {} for m in meta])),
        Section("Files", _rows([_files(d) for d in details])),
        Section("Environment", _rows(env)),
        Section("Packages that differ", packages),
    ]
