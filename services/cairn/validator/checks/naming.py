"""The project's naming convention: a pattern per kind whose placeholders become regex groups.

`{project}` is the project's own name, `{n}`/`{version}` digits, `{date}` YYYYMMDD or
YYYY-MM-DD, `{stage}` any stage name a project may put on its ladder (which stages exist is
the ledger's to check; `dev`, `prod` and the like stay usable); any other placeholder
(`{arch}`, `{dataset}`, `{split}`) is one name-like word. The whole name must match; without
a pattern the check passes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cairn.core.domain.identity import STAGE_PATTERN
from cairn.validator.checks import FAILED, Outcome, judged

CHECK = "naming"
WORD = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?"
FIXED = {
    "n": r"\d+",
    "version": r"\d+",
    "date": r"\d{4}-?\d{2}-?\d{2}",
    "stage": STAGE_PATTERN,
}
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def compile_pattern(pattern: str, project: str) -> re.Pattern[str]:
    """The regex of a pattern; ValueError when its braces are not placeholders."""
    out, pos, seen = [], 0, set()
    for match in _PLACEHOLDER.finditer(pattern):
        out.append(_literal(pattern[pos:match.start()]))
        name = match.group(1)
        if name == "project":
            out.append(re.escape(project))
        elif name in seen:  # the same placeholder twice means the same text twice
            out.append(f"(?P={name})")
        else:
            seen.add(name)
            out.append(f"(?P<{name}>{FIXED.get(name, WORD)})")
        pos = match.end()
    out.append(_literal(pattern[pos:]))
    return re.compile("".join(out))


def _literal(text: str) -> str:
    if "{" in text or "}" in text:
        raise ValueError(f"stray brace in {text!r}: placeholders look like {{name}}")
    return re.escape(text)


def check(name: str, project: str, kind: str, patterns: Mapping[str, str]) -> Outcome:
    pattern = patterns.get(kind)
    if not pattern:
        return judged(CHECK, ())
    try:
        regex = compile_pattern(pattern, project)
    except (ValueError, re.error) as exc:
        return Outcome(CHECK, FAILED, (f"naming: the {kind} pattern {pattern!r} of project "
                                       f"{project} is invalid: {exc}",))
    if regex.fullmatch(name):
        return judged(CHECK, ())
    example = _PLACEHOLDER.sub(lambda m: project if m.group(1) == "project"
                              else f"<{m.group(1)}>", pattern)
    return judged(CHECK, [f"naming: {name!r} does not follow the {kind} convention "
                          f"{pattern!r} of project {project} (e.g. {example})"])
