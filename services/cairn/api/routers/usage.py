"""Usage reported by clients: the SDK's pull says once, with its wall time, that it fetched
a version (its own reads carry the Cairn-Usage header and are not counted one by one)."""

from __future__ import annotations

from fastapi import APIRouter

from cairn.api import reads
from cairn.api.deps import CurrentActor, PoolDep, UsageDep, check_selector
from cairn.api.models import Accepted, UsageReport
from cairn.core.domain.identity import parse_ref
from cairn.core.domain.usage import check_usage

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.post("", status_code=202)
async def report_usage(body: UsageReport, actor: CurrentActor, pool: PoolDep,
                       usage: UsageDep) -> Accepted:
    """Count one use of a version; the ledger adds it to the version's usage in seconds."""
    check_usage(body.action, body.retrieve_ms)
    ref = parse_ref(body.ref)
    async with reads.snapshot(pool) as conn:
        version = await reads.find_version(conn, ref.project, ref.name,
                                           check_selector(ref.selector or "latest"))
    event_id = await usage.emit_acked(ref.artifact, version["digest"], body.action, actor,
                                      body.retrieve_ms)
    return Accepted(event_id=event_id)
