"""`Client.reproduce(ref, dir)`: a version's files and what remakes its environment.

    made = client.reproduce("vision/resnet50@v3", "repro/")   # files/, requirements.txt, ...
    client.environment_differences("vision/resnet50@v3")       # [] when this one matches

The files come through `Client.pull` (sha256-verified, counted as a download); the texts
are cairn.core.domain.reproduce's. The comparison captures this process's environment with
the SDK's own capture (the one a publish records), so like is compared with like.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.core.domain import reproduce as texts
from cairn.core.domain.reproduce import Difference
from cairn.sdk.environment import capture
from cairn.sdk.errors import translated

REQUIREMENTS = "requirements.txt"
FACTS = "reproduce.json"
README = "README.md"


@dataclass(frozen=True)
class Reproduced:
    """What `reproduce` wrote: the version, its pulled files and the written texts."""

    ref: str
    digest: str
    files: list[Path]
    written: list[Path]


class ReproduceCalls:
    """Client methods over the version reads and `pull` (the Client's own)."""

    if TYPE_CHECKING:
        def show(self, ref: str) -> dict[str, Any]: ...
        def pull(self, ref: str, dest: str | Path) -> list[Path]: ...

    @translated
    def reproduce(self, ref: str, dest: str | Path) -> Reproduced:
        """Pull the version's files into dest/files and write requirements.txt (pinned),
        reproduce.json (ids, git remote and commit, image digest, seeds) and README.md
        (the steps) in dest. The version is resolved once: an alias moving meanwhile
        cannot mix two versions."""
        detail = self.show(ref)
        exact = detail["ref"]
        root = Path(dest)
        files = self.pull(exact, root / texts.FILES_DIR)
        env = detail.get("environment") or {}
        written = {
            REQUIREMENTS: texts.requirements(env, exact),
            FACTS: json.dumps(texts.facts(detail), indent=2, sort_keys=True) + "\n",
            README: texts.readme(detail),
        }
        for name, text in written.items():
            (root / name).write_text(text, encoding="utf-8")
        return Reproduced(exact, detail["digest"], files, [root / n for n in written])

    @translated
    def environment_differences(self, ref: str) -> list[Difference]:
        """How this process's environment differs from the one `ref` was made in: the
        interpreter, then each package missing here, missing there or at another version."""
        captured = self.show(ref).get("environment") or {}
        return texts.differences(captured, capture())
