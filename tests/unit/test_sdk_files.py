"""Manifest building: paths as users give them, refusals before any byte is read, hashing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cairn.core.domain.identity import InvalidInput, manifest_digest
from cairn.sdk.files import manifest, media_type, plan


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "data" / "sub" / "part-0.bin").write_bytes(b"\x00" * 10)
    (tmp_path / "model.pt").write_bytes(b"weights")
    return tmp_path


def test_paths_keep_their_form_relative_to_root(tree: Path) -> None:
    got = [(p, s.relative_to(tree).as_posix()) for p, s in plan(["model.pt", "data/"], tree)]
    assert got == [("data/sub/part-0.bin", "data/sub/part-0.bin"),
                   ("data/train.csv", "data/train.csv"), ("model.pt", "model.pt")]


def test_dot_publishes_the_root_itself(tree: Path) -> None:
    assert [p for p, _ in plan(".", tree)] == ["data/sub/part-0.bin", "data/train.csv",
                                               "model.pt"]


def test_absolute_path_inside_root_becomes_relative(tree: Path) -> None:
    assert [p for p, _ in plan([tree / "data" / "train.csv"], tree)] == ["data/train.csv"]


@pytest.mark.parametrize("given,reason", [
    ("../etc/passwd", "path_traversal"),
    ("data/../model.pt", "path_traversal"),
    ("/etc/hostname", "absolute_path"),
    ("missing.txt", "file_not_found"),
])
def test_unsafe_or_missing_paths_are_refused(tree: Path, given: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        plan([given], tree)
    assert err.value.reason == reason


def test_symlink_escaping_root_is_refused(tree: Path, tmp_path_factory: pytest.TempPathFactory
                                          ) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("not yours")
    os.symlink(outside, tree / "data" / "leak.txt")
    with pytest.raises(InvalidInput) as err:
        plan(["data"], tree)
    assert err.value.reason == "symlink_escape"


def test_symlink_inside_root_is_followed(tree: Path) -> None:
    os.symlink(tree / "model.pt", tree / "data" / "model-link.pt")
    files = manifest(["data"], tree)
    link = next(f for f in files if f.path == "data/model-link.pt")
    assert link.sha256 == hashlib.sha256(b"weights").hexdigest()


def test_symlink_loop_is_refused(tree: Path) -> None:
    os.symlink(tree / "data", tree / "data" / "sub" / "again")
    with pytest.raises(InvalidInput) as err:
        plan(["data"], tree)
    assert err.value.reason == "symlink_loop"


def test_mapping_names_entries_explicitly(tree: Path, tmp_path_factory: pytest.TempPathFactory
                                         ) -> None:
    elsewhere = tmp_path_factory.mktemp("run7")
    (elsewhere / "ckpt.bin").write_bytes(b"ckpt")
    pairs = plan({"weights": elsewhere, "README.md": tree / "model.pt"}, tree)
    assert [p for p, _ in pairs] == ["README.md", "weights/ckpt.bin"]
    with pytest.raises(InvalidInput):
        plan({"../x": tree / "model.pt"}, tree)


def test_the_same_path_twice_is_refused(tree: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        plan(["model.pt", str(tree / "model.pt")], tree)
    assert err.value.reason == "duplicate_path"


def test_nothing_to_publish_is_refused(tree: Path) -> None:
    with pytest.raises(InvalidInput):
        plan([], tree)


def test_manifest_hashes_sizes_and_media_types(tree: Path) -> None:
    files = {f.path: f for f in manifest(["data", "model.pt"], tree, show=False)}
    csv = files["data/train.csv"]
    assert (csv.size, csv.sha256) == (8, hashlib.sha256(b"a,b\n1,2\n").hexdigest())
    assert csv.media_type == "text/csv"
    assert files["data/sub/part-0.bin"].entry()["size"] == 10


def test_same_content_gives_the_same_digest_whatever_the_order(tree: Path) -> None:
    a = manifest(["model.pt", "data"], tree)
    b = manifest(["data", "model.pt"], tree)
    assert manifest_digest("dataset", [f.entry() for f in a]) == \
        manifest_digest("dataset", [f.entry() for f in b])


def test_large_files_hash_in_chunks_with_a_progress_bar(tree: Path) -> None:
    big = tree / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    [entry] = manifest(["big.bin"], tree, show=True)
    assert entry.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    assert entry.size == big.stat().st_size


@pytest.mark.parametrize("path,expected", [
    ("model.pt", "application/octet-stream"), ("part-0.parquet", "application/vnd.apache.parquet"),
    ("log.jsonl", "application/jsonl"), ("README.md", "text/markdown"),
    ("a/b/config.json", "application/json"), ("weights.unknownext", None),
])
def test_media_types_know_ml_formats(path: str, expected: str | None) -> None:
    assert media_type(path) == expected


@pytest.mark.parametrize("name,reason", [
    ("n" * 256, "path_component_too_long"),
    ("d/" + "\u00e9" * 128, "path_component_too_long"),  # 128 characters, 256 bytes
    ("/".join(["p" * 200] * 21), "path_too_long"),  # 4,220 bytes, each name short
])
def test_a_path_no_file_system_can_hold_is_refused(tree: Path, name: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        plan({name: tree / "model.pt"}, tree)
    assert err.value.reason == reason


def _deep_tree(root: Path) -> None:
    """deep/ + 20 directories of 200 characters (4,024 bytes: still a path the system takes
    relative to root) holding a file whose manifest path is 4,125 bytes long."""
    os.mkdir(root / "deep")
    fd = os.open(root / "deep", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(20):
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("f" * 100, os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)


def test_a_file_whose_path_is_too_long_is_refused_before_it_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _deep_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInput) as err:
        plan(["deep"], ".")
    assert err.value.reason == "path_too_long"


def test_the_cli_says_what_to_fix_about_a_long_path(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.cli.main import app
    from typer.testing import CliRunner

    _deep_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["publish", "dataset", "p/m", "deep"],
                                env={"CAIRN_API_URL": "http://127.0.0.1:9", "CAIRN_TOKEN": "t"})
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert "[path_too_long]" in line and "4096" in line and "shorten" in line
    assert "not reachable" not in line  # refused before any request
