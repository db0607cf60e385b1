"""Fault 8: the api's blob directory full (a small tmpfs) during uploads.

The tmpfs is filled by a file of the test's own until less than a blob is left; an upload then
answers 507 `blob_store_full`, and nothing of it is visible (the blob 404s, no temporary file
is left). Once the filler goes, the same upload succeeds and its publish is recorded once.
Needs root to mount the tmpfs; skipped otherwise.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_TOKEN, Namespace, api_env
from tests.e2e.faults import private_env, reach
from tests.processes import Service

pytestmark = pytest.mark.faults

SIZE_KB = 2048


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_KB}k", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_blob_dir_full_answers_507_leaves_nothing_and_recovers(
    small_disk: Path, own_database: str, cairn_env: dict[str, str], namespace: Namespace,
    tmp_path: Path,
) -> None:
    env, project = private_env(cairn_env, namespace, "bf", DATABASE_URL=own_database,
                               CAIRN_BLOB_DIR=str(small_disk / "blobs"))
    ledger = Service("ledger", env, tmp_path).start()
    api = Service("api", api_env(env), tmp_path).start()
    client = httpx.AsyncClient(base_url=api.url, timeout=60,
                               headers={"Authorization": f"Bearer {API_TOKEN}"})
    try:
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * ((SIZE_KB - 200) * 1024))  # about 200 KB left
        data = os.urandom(600_000)
        digest = hashlib.sha256(data).hexdigest()

        full = await client.put(f"/v1/blobs/{digest}", content=data)
        assert full.status_code == 507, full.text
        assert full.json()["error"]["reason"] == "blob_store_full"
        assert (await client.get(f"/v1/blobs/{digest}")).status_code == 404  # nothing half-written
        assert not [p for p in (small_disk / "blobs").rglob("*") if p.is_file()]

        filler.unlink()  # space returns
        assert (await client.put(f"/v1/blobs/{digest}", content=data)).status_code in (200, 201)
        published = await client.post("/v1/artifacts", json={
            "kind": "dataset", "project": project, "name": "after-full",
            "files": [{"path": "d.bin", "size": len(data), "sha256": digest}],
            "metadata": {"creator": "alice@example.org"}})
        assert published.status_code == 202, published.text
        assert await reach(own_database, project, 1, 120) == 1
    finally:
        await client.aclose()
        api.stop()
        ledger.stop()
