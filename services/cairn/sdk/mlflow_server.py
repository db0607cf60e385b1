"""An MLflow tracking server read over its REST API with httpx (no `mlflow` package needed):
registered models, their versions, runs, experiments, and a version's files through the
server's artifact proxy (`mlflow server --serve-artifacts`, the mlflow-artifacts API).

Credentials come from the environment as MLflow's own client reads them:
MLFLOW_TRACKING_TOKEN (a Bearer token), else MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD (basic auth); MLFLOW_TRACKING_INSECURE_TLS=true skips the TLS
check, MLFLOW_TRACKING_SERVER_CERT_PATH names a CA bundle. Every failure is a CairnError:
mlflow_unreachable, mlflow_auth_required, mlflow_refused or mlflow_artifacts_unreachable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from cairn.core.adapters.blobstore import CHUNK
from cairn.sdk.errors import CairnError

PAGE = 1000  # the largest page registered-models/search and model-versions/search give
API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
RETRIES = 3


def auth_from(env: Mapping[str, str]) -> tuple[dict[str, str], httpx.Auth | None, bool | str]:
    """Headers, auth and TLS verification as MLflow's client would use them."""
    token = env.get("MLFLOW_TRACKING_TOKEN")
    user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    auth = httpx.BasicAuth(user, password or "") if user and not token else None
    verify: bool | str = True
    if env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        verify = False
    elif env.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
        verify = env["MLFLOW_TRACKING_SERVER_CERT_PATH"]
    return headers, auth, verify


