"""The pages: search, an artifact's versions, one version's detail, a comparison of
versions, and the pictures they embed. Each reuses what its JSON route runs (the search
route itself, cairn.api.reads, the redaction in cairn.api.visibility, the picture routes),
with the caller resolved the same way, so the UI can show nothing the JSON api would not.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from markupsafe import Markup

from cairn.api import reads
from cairn.api.deps import (
    BlobsDep,
    HiddenProjects,
    PoolDep,
    SearchDep,
    Selector,
    SettingsDep,
    UsageDep,
    check_selector,
)
from cairn.api.errors import ApiError, not_found
from cairn.api.lineage import MAX_DEPTH
from cairn.api.routers import pictures
from cairn.api.routers import search as search_route
from cairn.api.ui import compare, files, openlineage_view
from cairn.api.ui.graph import depth_of, lineage_svg
from cairn.api.ui.html import page
from cairn.api.usage import count_view
from cairn.api.visibility import redact_detail
from cairn.core.adapters.blobstore import BlobStore
from cairn.core.domain.identity import InvalidInput, check_name, parse_ref
from cairn.search.query import FACETS

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)
Many = Annotated[list[str] | None, Query()]
SORTS = ("relevance", "created", "created:asc", "usage")
PAGE_SIZE = 20


def _metric_filters(name: str, low: str, high: str) -> list[str]:
    name = name.strip()
    if not name:
        return []
    return [f"{name}{op}{value.strip()}" for op, value in ((">=", low), ("<=", high))
            if value.strip()]


def _link(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters replaced."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    kept += [(k, str(v)) for k, v in changes.items() if v is not None]
    return "/ui?" + urlencode(kept)


@router.get("")
async def search_page(request: Request, backend: SearchDep, settings: SettingsDep,
                      hidden: HiddenProjects, q: str = "", sort: str = "relevance",
                      page_number: Annotated[int, Query(alias="page")] = 1,
                      metric_name: str = "", metric_min: str = "", metric_max: str = "",
                      ) -> Response:
    """Search with facets; each facet is counted with every filter but its own."""
    chosen = {f: request.query_params.getlist(f) for f in FACETS
              if request.query_params.getlist(f)}
    # search's facet parameters (list[str] | None each), passed by name from FACETS
    facets: dict[str, Any] = {f: chosen.get(f) for f in FACETS}
    metrics = _metric_filters(metric_name, metric_min, metric_max)
    answer = await search_route.search(
        backend, settings, hidden, q=q or None, metric=metrics, sort=sort, page=page_number,
        size=PAGE_SIZE, **facets)
    metric_names = sorted({m for h in answer["hits"] for m in h.get("metrics") or {}}
                          | ({metric_name.strip()} if metric_name.strip() else set()))
    last = max(1, -(-answer["total"] // PAGE_SIZE))
    return await page(request, "search.html", answer=answer, q=q, sort=sort, chosen=chosen,
                      sorts=[*SORTS, *(f"metric.{m}:desc" for m in metric_names)],
                      metric=(metric_name, metric_min, metric_max), page=page_number,
                      last=last, prev=_link(request, page=page_number - 1),
                      next=_link(request, page=page_number + 1))


@router.get("/artifacts/{project}/{name}")
async def artifact_page(request: Request, project: str, name: str, pool: PoolDep,
                        blobs: BlobsDep) -> Response:
    """Every version with its stage, aliases and metrics, the metrics plotted, and the latest
    version's card."""
    check_name(project, "project")
    check_name(name)
    summary = await reads.artifact_summary(pool, project, name)
    aliases: dict[int, list[str]] = {}
    for alias, number in summary["aliases"].items():
        aliases.setdefault(number, []).append(alias)
    metric_names = sorted({m for v in summary["versions"] for m in v["metrics"]})
    plot = None
    if metric_names:
        plot = f"/ui/artifacts/{project}/{name}/metrics.svg?" + urlencode(
            [("metric", m) for m in metric_names[:4]])
    try:
        latest = await reads.version_detail(pool, project, name,
                                            f"v{summary['latest_version']}")
    except ApiError:  # a deleted latest version: the page shows no card, not an error
        card = None
    else:
        card = await _card(blobs, latest)
    return await page(request, "artifact.html", art=summary, aliases=aliases,
                      metric_names=metric_names, plot=plot, card=card)


