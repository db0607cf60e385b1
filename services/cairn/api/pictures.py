"""Pictures the api draws: lineage through Graphviz's `dot`, metrics through matplotlib.

Why the `dot` binary: a layered layout is what lineage needs and Graphviz is the tool that
does it well; the PyPI wrappers (`graphviz`, `pydot`) only write DOT and run this same binary,
and no maintained pure-Python library lays graphs out. So Cairn writes the DOT itself
(cairn.core.domain.lineage_dot, pure and unit-tested) and runs `dot` here, at the edge, with a
deadline. Without Graphviz on the api's host, `.dot` still answers and the others say what
to install.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import asyncpg
from fastapi import Request

from cairn.api import reads
from cairn.api.errors import ApiError
from cairn.api.guard import authorize
from cairn.core.adapters.metric_plot import MAX_COMPARED
from cairn.core.domain.identity import InvalidInput, check_name, split_artifact

DOT_DEADLINE = 20.0  # seconds; depth 10 around a busy dataset can be a large graph


async def render_dot(text: str, fmt: str) -> bytes:
    """The DOT text itself, or what `dot -T<fmt>` makes of it."""
    if fmt == "dot":
        return text.encode()
    binary = shutil.which("dot")
    if binary is None:
        raise ApiError(503, "graphviz_missing", "the api's host has no Graphviz `dot` to draw "
                       "with (apt-get install graphviz); the .dot form answers without it")
    proc = await asyncio.create_subprocess_exec(
        binary, f"-T{fmt}", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(text.encode()), DOT_DEADLINE)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ApiError(503, "graphviz_timeout", f"the graph took over {DOT_DEADLINE:.0f} s to "
                       "draw: ask for a smaller depth or one direction") from None
    if proc.returncode != 0:
        first = (err.decode(errors="replace").strip().splitlines() or ["no message"])[0]
        raise ApiError(501, "graphviz_failed", f"dot could not draw {fmt} ({first}): "
                       "ask for .svg or .dot")
    return out


async def summaries(pool: asyncpg.Pool, request: Request, project: str, name: str,
                    compare: list[str]) -> list[dict[str, Any]]:
    """The artifact's summary, then each compared one's, which the caller must be able to
    read too (the policy table checked only the artifact in the path)."""
    if len(compare) > MAX_COMPARED:
        raise InvalidInput("too_many_compared", f"compare at most {MAX_COMPARED} artifacts")
    found = [await reads.artifact_summary(pool, check_name(project, "project"),
                                          check_name(name))]
    for other in compare:
        other_project, other_name = split_artifact(other)
        await authorize(request, "read", other_project)
        found.append(await reads.artifact_summary(pool, other_project, other_name))
    return found
