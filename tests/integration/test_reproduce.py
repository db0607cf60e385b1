"""`cairn reproduce` against the real api, ledger, Kafka and PostgreSQL: a version published
with a known environment and files comes back as files plus what remakes that environment,
and `--check` tells this interpreter's packages from the captured ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cairn.sdk import Client
from cairn.sdk.environment import capture

from tests.integration.test_sdk_cli import Cli, project, sha, tree
from tests.integration.test_sdk_cli import cli as cli  # noqa: F401  (its fixtures, by name)
from tests.integration.test_sdk_cli import sdk as sdk  # noqa: F401


def published(sdk: Client, tmp_path: Path, packages: dict[str, str]) -> str:
    (tmp_path / "src" / "data").mkdir(parents=True)
    (tmp_path / "src" / "model.bin").write_bytes(os.urandom(50_000))
    (tmp_path / "src" / "data" / "split.csv").write_text("id,fold\n1,0\n")
    env = {**capture(), "packages": packages, "git_remote": "https://example.org/t/v.git",
           "git_commit": "c" * 40, "git_dirty": False, "container_image_digest": None}
    made = sdk.publish("model", project(), "net", [tmp_path / "src"], root=tmp_path / "src",
                       metadata={"seeds": {"torch": 7, "numpy": 11}}, environment=env)
    assert made.ref is not None
    return made.ref


def test_reproduce_writes_files_requirements_and_steps(sdk: Client, cli: Cli,
                                                       tmp_path: Path) -> None:
    packages = {"numpy": "2.1.0", "Typing_Extensions": "4.12.2"}
    ref = published(sdk, tmp_path, packages)
    out = tmp_path / "out"
    cli("reproduce", ref, str(out), cwd=tmp_path)
    assert tree(out / "files") == tree(tmp_path / "src")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "files", "reproduce.json",
                                                    "requirements.txt"]
    pins = [ln for ln in (out / "requirements.txt").read_text().splitlines()
            if not ln.startswith("#")]
    assert pins == ["numpy==2.1.0", "Typing_Extensions==4.12.2"]
    facts = json.loads((out / "reproduce.json").read_text())
    assert facts["ref"] == ref and facts["seeds"] == {"torch": 7, "numpy": 11}
    assert (facts["git_remote"], facts["git_commit"]) == ("https://example.org/t/v.git",
                                                          "c" * 40)
    readme = (out / "README.md").read_text()
    assert f"git -C src checkout {'c' * 40}" in readme and "numpy=11, torch=7" in readme

    again = sdk.reproduce(ref, tmp_path / "sdk-out")  # the SDK writes the same
    assert again.digest == facts["digest"]
    assert {sha(p) for p in (tmp_path / "sdk-out").glob("*.*")} == {
        sha(p) for p in out.glob("*.*")}


def test_check_shows_each_changed_package_and_exits_1(sdk: Client, cli: Cli,
                                                      tmp_path: Path) -> None:
    here = capture()["packages"]
    same = published(sdk, tmp_path / "a", dict(here))
    done = cli("reproduce", same, "--check", cwd=tmp_path)
    assert "matches" in done.stdout

    changed = {**here, "rich": "0.0.1", "not-installed-here": "1.0"}
    changed.pop("httpx")
    other = published(sdk, tmp_path / "b", changed)
    done = cli("reproduce", other, "--check", "--json", cwd=tmp_path, check=False)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == [
        {"package": "httpx", "captured": None, "here": here["httpx"]},
        {"package": "not-installed-here", "captured": "1.0", "here": None},
        {"package": "rich", "captured": "0.0.1", "here": here["rich"]},
    ]
    table = cli("reproduce", other, "--check", cwd=tmp_path, check=False)
    assert table.returncode == 1
    assert "3 differences" in table.stdout and "0.0.1" in table.stdout
    assert "package" in table.stdout and "captured" in table.stdout


def venv(where: Path, *install: str) -> Path:
    """A virtualenv with `install` put in by uv from its cache only (no network here)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    subprocess.run([uv, "venv", "-q", str(where)], check=True, timeout=120)
    done = subprocess.run([uv, "pip", "install", "-q", "--offline", "--python",
                           str(where / "bin" / "python"), *install], capture_output=True,
                          text=True, timeout=300)
    if done.returncode and "requirements.txt" not in install[-1]:
        pytest.skip(f"uv's cache lacks the test's packages: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr
    return where


def installed(env: Path) -> dict[str, str]:
    """What the virtualenv's own interpreter lists (as pip freeze would)."""
    code = ("import json; from importlib import metadata; print(json.dumps("
            "{d.metadata['Name']: d.version for d in metadata.distributions()}))")
    out = subprocess.run([str(env / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return dict(json.loads(out))


def test_the_requirements_remake_a_small_virtualenv(sdk: Client, cli: Cli,
                                                    tmp_path: Path) -> None:
    packages = installed(venv(tmp_path / "made-in", "idna", "six"))
    assert set(packages) == {"idna", "six"}
    ref = published(sdk, tmp_path, packages)
    out = tmp_path / "out"
    cli("reproduce", ref, str(out), cwd=tmp_path)
    remade = venv(tmp_path / "remade", "-r", str(out / "requirements.txt"))
    assert installed(remade) == packages
