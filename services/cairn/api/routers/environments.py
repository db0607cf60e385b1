"""Environments stored once by digest: one environment, whole, and how many versions share
it (`GET /v1/search?environment=<digest>` lists them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cairn.api.deps import HiddenProjects, PoolDep
from cairn.api.errors import ApiError
from cairn.core.domain.environments import DIGEST
from cairn.core.domain.identity import InvalidInput
from cairn.readmodel.environments import environment_use

router = APIRouter(prefix="/v1/environments", tags=["environments"])


@router.get("/{digest}")
async def get_environment(digest: str, pool: PoolDep, hidden: HiddenProjects
                          ) -> dict[str, Any]:
    """The environment (python, os, packages, ...) whose canonical JSON's sha256 is `digest`
    (a version's `environment_digest`), and `versions`: how many versions the caller may see
    were made in it. One only private projects hidden from the caller use answers as one that
    does not exist (404 environment_not_found)."""
    digest = digest.removeprefix("sha256:")
    if not DIGEST.fullmatch(digest):
        raise InvalidInput("invalid_environment", "an environment is named by the 64 lowercase "
                           "hex digits of its sha256 (a version's environment_digest)")
    use = await environment_use(pool, digest, hidden)
    if use is None or (use.versions == 0 and hidden):
        raise ApiError(404, "environment_not_found", f"no environment {digest[:12]}… is used "
                       "by a version you may see")
    return {"digest": digest, "environment": use.body, "versions": use.versions,
            "first_seq": use.first_seq}
