"""The `cairn` command without services: option parsing and one-line errors before any network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cairn.cli import parsing
from cairn.cli.main import app
from cairn.sdk.errors import CairnError
from typer.testing import CliRunner

CLOSED = "http://127.0.0.1:9"  # nothing listens there: a request would say "not reachable"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"weights")
    for name in ("CAIRN_TOKEN", "CAIRN_API_URL", "CAIRN_IMAGE_DIGEST"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str, token: str | None = "t"):  # type: ignore[no-untyped-def]
        env = {"CAIRN_API_URL": CLOSED, **({"CAIRN_TOKEN": token} if token else {})}
        return runner.invoke(app, list(args), env=env)

    return invoke


def _one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("args,expected", [
    (["publish", "model", "p/m", "../secret.pt"], "'..'"),
    (["publish", "model", "p/m", "/etc/hostname"], "outside"),
    (["publish", "model", "p/m", "model.pt", "--link", "trained_on"], "relation=target"),
    (["publish", "model", "p/m", "model.pt", "--link", "ate=p/d@v1"], "relation 'ate'"),
    (["publish", "model", "p/m", "model.pt", "--link", "trained_on=p/d@x"], "vN"),
    (["publish", "model", "p/m", "model.pt", "--metric", "acc=high"], "must be a number"),
    (["publish", "model", "p/m", "model.pt", "--seed", "torch=1.5"], "integer"),
    (["publish", "model", "p/m", "model.pt", "--param", "novalue"], "key=value"),
    (["publish", "model", "p/m", "model.pt", "--stage", "Prod!"], "stage 'Prod!'"),
    (["publish", "widget", "p/m", "model.pt"], "kind 'widget'"),
    (["publish", "model", "Bad Name", "model.pt"], "not a reference"),
    (["show", "p/m@latest!"], "after '@'"),
    (["alias", "p/m", "prod", "v1", "--delete"], "--delete"),
    (["edit", "p/m@v1"], "nothing to change"),
])
def test_bad_input_fails_in_one_line_before_any_network(run, args: list[str], expected: str
                                                        ) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    line = _one_line_error(result)
    assert expected in line
    assert "not reachable" not in line  # refused before any request
    assert result.exit_code == 2


def test_publish_without_a_token_says_how_to_set_one(run) -> None:  # type: ignore[no-untyped-def]
    line = _one_line_error(run("publish", "model", "p/m", "model.pt", token=None))
    assert "CAIRN_TOKEN" in line and "cairn login" in line


def test_unreachable_api_says_where_and_what_to_run(run) -> None:  # type: ignore[no-untyped-def]
    result = run("versions", "p/m", "--json")
    line = _one_line_error(result)
    assert CLOSED in line and "scripts/stack up" in line and "[api_unreachable]" in line
    assert result.exit_code == 1 and result.stdout == ""


def test_param_values_are_json_scalars_or_text() -> None:
    assert parsing.params(["lr=0.001", "layers=50", "amp=true", "opt=adam", "x=", "y=[1]",
                           "eq=a=b", "none=null"]) == {
        "lr": 0.001, "layers": 50, "amp": True, "opt": "adam", "x": "", "y": "[1]",
        "eq": "a=b", "none": None}


def test_links_to_refs_and_to_external_code_or_data() -> None:
    got = parsing.links(["trained_on=p/d@v1", "uses=code:https://github.com/org/repo"])
    assert got[0]["target"] == "p/d@v1"
    assert got[1]["external"]["kind"] == "code" and got[1]["target"] is None


def test_metadata_leaves_out_what_was_not_given() -> None:
    meta = parsing.metadata(creator=None, tags=["a"], param=None, metric=["f1=0.5"],
                            seed=["np=1"], description=None, license="MIT")
    assert meta == {"tags": ["a"], "license": "MIT", "params": {}, "metrics": {"f1": 0.5},
                    "seeds": {"np": 1}}


def test_edit_changes_read_the_card_file(tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text("# Model\n")
    assert parsing.changes(tags=None, card=str(card), description="d") == {
        "description": "d", "card": "# Model\n"}
    with pytest.raises(CairnError):
        parsing.changes(tags=None, card=str(tmp_path / "nope.md"))


def test_project_lifecycle_options_apply_over_what_the_project_has() -> None:
    current = {"gates": {"production": {"role": "maintainer", "valid": True,
                                        "evaluation": True}},
               "protected_aliases": ["prod"]}
    assert parsing.lifecycle(current, stages=None, gates=None, protected_aliases=None) is None
    got = parsing.lifecycle(current, stages="development, staging,canary,production",
                            gates=["canary=contributor+valid"], protected_aliases=None)
    assert got == {"stages": ["development", "staging", "canary", "production"],
                   "gates": {**current["gates"], "canary": {"role": "contributor",
                                                            "valid": True,
                                                            "evaluation": False}},
                   "protected_aliases": ["prod"]}
    dropped = parsing.lifecycle(got, stages=None, gates=["production=none"],
                                protected_aliases="prod,champion")
    assert dropped is not None and dropped["gates"] == {"canary": got["gates"]["canary"]}
    assert dropped["protected_aliases"] == ["prod", "champion"]
    fresh = parsing.lifecycle(None, stages="dev,canary,live", gates=["canary=contributor"],
                              protected_aliases=None)
    assert fresh is not None and fresh["gates"]["live"]["role"] == "maintainer"  # kept
    for bad in ("canary=maintainer+fast", "canary=", "canary"):
        with pytest.raises(CairnError, match="--gate"):
            parsing.lifecycle(None, stages=None, gates=[bad], protected_aliases=None)


def test_no_cli_module_calls_an_api_path_itself() -> None:
    """Every command goes through a named SDK method (cairn.sdk), never a raw api path or
    the Client's HTTP object, so the SDK is the one place that knows the api's routes."""
    import re

    import cairn.cli

    raw = re.compile(r"""["']/v1\b|\.http\.|\bhttpx\b|\.request\(""")
    found = [f"{path.name}:{n}: {line.strip()}"
             for path in sorted(Path(cairn.cli.__file__).parent.glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if raw.search(line) and not line.startswith("sys.modules.setdefault(")]
    assert found == []  # main.py's one line keeps the library's own CLI from loading


def test_bad_settings_are_one_line_naming_the_setting(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic is no longer imported for every command (cairn --help stays quick); its
    ValidationError is still told apart and reported as invalid_configuration, exit 2."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["show", "p/m@v1"], env={
        "CAIRN_API_URL": CLOSED, "CAIRN_TOKEN": "t", "CAIRN_MAX_FILES": "many"})
    line = _one_line_error(result)
    assert "[invalid_configuration]" in line and "CAIRN_MAX_FILES" in line, line
    assert result.exit_code == 2


