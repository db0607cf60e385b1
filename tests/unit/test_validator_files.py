"""File digests re-verified against a real (temporary) local blob store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cairn.core.adapters.blobstore import LocalBlobStore
from cairn.validator.checks import files


def entry(path: str, data: bytes) -> dict[str, object]:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_present_and_intact_blobs_pass(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    a, b = b"weights" * 1000, b"config"
    store.put([a]), store.put([b])
    outcome = files.check([entry("model.pt", a), entry("config.json", b),
                           entry("copy/model.pt", a)], store)
    assert (outcome.status, outcome.reasons) == ("passed", ())


def test_missing_corrupted_and_resized_blobs_each_fail(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    kept, rotten, gone = b"kept", b"rotten bytes", b"never uploaded"
    store.put([kept])
    sha, _ = store.put([rotten])
    blob = store.path(sha)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"bit rot")
    wrong_size = {**entry("kept.bin", kept), "size": 99}
    outcome = files.check([entry("gone.bin", gone), entry("rotten.bin", rotten), wrong_size],
                          store)
    assert outcome.status == "failed"
    gone_sha = hashlib.sha256(gone).hexdigest()[:12]
    assert outcome.reasons == (
        f"files: gone.bin (sha256 {gone_sha}…) is missing from the blob store",
        f"files: rotten.bin (sha256 {sha[:12]}…) is corrupted: its bytes no longer hash to "
        "its sha256",
        "files: kept.bin is 4 bytes; the manifest says 99",
    )
