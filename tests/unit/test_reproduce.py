"""What `cairn reproduce` writes and compares (cairn.core.domain.reproduce), without a stack."""

from __future__ import annotations

from typing import Any

from cairn.core.domain.reproduce import Difference, differences, facts, readme, requirements

CAPTURED: dict[str, Any] = {
    "python": "3.12.4", "os": "Linux", "container_image_digest": None,
    "git_remote": "https://example.org/team/vision.git", "git_commit": "a" * 40,
    "git_dirty": False,
    "packages": {"numpy": "2.1.0", "Typing_Extensions": "4.12.2", "torch": "2.4.0"},
}
DETAIL: dict[str, Any] = {"ref": "vision/resnet@v3", "digest": "d" * 64,
                          "environment": CAPTURED, "metadata": {"seeds": {"torch": 42}}}


def test_same_environment_has_no_differences() -> None:
    same = {**CAPTURED, "packages": {"typing-extensions": "4.12.2", "numpy": "2.1.0",
                                     "torch": "2.4.0"}}
    assert differences(CAPTURED, same) == []  # names compare as PEP 503 normalizes them


def test_each_kind_of_difference_is_one_row() -> None:
    here = {"python": "3.11.9", "packages": {"numpy": "1.26.4", "torch": "2.4.0",
                                             "typing_extensions": "4.12.2", "rich": "13.9"}}
    assert differences(CAPTURED, here) == [
        Difference("python", "3.12.4", "3.11.9"),
        Difference("numpy", "2.1.0", "1.26.4"),
        Difference("rich", None, "13.9"),
    ]
    assert differences(CAPTURED, {**here, "packages": {}})[1:] == [
        Difference("numpy", "2.1.0", None), Difference("torch", "2.4.0", None),
        Difference("Typing_Extensions", "4.12.2", None)]


def test_requirements_pin_every_package_exactly() -> None:
    text = requirements(CAPTURED, "vision/resnet@v3")
    pins = [line for line in text.splitlines() if not line.startswith("#")]
    assert pins == ["numpy==2.1.0", "torch==2.4.0", "Typing_Extensions==4.12.2"]
    assert "# python 3.12.4" in text


def test_facts_and_readme_name_code_interpreter_and_seeds() -> None:
    assert facts(DETAIL) == {
        "ref": "vision/resnet@v3", "digest": "d" * 64, "python": "3.12.4", "os": "Linux",
        "git_remote": CAPTURED["git_remote"], "git_commit": "a" * 40, "git_dirty": False,
        "container_image_digest": None, "seeds": {"torch": 42}}
    text = readme(DETAIL)
    assert f"git clone {CAPTURED['git_remote']} src && git -C src checkout {'a' * 40}" in text
    assert "uv venv --python 3.12.4 .venv" in text and "requirements.txt" in text
    assert "torch=42" in text and "container" not in text
    assert "cairn reproduce vision/resnet@v3 --check" in text


def test_readme_says_what_was_not_captured() -> None:
    env = {**CAPTURED, "git_commit": None, "git_remote": None, "git_dirty": None,
           "container_image_digest": "sha256:" + "e" * 64}
    text = readme({**DETAIL, "environment": env, "metadata": {}})
    assert "No git state was captured" in text
    assert "sha256:" + "e" * 64 in text.splitlines()[6]  # the image comes first
    assert "seeds" not in text
