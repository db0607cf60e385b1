"""An in-memory stand-in for the api's HTTP contract, for SDK unit tests (no services).

Only what the SDK relies on: blobs, publish (versions deduplicated by digest, recorded at
once), event status, resolve, versions, the 202 writes, and search and suggest as every
published version with a kind facet (no matching: the engine's part is tested on the real
stack). Integration tests use the real api.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from cairn.sdk import Client

TOKEN = "secret"


def _error(status: int, reason: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"reason": reason, "message": message}})


class FakeApi:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.versions: dict[str, list[dict[str, Any]]] = {}  # project/name -> versions
        self.events: dict[str, dict[str, Any]] = {}
        self.uploads: list[str] = []
        self.requests: list[httpx.Request] = []
        self.reject_next: tuple[str, str] | None = None

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def sdk(self) -> Client:
        """A Client of this fake, with its token and no progress bars."""
        from cairn.core.adapters.settings import Settings
        from cairn.sdk import Client

        return Client("http://api.test", TOKEN, Settings(), http=self.client(), progress=False)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if method in ("PUT", "POST", "PATCH", "DELETE") and \
                request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "unauthenticated", "a bearer token is required")
        if path == "/v1/blobs/missing":
            wanted = json.loads(request.content)["sha256"]
            return httpx.Response(200, json={"missing": [s for s in wanted if s not in self.blobs]})
        if path == "/v1/blobs/uploads" or path.endswith("/url"):  # a local store's api
            return _error(501, "direct_transfer_unavailable", "blobs are in a directory")
        if m := re.fullmatch(r"/v1/blobs/([0-9a-f]{64})", path):
            return self._blob(method, m.group(1), request)
        if path == "/v1/artifacts" and method == "POST":
            return self._waited(request, self._publish(self._body(request)))
        if path == "/v1/blobs" and method == "POST":  # many small blobs (cairn.sdk.packed)
            stored = [self._store(sha, data) for (sha, data) in _parts(request)]
            return httpx.Response(200, json={"stored": stored, "receipts": {}})
        if path == "/v1/artifacts/batch/status":  # the publisher's long poll
            ids = json.loads(request.content)["event_ids"]
            return httpx.Response(200, json={
                e: self.events.get(e, {"status": "pending"}) for e in ids})
        if m := re.fullmatch(r"/v1/events/(.+)", path):
            event = self.events.get(m.group(1))
            return httpx.Response(200, json=event) if event else _error(404, "not_found", "no")
        if path == "/v1/resolve":
            return self._resolve(request.url.params["ref"])
        if path == "/v1/search":
            return self._search()
        if path == "/v1/suggest":
            return self._suggest(request.url.params["prefix"])
        if m := re.fullmatch(r"/v1/artifacts/([^/]+)/([^/]+)", path):
            return self._summary(f"{m.group(1)}/{m.group(2)}")
        if method in ("PUT", "PATCH", "DELETE", "POST"):
            return self._recorded({"status": "recorded", "seq": len(self.events) + 1})
        return _error(404, "not_found", f"{method} {path}")

    def _body(self, request: httpx.Request) -> dict[str, Any]:
        """The publish's JSON, or a multipart one's manifest with its files stored."""
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return dict(json.loads(request.content))
        parts = _parts(request)
        manifest = json.loads(next(data for name, data in parts if name is None))
        for name, data in parts:
            if name is not None:
                self._store(hashlib.sha256(data).hexdigest(), data)
        return dict(manifest)

    def _store(self, sha: str, data: bytes) -> dict[str, Any]:
        self.uploads.append(sha)
        self.blobs[sha] = data
        return {"sha256": sha, "size": len(data)}

    def _waited(self, request: httpx.Request, reply: httpx.Response) -> httpx.Response:
        """?wait_ms: the answer carries the event's status (recorded at once here)."""
        if reply.status_code != 202 or "wait_ms" not in request.url.params:
            return reply
        body = reply.json()
        return httpx.Response(202, json={**body, "status": self.events[body["event_id"]]})

    def _blob(self, method: str, sha: str, request: httpx.Request) -> httpx.Response:
        if method == "PUT":
            if hashlib.sha256(request.content).hexdigest() != sha:
                return _error(400, "digest_mismatch", "bytes do not hash to the name")
            self.uploads.append(sha)
            self.blobs[sha] = request.content
            return httpx.Response(201, json={"sha256": sha, "size": len(request.content)})
        if sha not in self.blobs:
            return _error(404, "not_found", f"no blob {sha}")
        return httpx.Response(200, content=self.blobs[sha])

    def _publish(self, body: dict[str, Any]) -> httpx.Response:
        from cairn.core.domain import payloads

        missing = [f["sha256"] for f in body["files"] if f["sha256"] not in self.blobs]
        if missing:
            return _error(400, "missing_blobs", f"upload first: {missing}")
        checked = payloads.published(
            kind=body["kind"], project=body["project"], name=body["name"], files=body["files"],
            metadata_=body["metadata"], environment=body["environment"], links=body["links"],
            stage=body["stage"], extra=body["extra"])
        artifact = f"{body['project']}/{body['name']}"
        if self.reject_next:
            reason, message = self.reject_next
            rejected = self._recorded({"status": "rejected", "reason": reason,
                                       "message": message})
            return httpx.Response(202, json={**rejected.json(), "digest": checked["digest"],
                                             "artifact": artifact})
        versions = self.versions.setdefault(artifact, [])
        same = [v for v in versions if v["digest"] == checked["digest"]]
        outcome = "duplicate" if same else "applied"
        if not same:
            versions.append({**checked, "version_number": len(versions) + 1,
                             "ref": f"{artifact}@v{len(versions) + 1}"})
        version = same[0] if same else versions[-1]
        reply = self._recorded({"status": "recorded", "seq": len(self.events) + 1,
                                "outcome": outcome, "version_number": version["version_number"],
                                "digest": version["digest"], "ref": version["ref"]})
        return httpx.Response(202, json={**reply.json(), "digest": checked["digest"],
                                         "artifact": artifact})

    def _recorded(self, status: dict[str, Any]) -> httpx.Response:
        event_id = str(uuid.uuid4())
        self.events[event_id] = status
        return httpx.Response(202, json={"event_id": event_id})

    def _resolve(self, ref: str) -> httpx.Response:
        artifact, _, selector = ref.partition("@")
        for v in self.versions.get(artifact, []):
            if selector in (f"v{v['version_number']}", "") or v["digest"].startswith(selector):
                return httpx.Response(200, json=v)
        return _error(404, "not_found", f"{ref} does not exist")

    def _summary(self, artifact: str) -> httpx.Response:
        versions = self.versions.get(artifact)
        if not versions:
            return _error(404, "not_found", f"{artifact} does not exist")
        return httpx.Response(200, json={"versions": versions, "aliases": {}})

    def _documents(self) -> list[dict[str, Any]]:
        return [{"id": v["ref"], "ref": v["ref"], "artifact": a, "kind": v["kind"],
                 "version_number": v["version_number"], "digest": v["digest"],
                 "stage": v.get("stage"), "status": "active", "validation": "pending",
                 "legal_hold": False, "tags": v["metadata"].get("tags", []),
                 "metrics": v["metadata"].get("metrics", {}), "created_at": 1_700_000_000_000,
                 "usage": {"views": 0, "downloads": 0, "total": 0}, "score": 1.0}
                for a, versions in sorted(self.versions.items()) for v in versions]

    def _search(self) -> httpx.Response:
        docs = self._documents()
        kinds: dict[str, int] = {}
        for d in docs:
            kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
        return httpx.Response(200, json={
            "total": len(docs), "page": 1, "size": 20, "hits": docs,
            "facets": {"kind": [{"value": k, "count": n} for k, n in sorted(kinds.items())],
                       "tag": []}})

    def _suggest(self, prefix: str) -> httpx.Response:
        found = [{"value": a, "kind": v[0]["kind"]} for a, v in sorted(self.versions.items())
                 if a.partition("/")[2].startswith(prefix)]
        return httpx.Response(200, json={"field": "name", "prefix": prefix,
                                         "suggestions": found})


def _parts(request: httpx.Request) -> list[tuple[str | None, bytes]]:
    """A multipart body's parts as (filename, bytes): the manifest has no filename."""
    boundary = request.headers["content-type"].split("boundary=", 1)[1].encode()
    out: list[tuple[str | None, bytes]] = []
    for raw in request.content.split(b"--" + boundary)[1:-1]:
        head, _, data = raw[2:].partition(b"\r\n\r\n")
        named = re.search(rb'filename="([^"]*)"', head)
        out.append((named.group(1).decode() if named else None, data[:-2]))
    return out
