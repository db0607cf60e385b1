"""What the hash-chained log says the tables must hold, and each row that holds otherwise.

Pure: `cairn.readmodel.state_check` streams the rows; this compares them. Every event_log entry
carries the state of its version right after the event (chain format 2 hashes it), so:

- a version's row (and its files and links) must equal its newest entry's state;
- an alias belongs where the entries, replayed in seq order, last put it (an entry lists the
  aliases its version holds at that seq, so one that gained an alias took it from the version
  that held it, and one that no longer lists an alias lost it);
- a verdict row is its version's newest verdict event for that check; a metadata_edits row is
  its MetadataEdited event, with `previous` as the version's metadata before it; a
  config_items row is its newest ConfigChanged event, checked as the ledger checks it.

A Difference names the table, the row's key, the column, and what the log expects vs what the
table holds; values are compared as canonical JSON (1 and 1.0, key order: the same).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.core.domain.chain import canonical

ABSENT = "(no row)"


@dataclass(frozen=True)
class Difference:
    table: str
    key: str
    column: str
    expected: Any
    found: Any

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "column": self.column,
                "expected": self.expected, "found": self.found}


def same(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)


def ref_of(state: Mapping[str, Any], version_id: int) -> str:
    content = state.get("content") or {}
    return f"{content.get('project')}/{content.get('name')}@v{state.get('version_number')}" \
           f" (id {version_id})"


# state field → the table.column a reader sees it in (aliases are compared on their own)
VERSION_FIELDS = {"version_number": "version_number", "digest": "digest", "stage": "stage",
                  "status": "status", "validation": "validation",
                  "completeness": "completeness", "created_at": "created_at",
                  "updated_seq": "updated_seq", "environment_digest": "environment_digest"}
CONTENT_FIELDS = {"kind": ("versions", "kind"), "project": ("artifacts", "project"),
                  "name": ("artifacts", "name"), "extra": ("versions", "extra")}


def version_differences(version_id: int, logged: Mapping[str, Any] | None,
                        found: Mapping[str, Any] | None,
                        born: tuple[int, str] | None = None,
                        created: tuple[int, str] | None = None) -> list[Difference]:
    """How a version's rows differ from its newest logged state. `born` is the (seq, actor)
    of the entry that published it, `created` the row's (created_seq, created_by)."""
    if logged is None:
        key = ref_of(found or {}, version_id)
        return [Difference("versions", key, "row", ABSENT + " in the log", "a row")]
    key = ref_of(logged, version_id)
    if found is None:
        return [Difference("versions", key, "row", "a row", ABSENT)]
    out = [Difference("versions", key, column, logged[f], found.get(f))
           for f, column in VERSION_FIELDS.items() if f in logged and not same(logged[f],
                                                                                found.get(f))]
    content, now = logged.get("content") or {}, found.get("content") or {}
    out += [Difference(table, key, column, content[f], now.get(f))
            for f, (table, column) in CONTENT_FIELDS.items()
            if f in content and not same(content[f], now.get(f))]
    for part in ("metadata", "environment"):
        if part in content:
            out += _mapping_differences("versions", key, part, content[part],
                                        now.get(part) or {})
    if "files" in content:
        out += _file_differences(key, content["files"], now.get("files") or [])
    if "links" in content:
        out += _link_differences(key, content["links"], now.get("links") or [])
    if born is not None and created is not None:
        out += [Difference("versions", key, column, want, have) for column, want, have in
                (("created_seq", born[0], created[0]), ("created_by", born[1], created[1]))
                if want != have]
    return out


def _mapping_differences(table: str, key: str, column: str, want: Mapping[str, Any],
                         have: Mapping[str, Any]) -> Iterator[Difference]:
    for k in sorted(set(want) | set(have)):
        if k not in have or k not in want or not same(want[k], have[k]):
            yield Difference(table, key, f"{column}.{k}", want.get(k, ABSENT),
                             have.get(k, ABSENT))


def _file_differences(key: str, want: list[Mapping[str, Any]], have: list[Mapping[str, Any]]
                      ) -> Iterator[Difference]:
    wanted, held = {f["path"]: f for f in want}, {f["path"]: f for f in have}
    for path in sorted(set(wanted) | set(held)):
        a, b = wanted.get(path), held.get(path)
        if a is None or b is None:
            yield Difference("files", f"{key} {path}", "row", "a row" if a else ABSENT,
                             "a row" if b else ABSENT)
            continue
        yield from (Difference("files", f"{key} {path}", c, a.get(c), b.get(c))
                    for c in ("size", "sha256", "media_type") if not same(a.get(c), b.get(c)))


def _link_differences(key: str, want: list[Mapping[str, Any]], have: list[Mapping[str, Any]]
                      ) -> Iterator[Difference]:
    wanted, held = sorted(map(canonical, want)), sorted(map(canonical, have))
    for text in sorted(set(wanted) | set(held)):
        if wanted.count(text) != held.count(text):
            yield Difference("links", key, "row", f"{wanted.count(text)} × {text}",
                             f"{held.count(text)} × {text}")


@dataclass
class Aliases:
    """Aliases replayed from the log: (artifact, alias) → (version id, version number, seq
    that set it). Fed every entry about a version, in seq order."""

    held: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)
    by_version: dict[int, set[tuple[str, str]]] = field(default_factory=dict)

    def step(self, seq: int, artifact: str, version_id: int, state: Mapping[str, Any],
             moved: str | None) -> None:
        """`moved`: the alias an applied AliasMoved entry set (set again on the same version,
        it still takes this seq)."""
        now = {(artifact, a) for a in state.get("aliases") or ()}
        for gone in self.by_version.get(version_id, set()) - now:  # removed from this version
            if self.held.get(gone, (None,))[0] == version_id:
                del self.held[gone]
        for key in now:
            holder = self.held.get(key)
            if holder is None or holder[0] != version_id or key[1] == moved:
                if holder is not None:
                    self.by_version.get(holder[0], set()).discard(key)
                self.held[key] = (version_id, state.get("version_number", 0), seq)
        self.by_version[version_id] = now

    def differences(self, found: list[tuple[str, str, int, int | None, int]]
                    ) -> list[Difference]:
        """`found`: (artifact, alias, version id, version number, updated_seq) of every row."""
        out, seen = [], set()
        for artifact, alias, version_id, number, updated in found:
            key, name = (artifact, alias), f"{artifact}:{alias}"
            seen.add(key)
            want = self.held.get(key)
            if want is None:
                out.append(Difference("aliases", name, "row", ABSENT, f"v{number} (id "
                                                                      f"{version_id})"))
            elif want[0] != version_id:
                out.append(Difference("aliases", name, "version_id",
                                      f"v{want[1]} (id {want[0]})",
                                      f"v{number} (id {version_id})"))
            elif want[2] != updated:
                out.append(Difference("aliases", name, "updated_seq", want[2], updated))
        out += [Difference("aliases", f"{a}:{al}", "row", f"v{v[1]} (id {v[0]})", ABSENT)
                for (a, al), v in sorted(self.held.items()) if (a, al) not in seen]
        return out


def row_differences(table: str, key: str, want: Mapping[str, Any] | None,
                    have: Mapping[str, Any] | None) -> list[Difference]:
    """A whole row against what the log expects of it, column by column."""
    if want is None or have is None:
        return [] if want is have else [Difference(table, key, "row",
                                                   "a row" if want else ABSENT,
                                                   "a row" if have else ABSENT)]
    return [Difference(table, key, c, want[c], have.get(c)) for c in want
            if not same(want[c], have.get(c))]
