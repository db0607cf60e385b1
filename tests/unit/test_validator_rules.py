"""Per-project rules files: patterns, schema overrides, hooks; mistakes are ConfigErrors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cairn.validator.rules import ConfigError, Hook, Rules, load_rules, load_schema


def write(root: Path, project: str, text: str) -> None:
    (root / "projects").mkdir(parents=True, exist_ok=True)
    (root / "projects" / f"{project}.toml").write_text(text)


def test_no_file_means_no_rules(tmp_path: Path) -> None:
    assert load_rules(tmp_path, "vision") == Rules("vision")


def test_a_changed_rules_file_applies_to_the_next_load(tmp_path: Path) -> None:
    """Rules are parsed once per file version, not once per path: an edit is seen at once."""
    write(tmp_path, "vision", 'model_pattern = "{project}-v{n}"\n')
    assert load_rules(tmp_path, "vision").patterns == {"model": "{project}-v{n}"}
    write(tmp_path, "vision", 'model_pattern = "{project}-x{n}"\n')  # the same size
    path = tmp_path / "projects" / "vision.toml"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert load_rules(tmp_path, "vision").patterns == {"model": "{project}-x{n}"}
    path.unlink()
    assert load_rules(tmp_path, "vision") == Rules("vision")


def test_a_full_rules_file(tmp_path: Path) -> None:
    write(tmp_path, "vision", '''
model_pattern = "{project}-{arch}-v{n}"
[schemas]
model = "schemas/vision.json"
[[hooks]]
name = "bias-audit"
url = "https://audit.example/cairn"
timeout_s = 2.5
[[hooks]]
name = "owner-check"
url = "https://owners.example/"
retries = 0
''')
    rules = load_rules(tmp_path, "vision")
    assert rules.patterns == {"model": "{project}-{arch}-v{n}"}
    assert rules.schemas == {"model": "schemas/vision.json"}
    assert rules.hooks == (Hook("bias-audit", "https://audit.example/cairn", 2.5, 2),
                           Hook("owner-check", "https://owners.example/", 5.0, 0))


@pytest.mark.parametrize(("text", "words"), [
    ("model_pattern = ", "is not TOML"),
    ("modl = 'x'", "unknown keys modl"),
    ("model_pattern = 3", "must be strings"),
    ("[[hooks]]\nname = 'x'", "needs name and url"),
    ("[[hooks]]\nname = 'naming'\nurl = 'https://a'", "built-in check's name"),
    ("[[hooks]]\nname = 'x'\nurl = 'https://a'\ntimeout_s = 0", "timeout_s must be > 0"),
    ("[[hooks]]\nname = 'x'\nurl = 'https://a'\nretry = 1", "needs name and url"),
])
def test_mistakes_say_which_file_and_what(tmp_path: Path, text: str, words: str) -> None:
    write(tmp_path, "p", text)
    with pytest.raises(ConfigError, match=words) as err:
        load_rules(tmp_path, "p")
    assert "projects/p.toml" in str(err.value)


def test_a_named_schema_must_exist_and_stay_inside_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_schema(tmp_path, Rules("p", schemas={"model": "schemas/none.json"}), "model")
    with pytest.raises(ConfigError, match="outside the validation directory"):
        load_schema(tmp_path, Rules("p", schemas={"model": "../../etc/passwd"}), "model")
    assert load_schema(tmp_path, Rules("p"), "model") == (None, "schemas/model.schema.json")


def test_the_shipped_example_rules_parse_and_name_what_they_accept() -> None:
    from cairn.validator.checks import naming  # noqa: PLC0415 - only this test needs it

    rules = load_rules(Path(__file__).resolve().parents[2] / "validation", "example")
    assert rules.patterns["model"] == "{project}-{arch}-v{n}"
    assert naming.check("example-resnet-v1", "example", "model", rules.patterns).status == "passed"
    assert naming.check("ResNet_final", "example", "model", rules.patterns).status == "failed"
