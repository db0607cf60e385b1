"""Lineage targets resolvable: every link to another artifact points at a recorded version.

An unresolved link is a warning, not a failure: the ledger resolves it when the target
arrives (a model may be published before its dataset), but until then its lineage is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cairn.validator.checks import WARNING, Outcome, judged

CHECK = "lineage"


@dataclass(frozen=True)
class LinkTarget:
    relation: str
    target: str  # the reference as published: project/name@v1, :alias, sha256:…
    resolved: bool  # the ledger found the version it names


def check(links: Sequence[LinkTarget]) -> Outcome:
    return judged(CHECK, [f"lineage: {link.relation} → {link.target} does not resolve to a "
                          "version in Cairn (yet)" for link in links if not link.resolved],
                  when_any=WARNING)