@router.get("/artifacts/{project}/{name}/versions/{selector}")
async def version_page(request: Request, project: str, name: str, selector: Selector,
                       pool: PoolDep, usage: UsageDep, background: BackgroundTasks,
                       hidden: HiddenProjects, blobs: BlobsDep, depth: str | None = None
                       ) -> Response:
    """One version: files, metadata, environment, verdicts, usage, links both ways and the
    lineage graph `depth` links each way, its nodes linking to their pages. Counts as a
    view, like the JSON route."""
    check_name(project, "project")
    check_name(name)
    levels = depth_of(depth)
    detail = await reads.version_detail(pool, project, name, selector)
    graph, graph_note = await lineage_svg(pool, detail["ref"], levels, hidden)
    background.add_task(count_view, usage, request, detail)
    return await page(request, "version.html", v=redact_detail(detail, hidden), graph=graph,
                      graph_note=graph_note, depth=levels, max_depth=MAX_DEPTH,
                      card=await _card(blobs, detail),
                      ol_schema=openlineage_view.schema(detail["extra"]),
                      ol_columns=openlineage_view.column_lineage(detail["extra"]))


async def _card(blobs: BlobStore, detail: dict[str, Any]) -> Markup | None:
    """The version's README.md (or model card) rendered, if it has one stored."""
    found = files.card_file(detail["files"])
    if found is None or not await asyncio.to_thread(blobs.has, found["sha256"]):
        return None
    text = (await files.head(blobs, found["sha256"], files.CARD_BYTES)).decode(
        errors="replace")
    return files.render_markdown(text)


async def _stored_file(pool: PoolDep, blobs: BlobStore, project: str, name: str,
                       selector: str, path: str) -> tuple[dict[str, Any], Any]:
    check_name(project, "project")
    check_name(name)
    detail = await reads.version_detail(pool, project, name, selector)
    found = files.find_file(detail["files"], path)
    if found is None or not await asyncio.to_thread(blobs.has, found["sha256"]):
        raise not_found(f"file {path!r} in {detail['ref']}")
    return detail, found


@router.get("/artifacts/{project}/{name}/versions/{selector}/files/{path:path}")
async def file_page(request: Request, project: str, name: str, selector: Selector,
                    path: str, pool: PoolDep, blobs: BlobsDep) -> Response:
    """One file of a version previewed: text, JSON, CSV's first rows, an image."""
    detail, found = await _stored_file(pool, blobs, project, name, selector, path)
    data = b"" if files.image_type(path) else await files.head(
        blobs, found["sha256"], files.PREVIEW_BYTES)
    shown = files.preview(path, found.get("media_type"), data, found["size"])
    return await page(request, "file.html", v=detail, f=found, preview=shown)


@router.get("/artifacts/{project}/{name}/versions/{selector}/raw/{path:path}")
async def raw_image(project: str, name: str, selector: Selector, path: str, pool: PoolDep,
                    blobs: BlobsDep) -> Response:
    """A raster image file's bytes, for the preview's <img> (nothing else is served here:
    other files are downloads, counted, from /v1/blobs)."""
    media = files.image_type(path)
    if media is None:
        raise not_found(f"image {path!r}")
    _, found = await _stored_file(pool, blobs, project, name, selector, path)
    if found["size"] > files.IMAGE_BYTES:
        raise not_found(f"image {path!r} under {files.IMAGE_BYTES} bytes")
    body = await files.head(blobs, found["sha256"], files.IMAGE_BYTES)
    return Response(body, media_type=media, headers={
        "content-security-policy": "default-src 'none'; sandbox"})


@router.get("/compare")
async def compare_page(request: Request, pool: PoolDep, hidden: HiddenProjects,
                       ref: Many = None) -> Response:
    """Two to six versions side by side (`ref` repeats), differing rows marked. A version the
    caller may not see is not found, as on its own page."""
    refs = list(dict.fromkeys(r.strip() for r in ref or [] if r.strip()))
    if len(refs) > compare.MAX_COMPARED:
        raise InvalidInput("too_many_compared", f"compare at most {compare.MAX_COMPARED} "
                           "versions")
    details = []
    for text in refs:
        parsed = parse_ref(text)
        if hidden.unseen(parsed.project):  # answered as a project that does not exist
            raise not_found(f"artifact {parsed.project}/{parsed.name}")
        detail = await reads.version_detail(pool, parsed.project, parsed.name,
                                            check_selector(parsed.selector or "latest"))
        details.append(redact_detail(detail, hidden))
    return await page(request, "compare.html", versions=details,
                      sections=compare.sections(details) if len(details) > 1 else [])


# The pictures the pages embed, at /ui paths so the sign-in cookie can read them: the
# picture routes' own handlers, with the same rules as theirs.
router.add_api_route("/lineage/{ref:path}.svg", pictures._lineage_picture("svg"),
                     methods=["GET"], response_class=Response)
router.add_api_route("/artifacts/{project}/{name}/metrics.svg", pictures.metrics_svg,
                     methods=["GET"], response_class=Response)
# The search box's suggestions, as the signed-in caller (the cookie reaches only /ui).
router.add_api_route("/suggest", search_route.suggest, methods=["GET"])
