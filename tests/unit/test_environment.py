"""Environment capture: the payload's keys, packages, git state, and no leaked credentials."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from cairn.core.adapters import schemas
from cairn.core.domain import payloads
from cairn.core.domain.event_types import Environment
from cairn.core.domain.events import new_event
from cairn.sdk.environment import capture, git_state, installed_packages, without_credentials
from fastavro import schemaless_writer

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def test_keys_are_exactly_the_payloads(tmp_path: Path) -> None:
    env = capture(cwd=tmp_path)
    assert set(env) == set(Environment.__annotations__)
    assert env["python"] and env["os"] and env["hostname"]
    assert isinstance(env["accelerators"], list)
    assert env["git_commit"] is None  # tmp_path is not inside a repository


def test_installed_packages_are_name_to_version() -> None:
    packages = installed_packages()
    assert packages["httpx"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in packages.items())


def test_image_digest_comes_from_the_caller_or_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CAIRN_IMAGE_DIGEST", raising=False)
    assert capture(cwd=tmp_path)["container_image_digest"] is None
    monkeypatch.setenv("CAIRN_IMAGE_DIGEST", "sha256:" + "a" * 64)
    assert capture(cwd=tmp_path)["container_image_digest"] == "sha256:" + "a" * 64
    assert capture("sha256:" + "b" * 64, cwd=tmp_path)["container_image_digest"].endswith("b")


@needs_git
def test_git_commit_dirty_flag_and_remote(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("remote", "add", "origin", "https://bob:hunter2@git.example.com/team/repo.git")
    (tmp_path / "train.py").write_text("print(1)\n")
    git("add", "train.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    state = git_state(tmp_path)
    assert state["git_commit"] == git("rev-parse", "HEAD")
    assert state["git_dirty"] is False
    assert state["git_remote"] == "https://git.example.com/team/repo.git"
    (tmp_path / "train.py").write_text("print(2)\n")
    assert git_state(tmp_path)["git_dirty"] is True


def test_credentials_never_leave_a_remote() -> None:
    assert without_credentials("https://x:tok@h.com:8443/r.git") == "https://h.com:8443/r.git"
    assert without_credentials("git@github.com:org/repo.git") == "git@github.com:org/repo.git"


def test_captured_environment_encodes_as_avro(tmp_path: Path) -> None:
    body = payloads.published(
        kind="model", project="p", name="n",
        files=[{"path": "m.pt", "size": 1, "sha256": "a" * 64}],
        metadata_={"creator": "me"}, environment=capture(cwd=tmp_path))
    event = new_event("p/n", "Published", body, actor="me", tool="sdk")
    schemaless_writer(io.BytesIO(), schemas.parsed(schemas.EVENT), event)
