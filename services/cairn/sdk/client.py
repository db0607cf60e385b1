"""`cairn.Client`: publish, pull, read and change artifacts through the api.

    client = cairn.Client()                      # CAIRN_API_URL, CAIRN_TOKEN
    client.publish("model", "vision", "resnet50", ["model.pt"],
                   metadata={"metrics": {"top1": 0.76}}, links=[("trained_on", "vision/imnet@v1")])
    client.pull("vision/resnet50:latest", "out/")

A publish checks every input, hashes files while streaming, uploads only the blobs the api
lacks, then posts the version to the api (transport "http") or emits the event to Kafka
itself (transport "kafka", blobs still go to the api), and waits until the ledger recorded
or rejected it. `publish_many([Item(...), ...])` does the same for many versions in a few
requests (cairn.sdk.bulk). The environment is captured once per process
(cairn.sdk.environment.capture(refresh=True) captures it again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from cairn.core.adapters import metric_plot
from cairn.core.adapters.settings import Settings
from cairn.core.domain import checks, lineage_dot, payloads
from cairn.core.domain.event_types import Environment, FileEntry, Published
from cairn.core.domain.identity import check_alias, check_stage, parse_ref, split_artifact
from cairn.sdk import bulk, credentials, inline, transfer
from cairn.sdk import files as local_files
from cairn.sdk import publish as steps
from cairn.sdk.access import AccessCalls
from cairn.sdk.bulk import Item, ItemResult
from cairn.sdk.crate import CrateCalls
from cairn.sdk.environment import capture
from cairn.sdk.errors import CairnError, translated
from cairn.sdk.http import Http, StoreRetry
from cairn.sdk.progress import items_progress
from cairn.sdk.publish import PublishResult
from cairn.sdk.reproduce import ReproduceCalls
from cairn.sdk.retention import check_pullable
from cairn.sdk.search import SearchCalls
from cairn.sdk.subscriptions import SubscriptionCalls
from cairn.sdk.usage import reported_pull

Transport = Literal["http", "kafka"]


class Client(AccessCalls, SubscriptionCalls, SearchCalls, ReproduceCalls, CrateCalls):
    """Publishing, pulling, reading and changing versions here; who may do what
    (cairn.sdk.access), webhooks (cairn.sdk.subscriptions) and search (cairn.sdk.search)
    in the mixins, each a group of routes of the api."""

    def __init__(self, api_url: str | None = None, token: str | None = None,
                 settings: Settings | None = None, transport: Transport = "http", *,
                 progress: bool | None = None, http: httpx.Client | None = None,
                 store_retry: StoreRetry | None = None) -> None:
        """`progress`: True always draws bars, None only for large transfers, False never.
        `http` replaces the httpx client (tests pass one with a MockTransport).
        `store_retry`: how often and how long uploads and downloads are tried again while
        the blob store is down (StoreRetry(attempts=1) never)."""
        if transport not in ("http", "kafka"):
            raise CairnError("invalid_transport", f"transport {transport!r} must be http or kafka")
        self.settings = settings or Settings()
        self.transport = transport
        self.progress = progress
        url = api_url or self.settings.api_url
        if not api_url and "api_url" not in self.settings.model_fields_set:
            url = credentials.stored_api_url() or url  # where `cairn login` pointed
        if token is None:  # the argument, then CAIRN_TOKEN, then `cairn login`'s file
            token = self.settings.token or credentials.stored_token(url)
        self.http = Http(url, token, http, store_retry=store_retry)
        self._emitter: Any = None

    # -- publishing -----------------------------------------------------------------------

    @translated
    def publish(self, kind: str, project: str, name: str, files: local_files.FilesArg, *,
                metadata: Mapping[str, Any] | None = None,
                links: Sequence[steps.LinkArg] | None = None, stage: str | None = None,
                extra: Mapping[str, Any] | None = None,
                environment: Mapping[str, Any] | None = None, image_digest: str | None = None,
                root: str | Path | None = None, wait: bool = True, timeout: float = 60.0
                ) -> PublishResult:
        draft = payloads.draft(
            kind=kind, project=project, name=name,
            metadata_={"creator": steps.default_creator(), **(metadata or {})},
            environment_=environment if environment is not None else capture(image_digest),
            links=steps.links(links), stage=stage, extra=extra, kinds=self.settings.kind_list,
        )
        planned = local_files.plan(files, root)
        self.http.require_token()  # before hashing: a missing token should not cost minutes
        hashed = local_files.hash_all(planned, self.progress)
        manifest = payloads.file_entries([f.entry() for f in hashed])
        status: dict[str, Any] | None = None
        if self.transport == "kafka":
            transfer.upload_missing(self.http, hashed, self.progress)
            # a service account's events are its own (CAIRN_PRODUCER): the ledger refuses an
            # untrusted account naming anyone else
            body = payloads.assembled(draft, manifest)
            digest = body["digest"]
            sent = time.monotonic()
            event_id = self._emit(body, actor=self.settings.producer
                                  or draft.metadata["creator"])
        else:  # the api builds the event from the request, and waits in it for the record
            reply, sent = self._post_version(draft, hashed, manifest, wait, timeout)
            event_id, digest, status = reply["event_id"], reply["digest"], reply.get("status")
        result = PublishResult(event_id, digest, draft.artifact)
        if not wait:
            return result
        if status is None or status.get("status") == "pending":
            left = max(0.0, timeout - (time.monotonic() - sent))
            status = steps.wait_recorded(self.http, event_id, left, long_poll=True)
        else:
            status = steps.settled(status, event_id)
        return replace(result, ref=status.get("ref"), version_number=status.get("version_number"),
                       outcome=status.get("outcome", "applied"))

    def _post_version(self, draft: payloads.Draft, hashed: Sequence[local_files.LocalFile],
                      manifest: list[FileEntry], wait: bool, timeout: float
                      ) -> tuple[dict[str, Any], float]:
        """POST /v1/artifacts, asking the api to wait for the record (at most LONG_POLL_S;
        the rest of `timeout` is waited for by publish). Small files ride inside the request
        (cairn.sdk.inline); others are uploaded first if missing. The reply and when the
        wait began."""
        params = {"wait_ms": str(int(min(steps.LONG_POLL_S, timeout) * 1000))} if wait \
            else None
        if inline.fits(hashed):
            sent = time.monotonic()
            return inline.publish(self.http, draft.request(manifest, {}), hashed, params), sent
        receipts = transfer.upload_missing(self.http, hashed, self.progress)
        sent = time.monotonic()
        return dict(self.http.json("POST", "/v1/artifacts", params=params,
                                   json=draft.request(manifest, receipts))), sent

    @translated
    def publish_many(self, items: Iterable[Item | Mapping[str, Any]], *,
                     environment: Mapping[str, Any] | None = None,
                     image_digest: str | None = None, wait: bool = True, timeout: float = 600.0,
                     workers: int = 8) -> list[ItemResult]:
        """Publish many versions: each item is `Item(kind, project, name, files, ...)` (or a
        dict of the same names), and the answer lists, in order, each one's ItemResult: its
        ref once recorded, or why it was refused (a refused item never stops the others).
        The environment is captured once for the call (an item may give its own); blobs
        the api lacks are uploaded `workers` at a time; versions go out in batches
        (cairn.sdk.bulk). `wait=False` returns once every batch is accepted."""
        given = list(items)
        shared = payloads.environment(environment if environment is not None
                                      else capture(image_digest))
        self.http.require_token()
        with items_progress("preparing", len(given), self.progress) as advance:
            def prepare(pair: tuple[int, Item | Mapping[str, Any]]) -> Any:
                done = bulk.prepare(pair[0], pair[1], shared, self.settings.kind_list)
                advance(1)
                return done

            prepared = bulk.in_parallel(prepare, enumerate(given), workers)
        ready = [p for p in prepared if isinstance(p, bulk.Prepared)]
        results: dict[int, ItemResult] = {
            r.index: r for r in prepared if isinstance(r, ItemResult)}
        lacking, receipts = bulk.lacking(self.http, ready), {}
        with items_progress("publishing", len(ready), self.progress) as advance:
            # a group's blobs, then its versions: the ledger records the first group while
            # the next one uploads
            for group in bulk.chunks(ready, bulk.GROUP):
                uploaded, failed = bulk.upload_blobs(self.http, group, lacking, self.progress,
                                                     workers)
                receipts.update(uploaded)
                sendable = []
                for p in group:
                    if bad := next((failed[f.sha256] for f in p.hashed if f.sha256 in failed),
                                   None):
                        results[p.index] = bulk.refused(p.index, p.draft.artifact, bad)
                        advance(1)
                    else:
                        sendable.append(p)
                for sent in self._send_batches(sendable, receipts, shared):
                    results.update((r.index, r) for r in sent)
                    advance(len(sent))
        ordered = [results[i] for i in range(len(given))]
        if not wait:
            return ordered
        accepted = sum(r.status == "accepted" for r in ordered)
        with items_progress("recording", accepted, self.progress) as advance:
            return bulk.wait_all(self.http, ordered, timeout, advance)

    def _send_batches(self, ready: list[bulk.Prepared], receipts: Mapping[str, str],
                      environment: Environment) -> Iterator[list[ItemResult]]:
        if self.transport == "kafka":
            emitter = self._kafka()
            for part in bulk.chunks(ready, bulk.MAX_ITEMS):
                yield bulk.emit_batch(emitter, part, lambda p: self.settings.producer
                                      or p.draft.metadata["creator"])
            return
        budget = self.settings.max_event_bytes - len(json.dumps(environment)) - 1024
        for batch in bulk.batches(ready, receipts, budget):
            yield bulk.post_batch(self.http, batch, environment)

    def _kafka(self) -> Any:
        if self._emitter is None:
            from cairn.core.adapters.emitter import (
                Emitter,  # only kafka mode needs registry and Kafka
            )

            self._emitter = Emitter(self.settings, "cairn-sdk")
        return self._emitter

    def _emit(self, body: Published, actor: str) -> str:
        return steps.emit(self._kafka(), self.settings, body, actor)

    # -- reading --------------------------------------------------------------------------

    @translated
    def show(self, ref: str) -> dict[str, Any]:
        parse_ref(ref)
        return dict(self.http.json("GET", "/v1/resolve", params={"ref": ref}))

    @translated
    def wait_verdict(self, ref: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """The version (as `show` gives it) once the validator judged it: `validation` is
        valid or invalid and `verdicts` says why; still `pending` after `timeout` seconds
        (the validator may be down, or not judge this project)."""
        deadline, pause = time.monotonic() + timeout, 0.05
        while True:
            shown = self.show(ref)
            if shown.get("validation") != "pending" or time.monotonic() >= deadline:
                return shown
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)

    @translated
    def versions(self, project: str, name: str | None = None) -> dict[str, Any]:
        """`versions("p", "n")` or `versions("p/n")`."""
        project, name = split_artifact(f"{project}/{name}" if name else project)
        return dict(self.http.json("GET", f"/v1/artifacts/{project}/{name}"))

    @translated
    def history(self, ref: str) -> list[dict[str, Any]]:
        """The version's metadata edits, oldest first, each with what it replaced."""
        return list(self.http.json("GET", f"{_version_path(ref)}/history"))

    @translated
    def events(self, ref: str) -> list[dict[str, Any]]:
        """Everything the ledger recorded about the version, oldest first: seq, event_type,
        actor, recorded_at and a few words of detail (a stage, an alias, a verdict)."""
        return list(self.http.json("GET", f"{_version_path(ref)}/events"))

    @translated
    def pull(self, ref: str, dest: str | Path) -> list[Path]:
        """Restore every file of a version under dest, verified byte for byte; then report
        it (one download, with its wall time) to the version's usage, best effort."""
        parse_ref(ref)
        with reported_pull(self.http) as report:
            detail = self.http.json("GET", "/v1/resolve", params={"ref": ref},
                                    headers=report.headers)
            check_pullable(detail)  # archived or deleted: say what to do, fetch nothing
            paths = transfer.restore(self.http, detail["files"], Path(dest), self.progress,
                                     ref=detail["ref"], headers=report.headers)
            report.ref = detail["ref"]
        return paths

    @translated
    def lineage(self, ref: str, direction: str = "both", depth: int = 3) -> dict[str, Any]:
        """{"root", "nodes", "edges"}: what `ref` was made from (up), what was made from
        it (down), or both, up to `depth` links away (at most 10)."""
        parse_ref(ref)
        return dict(self.http.json("GET", "/v1/lineage", params={
            "ref": ref, "direction": direction, "depth": str(depth)}))

    @translated
    def lineage_picture(self, ref: str, fmt: str = "svg", direction: str = "both",
                        depth: int = 3) -> bytes:
        """The same graph drawn by the api's Graphviz: "svg", "png" or "dot" (its source)."""
        parse_ref(ref)
        if fmt not in lineage_dot.FORMATS:
            raise CairnError("invalid_format", f"format {fmt!r}: use svg, png or dot")
        return self.http.request("GET", f"/v1/lineage/{quote(ref, safe='/@:')}.{fmt}", params={
            "direction": direction, "depth": str(depth)}).content

    @translated
    def metric_series(self, artifact: str, metrics: Sequence[str],
                      compare: Sequence[str] = ()) -> list[metric_plot.Series]:
        """Each metric across the versions of `artifact` (and of each `compare` artifact);
        `metric_plot.draw(series, "png")` pictures them."""
        return metric_plot.series([self.versions(a) for a in (artifact, *compare)], metrics)

    # -- changing (each is an audited event; wait=True returns once the ledger recorded it) --

    @translated
    def set_alias(self, artifact: str, alias: str, version: str | int, *, wait: bool = True,
                  timeout: float = 60.0) -> dict[str, Any]:
        project, name = split_artifact(artifact)
        check_alias(alias)
        return self._write("PUT", f"/v1/artifacts/{project}/{name}/aliases/{alias}",
                           {"version": _selector(version)}, wait, timeout)

    @translated
    def remove_alias(self, artifact: str, alias: str, *, wait: bool = True,
                     timeout: float = 60.0) -> dict[str, Any]:
        project, name = split_artifact(artifact)
        check_alias(alias)
        return self._write("DELETE", f"/v1/artifacts/{project}/{name}/aliases/{alias}", None,
                           wait, timeout)

    @translated
    def set_stage(self, ref: str, stage: str, *, wait: bool = True, timeout: float = 60.0
                  ) -> dict[str, Any]:
        check_stage(stage)
        return self._write("PUT", f"{_version_path(ref)}/stage", {"stage": stage}, wait, timeout)

    @translated
    def edit_metadata(self, ref: str, *, wait: bool = True, timeout: float = 60.0,
                      **changes: Any) -> dict[str, Any]:
        checks.check_metadata_changes(json.dumps(changes))
        return self._write("PATCH", f"{_version_path(ref)}/metadata", {"changes": changes},
                           wait, timeout)

    @translated
    def revert(self, ref: str, event_id: str, *, wait: bool = True, timeout: float = 60.0
               ) -> dict[str, Any]:
        return self._write("POST", f"{_version_path(ref)}/revert", {"event_id": event_id},
                           wait, timeout)

    @property
    def api_url(self) -> str:
        return self.http.url

    def close(self) -> None:
        self.http.close()
        if self._emitter is not None:
            self._emitter.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _version_path(ref: str) -> str:
    r = parse_ref(ref)
    return f"/v1/artifacts/{r.project}/{r.name}/versions/{r.selector or 'latest'}"


def _selector(version: str | int) -> str:
    """3 or "3" → "v3"; "v3", digests and aliases pass through."""
    text = str(version).strip()
    return f"v{text}" if text.isdigit() else text

