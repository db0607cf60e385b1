"""Request and response bodies. Shape only: cairn.core.domain.payloads and checks judge the content,
so the api, the SDK and the ledger refuse the same things with the same reasons."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored


class FileEntry(Body):
    path: str
    size: int = Field(ge=0)
    sha256: str
    media_type: str | None = None


class ManifestFile(Body):
    """A file in a multipart manifest: size and sha256 come from the uploaded part if omitted."""

    path: str
    size: int | None = Field(None, ge=0)
    sha256: str | None = None
    media_type: str | None = None


class LinkIn(Body):
    relation: str
    target: str | None = None
    external: dict[str, Any] | None = None


class Publish(Body):
    kind: str
    project: str
    name: str
    files: list[FileEntry]
    metadata: dict[str, Any] = Field(default_factory=dict)  # empty: "missing_creator", not 422
    environment: dict[str, Any] | None = None
    links: list[LinkIn] = Field(default_factory=list)
    stage: str | None = None
    extra: dict[str, Any] | None = None
    version_number: int | None = Field(None, description=(
        "an import's number for the new version (the project's admins only): recorded if "
        "free in the artifact, else refused (version_number_taken); omitted: the next one"))
    as_recorded: bool = Field(False, description=(
        "an import's stage recorded as it was, without the gate's facts (the project's "
        "admins only; the audit log shows it)"))
    receipts: dict[str, str] = Field(default_factory=dict, description=(
        "sha256 -> the X-Cairn-Blob-Receipt its PUT answered: needed for a stored blob that "
        "no version you may read lists (else it is reported in missing_blobs)"))


class Manifest(Publish):
    """The "manifest" part of a multipart publish."""

    files: list[ManifestFile] = Field(default_factory=list)  # type: ignore[assignment]


class PublishBatch(Body):
    """POST /v1/artifacts/batch: up to 1000 Publish bodies, each judged on its own."""

    items: list[dict[str, Any]] = Field(min_length=1, description=(
        "Publish bodies (the Publish schema); one that does not fit it is refused alone"))
    environment: dict[str, Any] | None = Field(None, description=(
        "the environment of every item that gives none (captured once for the whole batch)"))
    receipts: dict[str, str] = Field(default_factory=dict, description=(
        "sha256 -> upload receipt, for every item (Publish.receipts)"))


class EventsQuery(Body):
    event_ids: list[str] = Field(max_length=1000)
    wait_ms: int = Field(0, ge=0, le=30_000, description=(
        "answer once none is pending, or after this long (a long poll: one request instead "
        "of a client's many)"))


class MissingQuery(Body):
    sha256: list[str]


class MetadataChanges(Body):
    changes: dict[str, Any]


class Revert(Body):
    event_id: str


class StageChange(Body):
    stage: str = Field(description="a stage of the project's ladder (lifecycle.stages, by "
                       "default development, staging, production) or archived")


class AliasTarget(Body):
    version: str


class UsageReport(Body):
    """A use the client measured itself: the SDK's pull, with its wall time."""

    ref: str
    action: str = "download"
    retrieve_ms: int | None = None


class Accepted(BaseModel):
    event_id: str


class PublishAccepted(Accepted):
    digest: str
    artifact: str
    status: dict[str, Any] | None = Field(None, description=(
        "with ?wait_ms: what GET /v1/events/{event_id} answers once the wait ended: "
        "recorded (ref, version_number, outcome), rejected (reason, message), or pending"))


class BatchItemResult(BaseModel):
    """One item of a batch: accepted (its event to follow) or refused (why, with the status
    and reason a single publish would have answered, and its detail such as `missing`)."""

    model_config = ConfigDict(extra="allow")
    index: int
    status: str  # accepted | refused
    artifact: str | None = None
    event_id: str | None = None
    digest: str | None = None
    reason: str | None = None
    message: str | None = None
    http_status: int | None = None


class PublishBatchAccepted(BaseModel):
    accepted: int
    refused: int
    items: list[BatchItemResult]


class BlobStored(BaseModel):
    sha256: str
    size: int


class BlobsStored(BaseModel):
    stored: list[BlobStored]  # in the request's order
    receipts: dict[str, str]  # sha256 -> its upload's receipt (Publish.receipts)


class Missing(BaseModel):
    missing: list[str]


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], raw: bytes | str, where: str = "body") -> M:
    """Validate a body read by hand (streamed routes) with the same 422 as FastAPI's own."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": (where, *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None