def test_help_loads_neither_the_client_nor_pydantic() -> None:
    """What `cairn --help` imports: the commands and typer; the SDK's client, httpx,
    pydantic and the stream services' libraries load when a command needs them."""
    import subprocess
    import sys

    heavy = ("cairn.sdk.client", "httpx", "pydantic", "structlog", "tenacity",
             "confluent_kafka", "fastavro", "matplotlib")
    code = ("import sys, cairn.cli.main; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize(("argv", "shown"), [
    (["--help"], "publish"), (["search", "--help"], "--created-after"),
    (["token", "create", "--help"], "--expires-in-days")])
def test_help_as_shown_loads_no_rich_help_nor_the_file_code(argv: list[str], shown: str
                                                            ) -> None:
    """`cairn --help` as run: click's plain help (typer's rich help would load rich.markdown,
    markdown_it, pygments and attrs), and publish's file hashing loads when it publishes.
    rich itself (~60 ms: rich.console, rich.table, rich.progress), httpx and the code behind
    single commands (retention policies, reindex, credentials) load only when a command
    prints or runs: a module-level import of any of them in cairn/cli fails this (issue 12).
    A command's help parses the options of `cairn` (and of its group) first: not given, they
    build no pydantic TypeAdapter (cli.app.Group), so pydantic stays unloaded there too."""
    import subprocess
    import sys

    heavy = ("typer.rich_utils", "rich.markdown", "markdown_it", "pygments", "attr",
             "cairn.sdk.files", "cairn.core.domain.event_types", "rich", "rich.console",
             "rich.table", "rich.text", "rich.progress", "httpx", "pydantic",
             "cairn.sdk.retention", "cairn.sdk.credentials", "cairn.search")
    code = ("import atexit, sys; from cairn.cli.main import app; atexit.register(lambda: "
            f"print('loaded:' + ','.join(m for m in {heavy!r} if m in sys.modules))); "
            f"app({argv!r}, prog_name='cairn')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Usage: cairn" in done.stdout and shown in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "loaded:"


def test_every_command_reaches_typer_with_its_annotations_resolved() -> None:
    """typer reads each command's signature twice per run, evaluating string annotations
    (from `from __future__ import annotations`) each time; `handled` evaluates them once at
    import instead (issue 12: CLI start-up). A command registered around it, or the
    resolution dropped, shows up here as string annotations."""
    import typer

    def callbacks(t: typer.Typer) -> list[Any]:
        found = [c.callback for c in t.registered_commands]
        for group in t.registered_groups:
            assert group.typer_instance is not None
            found += callbacks(group.typer_instance)
        return found

    found = callbacks(app)
    assert len(found) > 40
    unresolved = [f.__name__ for f in found
                  if any(isinstance(a, str) for a in f.__annotations__.values())
                  or not hasattr(f, "__signature__")]
    assert unresolved == []


def test_global_options_given_still_reach_the_callback() -> None:
    """cli.app.Group skips typer's coercion only for options not given: given ones arrive
    as before, and none given leaves them unset."""
    from cairn.cli import app as cli

    runner = CliRunner()
    result = runner.invoke(app, ["--api-url", "http://127.0.0.1:9", "--token", "t0k",
                                 "--no-progress", "lag", "--help"])
    assert result.exit_code == 0, result.output
    assert cli._given == cli.Options("http://127.0.0.1:9", "t0k", False)
    result = runner.invoke(app, ["lag", "--help"])
    assert result.exit_code == 0, result.output
    assert cli._given.api_url is None and cli._given.token is None


def test_name_equals_path_names_files_from_anywhere(tmp_path: Path) -> None:
    (tmp_path / "a=b.txt").write_text("x")  # a file with '=' in its name is a PATH
    assert parsing.named_files(["a=b.txt", "m.pt"], str(tmp_path)) == ["a=b.txt", "m.pt"]
    assert parsing.named_files(["weights=/scratch/run-7/ckpt", "cfg=conf/c.json"], None) == {
        "weights": "/scratch/run-7/ckpt", "cfg": "conf/c.json"}
    for bad, says in ((["weights=/x", "model.pt"], "every PATH as NAME=PATH"),
                      (["=/x"], "write NAME=PATH"), (["w=/x", "w=/y"], "named twice")):
        with pytest.raises(CairnError, match=says):
            parsing.named_files(bad, None)


def test_the_cli_keeps_httpx_from_loading_its_own_command_line() -> None:
    """httpx's CLI (click, rich, pygments) cost every networked command ~70 ms of CPU."""
    import subprocess
    import sys

    code = ("import sys; from cairn.cli.main import app; import httpx, cairn.sdk.client; "
            "print(sorted(m for m in ('httpx._main', 'pygments', 'click') "
            "if sys.modules.get(m) is not None))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout
