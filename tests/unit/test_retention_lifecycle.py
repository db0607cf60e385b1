"""The ledger's lifecycle decisions, and where the archiver puts blobs (no services)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from cairn.archiver.tiers import Tiers, placement
from cairn.core.adapters.blobstore import LocalBlobStore
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.retention import VersionFacts
from cairn.ledger.lifecycle import check_writable, decide


def facts(**fields: object) -> VersionFacts:
    base = {"id": 1, "artifact": "p/m", "number": 3, "digest": "0" * 64, "kind": "model",
            "stage": None, "status": "active", "created_at": 0}
    return VersionFacts(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize("status, action, after", [
    ("active", "archive", "archived"), ("active", "delete", "deleted"),
    ("archived", "delete", "deleted"), ("archived", "restore", "active"),
])
def test_allowed_moves(status: str, action: str, after: str) -> None:
    assert decide(facts(status=status), action) == after


@pytest.mark.parametrize("fields, action, reason, words", [
    ({"stage": "production"}, "archive", "protected", "in production"),
    ({"legal_hold": True}, "delete", "protected", "legal hold"),
    ({"referenced_by": ("p/e@v1",)}, "delete", "protected", "p/e@v1 points to it"),
    ({"status": "deleted"}, "restore", "version_deleted", "cannot be restored"),
    ({"status": "active"}, "restore", "not_archived", "nothing to restore"),
    ({"status": "archived"}, "archive", "already_archived", "archived already"),
])
def test_refusals_say_why(fields: dict[str, object], action: str, reason: str,
                          words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decide(facts(**fields), action)
    assert caught.value.reason == reason and words in str(caught.value)


def test_restore_is_allowed_whatever_protects_the_version() -> None:
    assert decide(facts(status="archived", stage="production", legal_hold=True),
                  "restore") == "active"


def test_archived_versions_are_read_only_and_deleted_ones_take_nothing() -> None:
    check_writable("p/m@v1", "active", "a metadata edit")
    check_writable("p/m@v1", "archived", "legal hold", archived_ok=True)
    with pytest.raises(InvalidInput, match="restore it first: cairn restore p/m@v1") as caught:
        check_writable("p/m@v1", "archived", "a metadata edit")
    assert caught.value.reason == "version_archived"
    with pytest.raises(InvalidInput) as caught:
        check_writable("p/m@v1", "deleted", "legal hold", archived_ok=True)
    assert caught.value.reason == "version_deleted"


def _blob(store: LocalBlobStore, data: bytes) -> str:
    return store.put([data])[0]


def test_blobs_move_between_tiers_and_go_when_only_tombstones_list_them(tmp_path: Path
                                                                        ) -> None:
    hot, cold = LocalBlobStore(tmp_path / "hot"), LocalBlobStore(tmp_path / "cold")
    tiers = Tiers(hot, cold)
    sha = _blob(hot, b"weights")
    assert tiers.place(sha, placement(hot=False, cold=True)) == "archived"
    assert not hot.has(sha) and b"".join(cold.open(sha)) == b"weights"
    assert tiers.place(sha, "cold") is None  # again: nothing to do
    assert tiers.place(sha, placement(hot=True, cold=True)) == "restored"
    assert hot.has(sha) and not cold.has(sha)
    assert tiers.place_all({sha: placement(hot=False, cold=False)}) == {sha: "removed"}
    assert not hot.has(sha) and not cold.has(sha) and tiers.trash.has(sha)
    assert tiers.place(sha, "gone", purge=True) == "purged"
    assert not tiers.trash.has(sha)
    assert tiers.place(hashlib.sha256(b"never").hexdigest(), "hot") == "missing"


def test_a_blob_left_in_both_tiers_by_a_crash_ends_in_one(tmp_path: Path) -> None:
    hot, cold = LocalBlobStore(tmp_path / "hot"), LocalBlobStore(tmp_path / "cold")
    sha = _blob(hot, b"data")
    _blob(cold, b"data")
    assert Tiers(hot, cold).place(sha, "cold") == "archived"
    assert cold.has(sha) and not hot.has(sha)


def test_a_removed_blob_that_a_new_version_lists_comes_back_from_the_trash(tmp_path: Path
                                                                           ) -> None:
    """A publish that skipped its upload because the blob was stored, just before a delete
    removed it, gets its bytes back when the archiver places the new version's blobs."""
    hot, cold = LocalBlobStore(tmp_path / "hot"), LocalBlobStore(tmp_path / "cold")
    tiers = Tiers(hot, cold)
    sha = _blob(hot, b"shared weights")
    assert tiers.place(sha, "gone") == "removed"
    assert tiers.place(sha, "hot") == "restored"
    assert b"".join(hot.open(sha)) == b"shared weights" and not tiers.trash.has(sha)


def test_only_blobs_past_the_grace_period_are_purgeable(tmp_path: Path) -> None:
    hot, cold = LocalBlobStore(tmp_path / "hot"), LocalBlobStore(tmp_path / "cold")
    tiers = Tiers(hot, cold)
    old, new = _blob(hot, b"old"), _blob(hot, b"new")
    tiers.place_all({old: "gone", new: "gone"})
    os.utime(tiers.trash.path(old), (1_000, 1_000))
    assert list(tiers.purgeable(3600)) == [old]
    assert sorted(tiers.purgeable(0, now=time.time() + 1)) == sorted([old, new])
