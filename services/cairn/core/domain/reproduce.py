"""What `cairn reproduce` writes and compares, from a version's captured environment. Pure.

The SDK captured Python, packages, git state and the container image digest at publish
time (cairn.sdk.environment); the seeds are metadata. From them: a pinned requirements file,
the facts to check out the code, a README with the steps, and the differences between that
environment and another one (the one running now), package by package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PYTHON = "python"  # the row of the differences that compares interpreters, not packages
FILES_DIR = "files"  # the version's files go under DIR/files, beside what is written here


@dataclass(frozen=True)
class Difference:
    """One package (or the interpreter) whose version differs; None: not installed there."""

    package: str
    captured: str | None
    here: str | None


def canonical(name: str) -> str:
    """PEP 503's normalized name: `Typing_Extensions` and `typing-extensions` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def differences(captured: Mapping[str, Any], here: Mapping[str, Any]) -> list[Difference]:
    """The interpreter first (when it differs), then every package that is missing on one
    side or pinned differently, by name."""
    found = []
    if (captured.get("python") or None) != (here.get("python") or None):
        found.append(Difference(PYTHON, captured.get("python"), here.get("python")))
    mine = {canonical(k): (k, v) for k, v in (captured.get("packages") or {}).items()}
    theirs = {canonical(k): (k, v) for k, v in (here.get("packages") or {}).items()}
    for key in sorted(mine.keys() | theirs.keys()):
        was, now = mine.get(key), theirs.get(key)
        if (was and was[1]) != (now and now[1]):
            name = (was or now or (key, None))[0]
            found.append(Difference(name, was[1] if was else None, now[1] if now else None))
    return found


def requirements(environment: Mapping[str, Any], ref: str) -> str:
    """`name==version` for every captured package, sorted, under a comment naming the
    version and its interpreter (pip and `uv pip` read it as is)."""
    lines = [f"# the packages {ref} was made with (cairn reproduce)"]
    if environment.get("python"):
        lines.append(f"# python {environment['python']}")
    packages = environment.get("packages") or {}
    lines += [f"{name}=={packages[name]}" for name in sorted(packages, key=canonical)]
    return "\n".join(lines) + "\n"


def facts(detail: Mapping[str, Any]) -> dict[str, Any]:
    """What reproduce.json keeps: the version's ids, how to get its code and interpreter,
    its seeds."""
    env = detail.get("environment") or {}
    return {
        "ref": detail.get("ref"), "digest": detail.get("digest"),
        "python": env.get("python"), "os": env.get("os"),
        "git_remote": env.get("git_remote"), "git_commit": env.get("git_commit"),
        "git_dirty": env.get("git_dirty"),
        "container_image_digest": env.get("container_image_digest"),
        "seeds": dict((detail.get("metadata") or {}).get("seeds") or {}),
    }


def readme(detail: Mapping[str, Any]) -> str:
    """The exact steps, in the order they are run, with the facts filled in."""
    f = facts(detail)
    python = f["python"] or "3"
    short = ".".join(python.split(".")[:2])
    lines = [f"# Reproducing {f['ref']}", "",
             f"Version digest `{f['digest']}`. Its files, sha256-verified, are in "
             f"`{FILES_DIR}/`; `reproduce.json` holds the facts below.", "", "## Steps", ""]
    step = 0

    def add(text: str) -> None:
        nonlocal step
        step += 1
        lines.append(f"{step}. {text}")

    if f["container_image_digest"]:
        add(f"Run inside the container image `{f['container_image_digest']}` "
            f"(`docker run -it --rm <image>@{f['container_image_digest']}`).")
    if f["git_remote"] and f["git_commit"]:
        add(f"Get the code: `git clone {f['git_remote']} src && git -C src checkout "
            f"{f['git_commit']}`.")
        if f["git_dirty"]:
            lines.append("   The working tree had uncommitted changes when this version was "
                         "made: the commit alone may not be the exact code.")
    elif f["git_commit"]:
        add(f"Get the code at commit `{f['git_commit']}` (no remote was captured).")
    else:
        add("No git state was captured: find the code that made this version by other means.")
    add(f"Make an environment with Python {python}: `uv venv --python {python} .venv` "
        f"(or `python{short} -m venv .venv`).")
    add("Install the pinned packages: `uv pip install --python .venv -r requirements.txt` "
        "(or `.venv/bin/pip install -r requirements.txt`).")
    if f["seeds"]:
        seeds = ", ".join(f"{k}={v}" for k, v in sorted(f["seeds"].items()))
        add(f"Use the same seeds: {seeds}.")
    add(f"Check the environment: `cairn reproduce {f['ref']} --check` run with `.venv`'s "
        "Python lists any package that still differs (exit 1).")
    return "\n".join(lines) + "\n"
