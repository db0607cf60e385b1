"""The version page's lineage graph: Graphviz SVG drawn inline, so each version's node is a
link to its page (an <img> or <object> could not be clicked through: the CSP and
X-Frame-Options forbid embedding). Drawn from the same walk and redaction as `GET
/v1/lineage`; a version the caller may not see stays a grey placeholder with no link.
"""

from __future__ import annotations

import asyncpg
from markupsafe import Markup

from cairn.api import lineage, pictures
from cairn.api.errors import ApiError
from cairn.api.ui.html import version_url
from cairn.api.visibility import Hidden
from cairn.core.domain.lineage_dot import to_dot

MAX_INLINE_NODES = 300  # more is unreadable on a page and slow to lay out: ask for less depth


def depth_of(depth: str | None) -> int:
    """The page's `depth` parameter, checked as the JSON route checks it (400 when bad)."""
    return lineage.parse_params(None, depth)[1]


async def lineage_svg(pool: asyncpg.Pool, ref: str, depth: int, hidden: Hidden
                      ) -> tuple[Markup | None, str | None]:
    """The <svg> element to put in the page, or why there is none (`dot` missing or failing,
    or too many nodes): the page says so instead of failing as a whole."""
    graph = await lineage.graph(pool, ref, "both", depth, hidden)
    if len(graph["nodes"]) > MAX_INLINE_NODES:
        return None, (f"{len(graph['nodes'])} versions within {depth} links are too many "
                      "to draw here; show fewer levels or open the SVG")
    try:
        drawn = (await pictures.render_dot(to_dot(graph, link=version_url), "svg")).decode()
    except ApiError as exc:
        return None, exc.message
    # dot escapes every label and attribute it writes, so the element is safe to inline;
    # the XML prolog and DOCTYPE before it are not allowed inside HTML.
    return Markup(drawn[drawn.index("<svg"):]), None
