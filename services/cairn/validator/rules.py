"""Per-project validation rules, read from the repo's `validation/` directory.

    validation/schemas/{kind}.schema.json      the default JSON Schema of each kind
    validation/projects/{project}.toml         optional, per project:
        model_pattern = "{project}-{arch}-v{n}"          # {kind}_pattern: naming convention
        [schemas]  model = "schemas/vision-model.schema.json"   # relative to validation/
        [[hooks]]  name = "bias-audit"  url = "https://…"  timeout_s = 5  retries = 2

Files are read on every judgement (they are small), so a changed rule applies to the next
version without a restart. A broken file is a ConfigError, which the judge reports as a
failed `config` verdict instead of stopping the pipeline.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from stat import S_ISREG
from typing import Any

BUILTIN = ("schema", "naming", "required", "license", "files", "lineage", "completeness",
           "config")
HOOK_KEYS = {"name", "url", "timeout_s", "retries"}


class ConfigError(ValueError):
    """A rules file that cannot be used; the message says which file and what to fix."""


@dataclass(frozen=True)
class Hook:
    name: str  # the verdict's check name
    url: str
    timeout_s: float = 5.0
    retries: int = 2  # attempts after the first


@dataclass(frozen=True)
class Rules:
    project: str
    patterns: dict[str, str] = field(default_factory=dict)  # kind → naming pattern
    schemas: dict[str, str] = field(default_factory=dict)  # kind → schema file
    hooks: tuple[Hook, ...] = ()


def default_dir() -> Path:
    """The repo's validation/ (a source checkout), else ./validation (an installed image)."""
    here = Path(__file__).resolve().parents[3] / "validation"
    return here if here.is_dir() else Path.cwd() / "validation"


def load_rules(root: Path, project: str) -> Rules:
    path = root / "projects" / f"{project}.toml"
    try:
        stat = path.stat()
    except OSError:
        return Rules(project)
    if not S_ISREG(stat.st_mode):
        return Rules(project)
    return _parsed_rules(path, project, (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size,
                                         stat.st_ino))


@lru_cache(maxsize=256)
def _parsed_rules(path: Path, project: str, version: tuple[int, ...]) -> Rules:
    """Parsed once per file version (its times, size and inode are the cache key), so a
    changed file still applies to the next judgement; a broken one raises every time."""
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"projects/{project}.toml is not TOML: {exc}") from exc
    return parse_rules(project, data, f"projects/{project}.toml")


def parse_rules(project: str, data: dict[str, Any], where: str) -> Rules:
    patterns = {k.removesuffix("_pattern"): v for k, v in data.items() if k.endswith("_pattern")}
    unknown = set(data) - {f"{k}_pattern" for k in patterns} - {"schemas", "hooks"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))} (use "
                          "<kind>_pattern, [schemas], [[hooks]])")
    schemas = data.get("schemas", {})
    texts = [*patterns.values(), *(schemas.values() if isinstance(schemas, dict) else [1])]
    if not all(isinstance(v, str) for v in texts):
        raise ConfigError(f"{where}: patterns and [schemas] entries must be strings")
    return Rules(project, patterns, dict(schemas), tuple(_hook(h, where) for h in
                                                         data.get("hooks", [])))


def _hook(raw: Any, where: str) -> Hook:
    if not isinstance(raw, dict) or not {"name", "url"} <= set(raw) or set(raw) - HOOK_KEYS:
        raise ConfigError(f"{where}: each [[hooks]] needs name and url, and may have "
                          f"timeout_s and retries; got {raw!r}")
    if raw["name"] in BUILTIN:
        raise ConfigError(f"{where}: hook name {raw['name']!r} is a built-in check's name")
    try:
        hook = Hook(str(raw["name"]), str(raw["url"]), float(raw.get("timeout_s", 5.0)),
                    int(raw.get("retries", 2)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: hook {raw['name']!r}: {exc}") from exc
    if hook.timeout_s <= 0 or not 0 <= hook.retries <= 10:
        raise ConfigError(f"{where}: hook {hook.name!r}: timeout_s must be > 0 and retries "
                          "0-10")
    return hook


def load_schema(root: Path, rules: Rules, kind: str) -> tuple[dict[str, Any] | None, str]:
    """(the kind's JSON Schema or None, its file relative to root). A project's override
    must exist; a kind without a default schema is simply not checked."""
    name = rules.schemas.get(kind, f"schemas/{kind}.schema.json")
    path = Path(os.path.normpath(root / name))  # lexical: a symlinked schemas/ is fine
    if not path.is_relative_to(os.path.normpath(root)):
        raise ConfigError(f"projects/{rules.project}.toml: schema {name!r} is outside the "
                          "validation directory")
    if not path.is_file():
        if kind in rules.schemas:
            raise ConfigError(f"projects/{rules.project}.toml: schema file {name!r} not found")
        return None, name
    return _read_json(path, path.stat().st_mtime_ns), name


@lru_cache(maxsize=64)
def _read_json(path: Path, mtime_ns: int) -> dict[str, Any]:
    """Parsed once per file version (the mtime is part of the cache key)."""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{path.name} must be a JSON object")
    return value
