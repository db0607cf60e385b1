"""File digests re-verified against the blob store: every file there, hashing to its sha256.

The ledger records manifests, not bytes; this is where a version whose bytes never arrived,
went missing or rotted on disk is caught. Blocking I/O: the caller runs it in a thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cairn.core.adapters.blobstore import BlobCorrupted, BlobStore
from cairn.validator.checks import Outcome, judged

CHECK = "files"


def _measure(blobs: BlobStore, sha256: str) -> int | str:
    """The blob's size after reading it through (which verifies its digest), or a problem."""
    if not blobs.has(sha256):
        return "is missing from the blob store"
    try:
        return sum(len(chunk) for chunk in blobs.open(sha256))
    except BlobCorrupted:
        return "is corrupted: its bytes no longer hash to its sha256"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"


def check(files: Sequence[Mapping[str, Any]], blobs: BlobStore) -> Outcome:
    measured: dict[str, int | str] = {}  # a blob shared by several paths is read once
    problems = []
    for f in files:
        sha = f["sha256"]
        if sha not in measured:
            measured[sha] = _measure(blobs, sha)
        got = measured[sha]
        if isinstance(got, str):
            problems.append(f"files: {f['path']} (sha256 {sha[:12]}…) {got}")
        elif got != f["size"]:
            problems.append(f"files: {f['path']} is {got} bytes; the manifest says {f['size']}")
    return judged(CHECK, problems)
