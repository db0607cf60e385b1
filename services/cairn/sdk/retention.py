"""Retention and lifecycle through the api: policies, plans, apply, archive, restore, delete.

    from cairn.sdk import retention
    retention.set_policy(client, "vision", retention.load_policy("retention/vision.toml"))
    plan = retention.plan(client, "vision")          # {"actions": [...], "protected": [...]}
    retention.restore(client, "vision/resnet50@v3")

Functions over a `Client`, so the Client class stays about publishing and reading.
An archived version's files are in the archive tier, not the blob store: `check_pullable`
makes a pull say so (restore it first) instead of failing on a missing blob.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.core.domain.identity import parse_ref
from cairn.core.domain.retention import check_policy, parse_toml
from cairn.sdk.errors import CairnError, translated

if TYPE_CHECKING:  # the Client imports check_pullable from here
    from cairn.sdk.client import Client

Done = Callable[[str, dict[str, Any] | CairnError], None]


def check_pullable(detail: Mapping[str, Any]) -> None:
    """Refuse to pull a version whose files are archived or gone, saying what to do."""
    ref = detail.get("ref")
    if detail.get("status") == "archived":
        raise CairnError("version_archived", f"{ref} is archived, its files are in the "
                         f"archive tier: restore it first: cairn restore {ref}", local=False)
    if detail.get("status") == "deleted":
        raise CairnError("version_deleted", f"{ref} is deleted: its files are gone; its "
                         "metadata and lineage remain (cairn show, cairn lineage)", local=False)


@translated
def load_policy(path: str | Path) -> dict[str, Any]:
    """A policy file (TOML, retention/<project>.toml), checked locally."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CairnError("unreadable_policy", f"{path}: {exc}") from None
    return parse_toml(text)


def _policy_path(project: str) -> str:
    return f"/v1/projects/{project}/retention"


@translated
def set_policy(client: Client, project: str, policy: Mapping[str, Any], *, wait: bool = True,
               timeout: float = 60.0) -> dict[str, Any]:
    body = check_policy(policy)
    reply = client.http.json("PUT", _policy_path(project), json=body)
    return {**reply, **client.wait_for(reply["event_id"], timeout)} if wait else reply


def get_policy(client: Client, project: str) -> dict[str, Any]:
    return dict(client.http.json("GET", _policy_path(project)))


def remove_policy(client: Client, project: str, *, wait: bool = True, timeout: float = 60.0
                  ) -> dict[str, Any]:
    reply = client.http.json("DELETE", _policy_path(project))
    return {**reply, **client.wait_for(reply["event_id"], timeout)} if wait else reply


@translated
def plan(client: Client, project: str, policy: Mapping[str, Any] | None = None
         ) -> dict[str, Any]:
    """The stored policy's plan, or with `policy`, that policy's (nothing is stored)."""
    if policy is None:
        return dict(client.http.json("GET", f"{_policy_path(project)}/plan"))
    return dict(client.http.json("POST", f"{_policy_path(project)}/plan",
                                 json=check_policy(policy)))


def apply(client: Client, project: str) -> dict[str, Any]:
    """Emit the plan's requests: {"requested": [... with event_id], "protected": [...]}."""
    return dict(client.http.json("POST", f"{_policy_path(project)}/apply"))


def wait_all(client: Client, event_ids: Iterable[str], done: Done, timeout: float = 120.0
             ) -> None:
    """Follow each event until the ledger recorded or refused it; `done(id, status or the
    refusal)` after each, so a caller can draw progress."""
    for event_id in event_ids:
        try:
            done(event_id, client.wait_for(event_id, timeout))
        except CairnError as exc:
            if exc.reason == "not_recorded":
                raise
            done(event_id, exc)


@translated
def request(client: Client, ref: str, action: str, reason: str | None = None, *,
            wait: bool = True, timeout: float = 60.0) -> dict[str, Any]:
    """archive, restore or delete one version (an event the ledger records or refuses)."""
    r = parse_ref(ref)
    path = f"/v1/artifacts/{r.project}/{r.name}/versions/{r.selector or 'latest'}/{action}"
    reply = client.http.json("POST", path, json={"reason": reason})
    return {**reply, **client.wait_for(reply["event_id"], timeout)} if wait else reply


def restore(client: Client, ref: str, reason: str | None = None, **kw: Any) -> dict[str, Any]:
    return request(client, ref, "restore", reason, **kw)


def archive(client: Client, ref: str, reason: str | None = None, **kw: Any) -> dict[str, Any]:
    return request(client, ref, "archive", reason, **kw)


def delete(client: Client, ref: str, reason: str | None = None, **kw: Any) -> dict[str, Any]:
    return request(client, ref, "delete", reason, **kw)
