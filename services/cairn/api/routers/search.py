"""Faceted, full-text search and suggestions over the index the indexer keeps.

The index may lag the ledger by a refresh interval; reads of one artifact or version come
from PostgreSQL (artifacts.py), never from here. Engine trouble is a 503 with a reason the
client can act on; a bad filter, sort or page is a 400 from the pure parsing in cairn.search.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from cairn.api.deps import HiddenProjects, SearchDep, SettingsDep
from cairn.api.errors import ApiError
from cairn.search.backend import (
    IndexMissing,
    SearchBackend,
    SearchRefused,
    SearchUnavailable,
    alias_name,
)
from cairn.search.query import SearchRequest, build_request, dataset_seen, search_body
from cairn.search.results import (
    check_suggest,
    known_metrics_body,
    metric_names_asked,
    metric_presence_body,
    metrics_hits_leave_open,
    missing_metrics,
    search_response,
    suggest_body,
    suggest_response,
    unknown_metric_warnings,
)

router = APIRouter(prefix="/v1", tags=["search"])
Many = Annotated[list[str] | None, Query()]


@asynccontextmanager
async def _engine_errors() -> AsyncIterator[None]:
    try:
        yield
    except IndexMissing:
        raise ApiError(503, "index_missing", "the search index does not exist yet: start "
                       "the indexer or run `cairn reindex`") from None
    except SearchUnavailable:
        raise ApiError(503, "search_unavailable", "the search engine did not answer; retry "
                       "shortly") from None
    except SearchRefused as exc:
        raise ApiError(400, "search_refused", f"the search engine refused the query: "
                       f"{str(exc)[:300]}") from None


@router.get("/search")
async def search(
    backend: SearchDep, settings: SettingsDep, hidden: HiddenProjects,
    q: Annotated[str | None, Query(description="Free text (all words must match)")] = None,
    kind: Many = None, project: Many = None, stage: Many = None, tag: Many = None,
    license: Many = None, creator: Many = None, owner_team: Many = None,
    framework: Many = None, validation: Many = None, dataset: Many = None,
    status: Many = None, alias: Many = None,
    environment: Annotated[list[str] | None, Query(
        description="an environment's digest (GET /v1/environments/{digest}): the versions "
        "made in it")] = None,
    legal_hold: Annotated[list[str] | None, Query(description="true | false")] = None,
    metric: Annotated[list[str] | None, Query(description="e.g. accuracy>=0.9")] = None,
    filter: Annotated[list[str] | None, Query(
        description="kind=model, tag=nlp, metric.accuracy>=0.9 ...")] = None,
    any_: Annotated[list[str] | None, Query(
        alias="any", description="filters joined by |, any of which may match (OR across "
        "facets), e.g. tag=nlp|framework=pytorch; several groups must all match")] = None,
    created_after: str | None = None, created_before: str | None = None,
    sort: Annotated[str, Query(description="relevance | created[:asc] | usage | "
                               "metric.NAME[:asc|:desc]")] = "relevance",
    page: int = 1, size: int = 20, facet_size: int = 20,
) -> dict[str, Any]:
    """Hits and facet counts; each facet is counted with every filter but its own.
    Several values of one filter match any of them; different filters must all match; an
    `any` group (filters joined by |) matches when one of its filters does.
    Each hit names its lineage neighbours: `made_from` (its links), `made_into` (the newest
    versions linking to it) and `evaluated_by` (evaluations of it). Private projects the
    caller has no role in are neither hits nor counted, and datasets and neighbours of those,
    of projects that do not exist or named by digest are, for all but site admins, neither
    counted, matched by a filter nor named in a hit: they all look alike.
    A metric filter or sort adds `warnings`: each metric no visible version has, with the
    closest names (reason `unknown_metric`), so 0 hits is never silently a typo."""
    given = {"kind": kind, "project": project, "stage": stage, "tag": tag, "license": license,
             "creator": creator, "owner_team": owner_team, "framework": framework,
             "validation": validation, "dataset": dataset, "status": status, "alias": alias,
             "legal_hold": legal_hold, "environment": environment}
    req = build_request(q=q, filters={k: v for k, v in given.items() if v},
                        expressions=filter or (), metrics=metric or (), any_of=any_ or (),
                        created_after=created_after, created_before=created_before,
                        sort=sort, page=page, size=size, facet_size=facet_size,
                        hidden_projects=hidden, known_projects=hidden.known)
    async with _engine_errors():
        reply = await backend.search(alias_name(settings), search_body(req))
        answer = _seen_datasets(search_response(reply, req), req)
        answer["warnings"] = await _unknown_metrics(backend, alias_name(settings), req,
                                                    answer["total"])
    return answer


async def _unknown_metrics(backend: SearchBackend, alias: str, req: SearchRequest, total: int
                           ) -> list[dict[str, str]]:
    """A metric no visible version has matches nothing: say so, with the closest names."""
    if not (asked := metrics_hits_leave_open(metric_names_asked(req), req, total)):
        return []
    present = await backend.search(alias, metric_presence_body(asked, req.hidden_projects))
    if not (missing := missing_metrics(present, asked)):
        return []
    known = await backend.search(alias, known_metrics_body(req.hidden_projects))
    return unknown_metric_warnings(known, missing)


def _seen_datasets(answer: dict[str, Any], req: SearchRequest) -> dict[str, Any]:
    """Visible hits name no dataset or lineage neighbour the caller may not learn of (the
    dataset facet's rule: a private project's, a missing project's and a bare digest alike)."""
    for hit in answer["hits"]:
        if hit.get("datasets"):
            hit["datasets"] = [d for d in hit["datasets"] if dataset_seen(req, d)]
        for key in ("made_from", "made_into"):
            hit[key] = [n for n in hit.get(key) or () if dataset_seen(req, n["ref"])]
        hit["evaluated_by"] = [r for r in hit.get("evaluated_by") or ()
                               if dataset_seen(req, r)]
    return answer


@router.get("/suggest")
async def suggest(
    backend: SearchDep, settings: SettingsDep, hidden: HiddenProjects,
    prefix: Annotated[str, Query(description="What the user typed so far")],
    field: Literal["name", "tag", "metric"] = "name", size: int = 10,
) -> dict[str, Any]:
    """Artifact names, tags or metric names whose words start with what was typed."""
    check_suggest(prefix, field, size)
    async with _engine_errors():
        reply = await backend.search(alias_name(settings),
                                     suggest_body(prefix, field, size, tuple(sorted(hidden))))
    return suggest_response(reply, prefix, field, size)
