"""The real S3-compatible server tests use (`scripts/stack up --s3` runs s3proxy): its
AWS_* settings from the environment, else from `scripts/stack env`, and a bucket of its own.

Where none answers a test skips, saying why; under CI (CI=true) it fails instead, since CI
starts one (.ci/run) and a skipped S3 test there would hide a broken server.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import obstore
import pytest
from cairn.core.adapters.s3_blobstore import S3BlobStore

from tests.endpoints import ROOT, parse_exports

if TYPE_CHECKING:
    from obstore.store import S3Config

S3_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")


def s3_env() -> dict[str, str]:
    """AWS_* settings and CAIRN_TEST_S3_BUCKET of the server, or {} when none is known."""
    found = {k: os.environ[k] for k in (*S3_VARIABLES, "CAIRN_TEST_S3_BUCKET")
             if os.environ.get(k)}
    if "AWS_ENDPOINT_URL" not in found:
        out = subprocess.run([str(ROOT / "scripts" / "stack"), "env"], capture_output=True,
                             text=True, timeout=60).stdout
        found = {k: v for k, v in parse_exports(out).items()
                 if k in S3_VARIABLES or k == "CAIRN_TEST_S3_BUCKET"}
    if "AWS_ENDPOINT_URL" not in found or "CAIRN_TEST_S3_BUCKET" not in found:
        return {}
    return found


def require_s3() -> dict[str, str]:
    """The server's settings, once it answers; skip (fail under CI) otherwise."""
    env = s3_env()
    why = "no S3 server: run `scripts/stack up --s3`" if not env else None
    if env:
        try:
            httpx.get(env["AWS_ENDPOINT_URL"], timeout=5)
        except httpx.HTTPError as exc:
            why = f"the S3 server at {env['AWS_ENDPOINT_URL']} does not answer: {exc}"
    if why is None:
        return env
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI starts one: .ci/run)")
    print(f"skipping: {why}")
    pytest.skip(why)


def fresh_url(env: dict[str, str], name: str) -> str:
    """`s3://<test bucket>/<name>-<random>`: a prefix no other test run uses."""
    return f"s3://{env['CAIRN_TEST_S3_BUCKET']}/{name}-{uuid.uuid4().hex[:10]}"


def service_s3_env(env: dict[str, str], blob_url: str) -> dict[str, str]:
    """What a Cairn service needs to keep its blobs at `blob_url`."""
    return {**{k: env[k] for k in S3_VARIABLES if k in env}, "CAIRN_BLOB_URL": blob_url}


def s3_config(env: dict[str, str], **changes: str) -> S3Config:
    """The S3 server's settings as obstore's config (what the AWS_* variables say)."""
    config: dict[str, Any] = {"endpoint": env["AWS_ENDPOINT_URL"],
                              "access_key_id": env["AWS_ACCESS_KEY_ID"],
                              "secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                              "region": env.get("AWS_REGION", "us-east-1"), **changes}
    return config  # type: ignore[return-value]


def empty(*stores: S3BlobStore) -> None:
    """Delete everything under the stores' prefixes: a test leaves nothing in the bucket."""
    for store in stores:
        for page in obstore.list(store.store):
            for meta in page:
                store.delete_key(meta["path"])