class MlflowServer:
    """One tracking server. `http` replaces the httpx client (tests)."""

    def __init__(self, uri: str, env: Mapping[str, str] | None = None,
                 http: httpx.Client | None = None, timeout: float = 60.0) -> None:
        self.uri = uri.rstrip("/")
        if urlsplit(self.uri).scheme not in ("http", "https"):
            raise CairnError("invalid_option", f"--tracking-uri {uri!r}: give the tracking "
                             "server's http(s) URL (a file store or database URI cannot be "
                             "read over REST; run `mlflow server` on it)")
        headers, auth, verify = auth_from(os.environ if env is None else env)
        self.http = http or httpx.Client(
            base_url=self.uri, headers=headers, auth=auth, verify=verify,
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=httpx.HTTPTransport(retries=RETRIES))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> MlflowServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the tracking and registry API -----------------------------------------------------

    def get(self, route: str, **params: Any) -> dict[str, Any]:
        reply = self._send("GET", route, params={k: v for k, v in params.items()
                                                if v is not None})
        body = reply.json()
        return body if isinstance(body, dict) else {}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            reply = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CairnError("mlflow_unreachable", f"the MLflow tracking server at {self.uri} "
                             f"did not answer ({type(exc).__name__}: {exc}); check "
                             "--tracking-uri (or MLFLOW_TRACKING_URI) and that it runs",
                             local=False) from None
        if reply.status_code >= 400:
            raise self._refused(reply, f"{method} {path}")
        return reply

    def pages(self, route: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged search (`next_page_token`)."""
        token = None
        while True:
            body = self.get(route, max_results=PAGE, page_token=token, **params)
            yield from body.get(key) or []
            token = body.get("next_page_token")
            if not token:
                return

    def registered_models(self) -> Iterator[dict[str, Any]]:
        return self.pages(f"{API}/registered-models/search", "registered_models")

    def registered_model(self, name: str) -> dict[str, Any]:
        """One registered model with its aliases (search leaves them out on some servers)."""
        return dict(self.get(f"{API}/registered-models/get", name=name)["registered_model"])

    def model_versions(self, name: str) -> Iterator[dict[str, Any]]:
        quoted = name.replace("'", "\\'")
        return self.pages(f"{API}/model-versions/search", "model_versions",
                          filter=f"name='{quoted}'")

    def run(self, run_id: str) -> dict[str, Any] | None:
        """The run (info, data, inputs), or None when it was deleted from the server."""
        try:
            return dict(self.get(f"{API}/runs/get", run_id=run_id)["run"])
        except CairnError as exc:
            if exc.detail.get("mlflow_status") == 404:
                return None
            raise

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return dict(self.get(f"{API}/experiments/get",
                             experiment_id=experiment_id)["experiment"])

    def download_uri(self, name: str, version: str) -> str:
        return str(self.get(f"{API}/model-versions/get-download-uri", name=name,
                            version=version)["artifact_uri"])

    # -- files, through the server's artifact proxy ----------------------------------------

    def files_path(self, name: str, version: str) -> str:
        """Where a model version's files are under the artifact proxy. get-download-uri
        answers `runs:/<run>/<path>` (the run's artifact root + path) or the location itself
        (an MLflow 3 logged model's is its artifact root, mlflow-artifacts:/<exp>/models/...)."""
        uri = self.download_uri(name, version)
        if uri.startswith("runs:/"):
            run_id, _, below = uri[len("runs:/"):].strip("/").partition("/")
            run = self.run(run_id)
            if run is None:
                raise CairnError("mlflow_refused", f"{uri}: the run is gone from the "
                                 "tracking server", local=False)
            uri = f"{str(run['info']['artifact_uri']).rstrip('/')}/{below}".rstrip("/")
        return self.proxied_path(uri)

    def proxied_path(self, artifact_uri: str) -> str:
        """The path under the artifact proxy of an `mlflow-artifacts:` URI; another scheme
        (s3://, file://, ...) is not served by the server, so cannot be read from here."""
        parts = urlsplit(artifact_uri)
        if parts.scheme != "mlflow-artifacts":
            raise CairnError("mlflow_artifacts_unreachable", f"the files are at "
                             f"{artifact_uri}, which the tracking server does not serve: run "
                             "`mlflow server --serve-artifacts` (the default since MLflow 2.0) "
                             "with an --artifacts-destination", local=False)
        return parts.path.strip("/")

    def files(self, path: str) -> Iterator[tuple[str, int]]:
        """Every file under `path` (recursively) as (path relative to it, size)."""
        todo = [""]
        while todo:
            below = todo.pop()
            where = f"{path}/{below}".rstrip("/") if below else path
            for f in self.get(ARTIFACTS, path=where).get("files") or []:
                rel = str(PurePosixPath(below, PurePosixPath(str(f["path"])).name)) \
                    if below else PurePosixPath(str(f["path"])).name
                if f.get("is_dir"):
                    todo.append(rel)
                else:
                    yield rel, int(f.get("file_size") or 0)

    def download(self, path: str, dest: Path, advance: Callable[[int], None]) -> str:
        """One file of the proxy into `dest`, streamed; its sha256."""
        digest = hashlib.sha256()
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.http.stream("GET", f"{ARTIFACTS}/{quote(path)}") as reply:
                if reply.status_code >= 400:
                    reply.read()
                    raise self._refused(reply, f"GET {path}")
                with dest.open("wb") as out:
                    for chunk in reply.iter_bytes(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        advance(len(chunk))
        except httpx.TransportError as exc:
            raise CairnError("mlflow_unreachable", f"downloading {path} from the MLflow "
                             f"tracking server at {self.uri} failed ({type(exc).__name__}: "
                             f"{exc}); run the import again", local=False) from None
        return digest.hexdigest()

    def _refused(self, reply: httpx.Response, what: str) -> CairnError:
        if reply.status_code in (401, 403):
            return CairnError("mlflow_auth_required", f"the MLflow tracking server at "
                              f"{self.uri} answered {reply.status_code} to {what}: set "
                              "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
                              "MLFLOW_TRACKING_PASSWORD, to credentials that may read it",
                              local=False)
        return CairnError("mlflow_refused", f"the MLflow tracking server answered "
                          f"{reply.status_code} to {what}: {_said(reply)}",
                          detail={"mlflow_status": reply.status_code}, local=False)

def _said(reply: httpx.Response) -> str:
    """MLflow's `{"error_code", "message"}`, else the start of the body."""
    try:
        body = reply.json()
        return f"{body['error_code']}: {body['message']}"[:500]
    except Exception:
        return reply.text.strip()[:300] or reply.reason_phrase
