"""The retention tests' blob tiers, once per blob store: `blob_world` is the session's own
stack (the local directory, `archive_dir`), then a second namespace whose ledger, api and
archiver keep their blobs in S3 (a fresh prefix of the test bucket on the stack's s3proxy,
its archive tier `<prefix>-archive` in storage class STANDARD_IA, direct uploads over 5 MiB
in parts). Tests see the tiers through the same BlobStore interface Cairn uses, so one test
body checks both.

    from tests.blob_worlds import blob_world_fixture  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from cairn.core.adapters.blob_stores import trash_location
from cairn.core.adapters.blobstore import BlobStore, LocalBlobStore
from cairn.core.adapters.s3_blobstore import S3BlobStore
from cairn.sdk import Client

from tests import endpoints as discovery
from tests.conftest import (
    API_TOKEN,
    ARCHIVER_INTERVAL,
    VALIDATED_PROJECTS,
    Namespace,
    api_env,
    private_namespace,
    service_env,
)
from tests.ledger_helpers import settings_for
from tests.processes import Service
from tests.s3_server import empty, fresh_url, require_s3, s3_config, service_s3_env

# The S3 world's api hands out direct uploads in parts of S3's smallest part size, so a few
# MB take the multipart path; its archiver writes the cold tier in another storage class.
PART_BYTES = 5 * 1024 * 1024
COLD_CLASS = "STANDARD_IA"


@dataclass(frozen=True)
class BlobWorld:
    """A running api, validator and archiver, an SDK on that api, and views of its three
    tiers."""

    kind: str
    sdk: Client
    api: Service
    env: dict[str, str]  # the services' environment (cairn_env of that namespace)
    namespace: Namespace
    hot: BlobStore
    cold: BlobStore
    trash: BlobStore

    def where(self, sha256: str) -> tuple[bool, bool]:
        """(in the hot store, in the archive tier)."""
        return self.hot.has(sha256), self.cold.has(sha256)


@pytest.fixture(scope="module", params=["local", "s3"], name="blob_world")
def blob_world_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[BlobWorld]:
    if request.param == "local":
        env: dict[str, str] = request.getfixturevalue("cairn_env")
        archive: Path = request.getfixturevalue("archive_dir")
        request.getfixturevalue("archiver")
        request.getfixturevalue("validator")
        api: Service = request.getfixturevalue("api")
        with Client(api.url, API_TOKEN, settings_for(env), progress=False) as sdk:
            yield BlobWorld("local", sdk, api, env, request.getfixturevalue("namespace"),
                            LocalBlobStore(Path(env["CAIRN_BLOB_DIR"])),
                            LocalBlobStore(archive), LocalBlobStore(archive / "trash"))
        return
    s3 = require_s3()
    endpoints: discovery.Endpoints = request.getfixturevalue("endpoints")
    hot_url = fresh_url(s3, "retention")
    cold_url = f"{hot_url}-archive"
    with ExitStack() as stack:
        ns = stack.enter_context(private_namespace(endpoints))
        env = {**service_env(endpoints, ns, tmp_path_factory.mktemp("unused-blobs")),
               **service_s3_env(s3, hot_url)}
        logs = tmp_path_factory.mktemp("s3-logs")
        services = {}
        for name, extra in (("ledger", {}), ("archiver", {
                "CAIRN_ARCHIVER_INTERVAL": ARCHIVER_INTERVAL,
                "CAIRN_COLD_STORAGE_CLASS": COLD_CLASS}), ("validator", {
                "CAIRN_VALIDATOR_PROJECTS": VALIDATED_PROJECTS}),
                ("api", api_env({}, CAIRN_MULTIPART_PART_BYTES=str(PART_BYTES)))):
            services[name] = Service(name, {**env, **extra}, logs).start()
            stack.callback(services[name].stop)
        api = services["api"]
        sdk = stack.enter_context(Client(api.url, API_TOKEN, settings_for(env), progress=False))
        config = s3_config(s3)
        hot, cold = S3BlobStore(hot_url, config), S3BlobStore(cold_url, config)
        stack.callback(empty, hot, cold)  # the trash is under the archive's prefix
        yield BlobWorld("s3", sdk, api, env, ns, hot, cold,
                        S3BlobStore(str(trash_location(cold_url)), config))
