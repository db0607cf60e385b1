"""What a caller may see: projects' access settings, the private projects hidden from a
caller, and redaction of what names them in answers about visible things.

Search and suggestions exclude hidden projects in the engine query itself (so hits, facet
counts and suggestions never count them), and search every dataset `unseen` names by the same
rule (cairn.search.query.dataset_seen); lineage graphs (cairn.api.lineage, whose walk ends
there) and a version's links show what the caller may not see as `{"redacted": true}`,
without its name, and a link to a project that does not exist just the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Any, Self

from cairn.core.domain.access import Principal, Project, can_see
from cairn.core.domain.identity import InvalidInput, parse_ref
from cairn.readmodel.versions import Db
from cairn.readmodel.visibility import existing_projects, project_settings


class Hidden(frozenset[str]):
    """The private projects a caller has no role in (the set itself, which search excludes),
    and `unseen`: whether the caller may not learn of a project at all, because it is one of
    those or does not exist. A link to either is answered alike (cairn.api.hiding's rule: a
    hidden project answers exactly as a missing one). `known` is None for a site admin, who
    sees everything."""

    known: frozenset[str] | None

    def __new__(cls, private: Iterable[str] = (), known: Iterable[str] | None = None
                ) -> Self:
        made = super().__new__(cls, private)
        made.known = None if known is None else frozenset(known)
        return made

    def unseen(self, project: str | None) -> bool:
        """`project` None: a target named only by digest, which could be anyone's."""
        if self.known is None:
            return False
        return project is None or project in self or project not in self.known


async def project(db: Db, name: str) -> Project:
    return Project.of(name, await project_settings(db, name))


async def hidden_projects(db: Db, principal: Principal) -> Hidden:
    """The private projects the principal has no role in, and every project that exists."""
    if principal.site_admin:
        return Hidden()
    rows = await existing_projects(db)
    return Hidden((r.name for r in rows if r.private is not None and not can_see(
        principal, Project.of(r.name, r.private))), known=(r.name for r in rows))


def project_of_ref(ref: str | None) -> str | None:
    """The project a reference names (None for a digest-only target or nonsense)."""
    if not ref or ref.startswith("sha256:"):
        return None
    try:
        return parse_ref(ref).project
    except InvalidInput:
        return None


def redact_detail(detail: dict[str, Any], hidden: Hidden) -> dict[str, Any]:
    """A version's links to or from what the caller may not see (a hidden project, a project
    that does not exist, a digest that names nothing they may see) keep only their relation,
    all in the same shape; and its verdicts say nothing about those links' targets."""
    def out(link: dict[str, Any]) -> bool:
        if link.get("target"):
            return hidden.unseen(project_of_ref(link["target"]["ref"]))
        return not link.get("external") and hidden.unseen(project_of_ref(link["target_ref"]))

    unseen_out = [out(lk) for lk in detail["links_out"]]
    named = {text for lk, hide in zip(detail["links_out"], unseen_out, strict=True) if hide
             for text in (lk.get("target_ref"), (lk.get("target") or {}).get("ref")) if text}
    redacted = [{"relation": lk["relation"], "redacted": True} if hide else lk
                for lk, hide in zip(detail["links_out"], unseen_out, strict=True)]
    links_in = [{"relation": lk["relation"], "redacted": True}
                if hidden.unseen(project_of_ref(lk["source"]["ref"])) else lk
                for lk in detail["links_in"]]
    return {**detail, "links_out": redacted, "links_in": links_in,
            "verdicts": [without_refs(v, named) for v in detail.get("verdicts") or []]}


def without_refs(verdict: dict[str, Any], refs: Collection[str]) -> dict[str, Any]:
    """The verdict without the reasons that name any of `refs`. A warning left with no
    reason passes: the lineage check warns only about a link that does not resolve, and a
    link to a hidden version that does must not look different from one to nothing."""
    if not refs:
        return verdict
    naming = re.compile(r"(?<![\w.-])(?:" + "|".join(map(re.escape, sorted(refs))) + r")(?!\w)")
    kept = [r for r in verdict["reasons"]
            if not naming.search(r if isinstance(r, str) else json.dumps(r))]
    if len(kept) == len(verdict["reasons"]):
        return verdict
    status = "passed" if verdict["status"] == "warning" and not kept else verdict["status"]
    return {**verdict, "status": status, "reasons": kept}

