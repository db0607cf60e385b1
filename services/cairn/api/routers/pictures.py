"""Pictures: a lineage graph drawn by Graphviz, metrics across versions drawn by matplotlib.

`GET /v1/lineage/{ref}.svg` (also `.png`, `.dot`) takes the JSON route's `direction` and
`depth`; `GET /v1/artifacts/{project}/{name}/metrics.svg?metric=accuracy` plots each metric
across the versions (`metric` and `compare=project/other` repeat). Each draws from the same
read as the JSON it pictures, with the same access rule.

Included before the lineage router: `/v1/lineage/{ref:path}` would otherwise take
`p/n@v1.svg` as a ref.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from cairn.api import lineage, pictures
from cairn.api.deps import HiddenProjects, PoolDep
from cairn.core.adapters import metric_plot
from cairn.core.domain.lineage_dot import FORMATS, to_dot

router = APIRouter(tags=["pictures"])
SVG = metric_plot.FORMATS["svg"]


def _lineage_picture(fmt: str) -> Callable[..., Awaitable[Response]]:
    async def lineage_picture(ref: str, pool: PoolDep, hidden: HiddenProjects,
                              direction: str | None = None, depth: str | None = None
                              ) -> Response:
        checked_direction, checked_depth = lineage.parse_params(direction, depth)
        graph = await lineage.graph(pool, ref, checked_direction, checked_depth, hidden)
        body = await pictures.render_dot(to_dot(graph), fmt)
        return Response(body, media_type=FORMATS[fmt])

    return lineage_picture


for _fmt, _media in FORMATS.items():
    router.add_api_route(
        f"/v1/lineage/{{ref:path}}.{_fmt}", _lineage_picture(_fmt), methods=["GET"],
        name=f"lineage_{_fmt}", response_class=Response,
        summary=f"The lineage graph around a version, as {_fmt.upper()}",
        description="Nodes coloured by kind, the version asked for outlined, stage and "
                    "validation in the labels, links labelled with their relation; archived "
                    "and deleted versions dashed; a version you may not see is a grey "
                    "placeholder without its name.",
        responses={200: {"content": {_media: {}}}})


@router.get("/v1/artifacts/{project}/{name}/metrics.svg", response_class=Response,
            responses={200: {"content": {SVG: {}}}})
async def metrics_svg(project: str, name: str, request: Request, pool: PoolDep,
                      metric: Annotated[list[str] | None, Query()] = None,
                      compare: Annotated[list[str] | None, Query()] = None) -> Response:
    """Each `metric` across the artifact's versions (x = version number), stars on versions
    in staging or production or under an alias; `compare=project/name` adds another
    artifact's line to each panel."""
    found = await pictures.summaries(pool, request, project, name, compare or [])
    plotted = metric_plot.series(found, metric or [])
    body = await asyncio.to_thread(metric_plot.draw, plotted, "svg")
    return Response(body, media_type=SVG)
