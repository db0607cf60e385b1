"""`cairn import`'s refusals of hostile archives and what it reads from a crate, no stack.

Each hostile zip is refused with its reason, nothing lands outside the temporary
directory, and that directory is gone afterwards."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cairn.core.domain.crate import crate
from cairn.core.domain.crate_import import versions
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.payloads import assembled, draft
from cairn.sdk.crate_import import read_metadata, unpacked, verify, version_root
from cairn.sdk.errors import CairnError

from tests.unit.test_crate import detail, link

DATA = b"abc"


def a_crate(extra: Callable[[zipfile.ZipFile], None] | None = None,
            data: bytes = DATA) -> dict[str, Any]:
    d = detail("net", 3, [link("derived_from", "p/raw@v1")], license="MIT")
    d["files"] = [{"path": "a/b.bin", "size": len(DATA), "media_type": None,
                   "sha256": hashlib.sha256(DATA).hexdigest()}]
    d["aliases"] = ["latest", "best"]
    d["stage"] = "staging"
    return {"body": crate([d], name="x", description="y", published="z"), "data": data,
            "extra": extra}


def zipped(tmp_path: Path, spec: dict[str, Any]) -> Path:
    out = tmp_path / "crate.zip"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("ro-crate-metadata.json", json.dumps(spec["body"]))
        zf.writestr("p/net/v3/a/b.bin", spec["data"])
        if spec["extra"]:
            spec["extra"](zf)
    return out


def symlink(zf: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("p/net/v3/a/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, "/etc/passwd")


HOSTILE = {
    "dotdot": (lambda zf: zf.writestr("../escaped.txt", b"x"), "unsafe_member", {}),
    "absolute": (lambda zf: zf.writestr("/tmp/escaped-abs.txt", b"x"), "unsafe_member", {}),
    "symlink": (symlink, "unsafe_member", {}),
    "members": (lambda zf: [zf.writestr(f"m/{i}", b"") for i in range(5)],
                "too_many_members", {"max_members": 4}),
    "bomb": (lambda zf: zf.writestr("big.bin", b"\0" * 1_000_000,
                                    compress_type=zipfile.ZIP_DEFLATED),
             "crate_too_large", {"max_bytes": 100_000}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_and_leave_nothing(case: str, tmp_path: Path) -> None:
    add, reason, limits = HOSTILE[case]
    src = zipped(tmp_path, a_crate(add))
    before = set(Path(tempfile.gettempdir()).iterdir())
    with pytest.raises(CairnError) as refused, unpacked(src, **limits):
        pass
    assert refused.value.reason == reason
    assert set(Path(tempfile.gettempdir()).iterdir()) == before  # its scratch dir is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crate.zip"]
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert not Path("/tmp/escaped-abs.txt").exists()


def test_a_file_that_is_not_the_crates_is_refused(tmp_path: Path) -> None:
    src = zipped(tmp_path, a_crate(data=b"abd"))
    with unpacked(src) as root:
        found = versions(read_metadata(root))
        with pytest.raises(CairnError) as refused:
            verify(root, found)
    assert refused.value.reason == "crate_digest_mismatch"


def test_a_directory_with_a_symlink_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "crate"
    (root / "p").mkdir(parents=True)
    os.symlink("/etc/passwd", root / "p" / "x")
    with pytest.raises(CairnError) as refused, unpacked(root):
        pass
    assert refused.value.reason == "unsafe_member"


def test_a_good_crate_reads_back_as_it_was_exported(tmp_path: Path) -> None:
    with unpacked(zipped(tmp_path, a_crate())) as root:
        (v,) = versions(read_metadata(root), {"p": "q"})
        verify(root, [v])
        assert version_root(root, v) == root / "p" / "net" / "v3"
    assert (v.kind, v.project, v.name, v.number, v.digest) == ("model", "q", "net", 3,
                                                               f"{3:064x}")
    assert [(f.member, f.path) for f in v.files] == [("p/net/v3/a/b.bin", "a/b.bin")]
    assert v.links == [{"relation": "derived_from", "target": "q/raw@v1"}]
    assert v.metadata["license"] == "MIT" and v.environment["python"] == "3.12.4"
    assert (v.stage, v.aliases) == ("staging", ["best"])


def test_a_version_archived_when_exported_reads_back_without_files() -> None:
    body = crate([detail("net", 1, []), {**detail("net", 2, []), "status": "archived"}],
                 name="x", description="y", published="2026-01-01")
    assert [(v.number, v.status) for v in versions(body)] == [(1, "active"), (2, "archived")]


@pytest.mark.parametrize("number", [0, -1, True, "3", 1.0])
def test_a_requested_version_number_is_a_whole_number_from_one(number: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        draft(kind="model", project="p", name="n", metadata_={"creator": "c"},
              version_number=number)
    assert refused.value.reason == "invalid_version_number"


def test_an_import_asks_for_its_number_only_when_given() -> None:
    plain = draft(kind="model", project="p", name="n", metadata_={"creator": "c"})
    asked = draft(kind="model", project="p", name="n", metadata_={"creator": "c"},
                  version_number=7, as_recorded=True)
    assert "version_number" not in plain.request([]) and "as_recorded" not in plain.request([])
    assert (asked.request([])["version_number"], asked.request([])["as_recorded"]) == (7, True)
    body = assembled(asked, [])
    assert (body["version_number"], body["as_recorded"]) == (7, True)
