"""Turning `key=value` options into metadata, links and edits; pure, no network.

Each refusal says which option to fix and how, as a CairnError the command reports in one
line before anything is hashed or sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cairn.sdk.errors import CairnError

# The event types and lifecycle rules load when a command parses, not for `cairn --help`.
if TYPE_CHECKING:
    from cairn.core.domain.event_types import Link

EXTERNAL_PREFIXES = ("code:", "data:")
T = TypeVar("T")


def pairs(values: Iterable[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise CairnError("invalid_option", f"--{option} {value!r}: write it as key=value")
        out[key.strip()] = rest
    return out


def param_value(text: str) -> Any:
    """A JSON scalar when it reads as one (3, 0.1, true, null), else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, bool | int | float) else text


def params(values: Iterable[str] | None) -> dict[str, Any]:
    return {k: param_value(v) for k, v in pairs(values, "param").items()}


def typed(values: Iterable[str] | None, option: str, convert: Callable[[str], T], must: str,
          example: str) -> dict[str, T]:
    """`--option key=value` pairs whose values `convert` takes; one that it refuses is a line
    saying the value `must` be, with `example`, so every typed option refuses alike."""
    out: dict[str, T] = {}
    for key, text in pairs(values, option).items():
        try:
            out[key] = convert(text)
        except ValueError:
            raise CairnError("invalid_option", f"--{option} {key}={text!r}: a {option} must be "
                             f"{must}, e.g. --{option} {example}") from None
    return out


def metrics(values: Iterable[str] | None) -> dict[str, float]:
    return typed(values, "metric", float, "a number", "accuracy=0.91")


def seeds(values: Iterable[str] | None) -> dict[str, int]:
    return typed(values, "seed", int, "an integer", "torch=42")


def links(values: Iterable[str] | None) -> list[Link]:
    from cairn.core.domain import payloads

    """`relation=project/name@v1`, or `relation=code:<url>` / `relation=data:<url>`."""
    out = []
    for value in values or []:
        relation, sep, target = value.partition("=")
        if not sep or not relation or not target:
            raise CairnError("invalid_link", f"--link {value!r}: write it as relation=target, "
                             "e.g. --link trained_on=project/dataset@v1")
        if target.startswith(EXTERNAL_PREFIXES):
            kind, _, url = target.partition(":")
            out.append(payloads.link(relation, external={"kind": kind, "url": url}))
        else:
            out.append(payloads.link(relation, target))
    return out


def metadata(*, creator: str | None, tags: list[str] | None, param: list[str] | None,
             metric: list[str] | None, seed: list[str] | None, **text: str | None
             ) -> dict[str, Any]:
    """Metadata from publish options; options not given are left out (defaults apply)."""
    meta: dict[str, Any] = {k: v for k, v in text.items() if v is not None}
    if creator:
        meta["creator"] = creator
    if tags:
        meta["tags"] = list(tags)
    meta.update(params=params(param), metrics=metrics(metric), seeds=seeds(seed))
    return meta


def changes(*, tags: list[str] | None, card: str | None, **text: str | None) -> dict[str, Any]:
    """The fields an `edit` sets; at least one is needed."""
    out: dict[str, Any] = {k: v for k, v in text.items() if v is not None}
    if tags:
        out["tags"] = list(tags)
    if card is not None:
        try:
            with open(card, encoding="utf-8") as fh:
                out["card"] = fh.read()
        except OSError as exc:
            raise CairnError("invalid_option", f"--card {card}: cannot read it ({exc})") from None
    if not out:
        raise CairnError("empty_edit", "nothing to change: give --description, --tag, "
                         "--license, --owner-team, --data-source, --framework or --card")
    return out


GATE_FACTS = ("valid", "evaluation")


def lifecycle(current: dict[str, Any] | None, *, stages: str | None, gates: list[str] | None,
              protected_aliases: str | None) -> dict[str, Any] | None:
    """A project's `lifecycle` with the options applied over what it has, or None when no
    option was given. `--gate production=maintainer+valid+evaluation` sets one stage's gate
    (`--gate canary=none` removes it) beside the gates it has, the default one if it has none
    yet; the ledger checks the result (core.lifecycle_rules)."""
    if stages is None and not gates and protected_aliases is None:
        return None
    from cairn.core.domain.lifecycle_rules import DEFAULT_STAGES, default_gates

    out = dict(current or {})
    if stages is not None:
        out["stages"] = [s.strip() for s in stages.split(",") if s.strip()]
    if gates:
        merged = dict(out["gates"] if "gates" in out else
                      default_gates(out.get("stages") or DEFAULT_STAGES))
        for stage, spec in pairs(gates, "gate").items():
            if spec.strip() == "none":
                merged.pop(stage, None)
            else:
                merged[stage] = _gate(stage, spec)
        out["gates"] = merged
    if protected_aliases is not None:
        out["protected_aliases"] = [a.strip() for a in protected_aliases.split(",")
                                    if a.strip()]
    return out


def _gate(stage: str, spec: str) -> dict[str, Any]:
    role, *facts = [part.strip() for part in spec.split("+")]
    unknown = [f for f in facts if f not in GATE_FACTS]
    if not role or unknown:
        raise CairnError("invalid_option", f"--gate {stage}={spec}: write STAGE=ROLE[+valid]"
                         "[+evaluation], e.g. production=maintainer+valid+evaluation, or "
                         "STAGE=none to remove the gate")
    return {"role": role, **{f: f in facts for f in GATE_FACTS}}


def named_files(paths: list[str], directory: str | None) -> list[str] | dict[str, str]:
    """`cairn publish`'s PATH... as given, or, when every one reads NAME=PATH, a mapping from
    the name each gets in the version to a local file or directory anywhere (an absolute
    path too: `weights=/scratch/run-7/ckpt` publishes `weights/...`). A path that exists
    with '=' in its own name is a PATH."""
    base = Path(directory or ".")
    named = [p for p in paths if "=" in p and not (base / p).exists()]
    if not named:
        return paths
    if len(named) != len(paths):
        raise CairnError("invalid_option", "give every PATH as NAME=PATH, or none as NAME=PATH "
                         f"(named: {', '.join(named)})")
    mapping: dict[str, str] = {}
    for text in named:
        name, _, local = text.partition("=")
        if not name or not local:
            raise CairnError("invalid_option", f"{text!r}: write NAME=PATH, the name the files "
                             "get in the version and where they are here")
        if name in mapping:
            raise CairnError("invalid_option", f"{name!r} is named twice: name each once")
        mapping[name] = local
    return mapping

