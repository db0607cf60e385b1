"""The pure parts of bulk publish: `--from` lines, batching by size, local refusals, and the
environment captured once per process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cairn.cli import publish_from
from cairn.core.domain import payloads
from cairn.sdk import bulk, environment
from cairn.sdk.bulk import Item, ItemResult
from cairn.sdk.errors import CairnError

ENV = payloads.environment({"python": "3.12.0"})


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_line_takes_the_publish_options_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "# a comment", "", json.dumps({
        "kind": "model", "artifact": "vision/resnet", "paths": "m.pt", "tag": ["a"],
        "metric": {"top1": 0.7}, "param": ["lr=0.1"], "seed": {"s": 3},
        "link": ["trained_on=vision/imnet@v1"], "directory": "/scratch", "stage": "staging"}))
    [(number, line)] = publish_from.read_lines(path)
    item = publish_from.item_of(line)
    assert number == 3
    assert (item.kind, item.project, item.name, item.files) == ("model", "vision", "resnet",
                                                                ["m.pt"])
    assert item.metadata == {"tags": ["a"], "params": {"lr": 0.1}, "metrics": {"top1": 0.7},
                             "seeds": {"s": 3}}
    assert [(lk["relation"], lk["target"]) for lk in item.links or []] == [
        ("trained_on", "vision/imnet@v1")]
    assert (item.root, item.stage) == ("/scratch", "staging")


@pytest.mark.parametrize("bad", ["{not json", '["a list"]', '{"kind": "model"}',
                                 '{"kind": "m", "artifact": "p/n", "paths": [], "tags": []}',
                                 '{"kind": 3, "artifact": "p/n", "paths": []}'])
def test_a_malformed_line_is_named_by_its_number(tmp_path: Path, bad: str) -> None:
    good = json.dumps({"kind": "model", "artifact": "p/n", "paths": ["m.pt"]})
    with pytest.raises(CairnError) as err:
        publish_from.read_lines(write(tmp_path, good, bad))
    assert err.value.reason == "invalid_option" and "items.jsonl:2:" in err.value.message


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CairnError, match="no items"):
        publish_from.read_lines(write(tmp_path, "# nothing"))


def test_a_bad_value_refuses_its_item_only(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"kind": "model", "artifact": "p/n", "paths": "m"}),
                 json.dumps({"kind": "model", "artifact": "p/n", "paths": "m",
                             "metric": {"top1": "high"}}))
    prepared, numbers = publish_from.items(publish_from.read_lines(path))
    assert numbers == [1, 2]
    assert isinstance(prepared[0], Item)
    assert isinstance(prepared[1], ItemResult) and prepared[1].status == "refused"
    sent = [ItemResult(0, "p/n", "recorded", ref="p/n@v1", outcome="applied")]
    merged = publish_from.merged(prepared, sent)
    assert [r.status for r in merged] == ["recorded", "refused"]
    assert publish_from.report(merged, numbers)["results"][1]["line"] == 2
    assert publish_from.counts(merged) == {"recorded (applied)": 1, "refused": 1}


def test_items_are_refused_locally_with_their_reason(tmp_path: Path) -> None:
    (tmp_path / "m.pt").write_bytes(b"x")
    ok = bulk.prepare(0, Item("model", "p", "n", ["m.pt"], root=tmp_path), ENV, ("model",))
    assert isinstance(ok, bulk.Prepared) and not ok.own_environment
    assert "environment" not in ok.request({})  # the batch's, sent once
    cases = {"invalid_name": Item("model", "p", "Bad Name", ["m.pt"], root=tmp_path),
             "file_not_found": Item("model", "p", "n", ["gone.pt"], root=tmp_path),
             "invalid_kind": Item("tensor", "p", "n", ["m.pt"], root=tmp_path)}
    for reason, item in cases.items():
        got = bulk.prepare(1, item, ENV, ("model",))
        assert isinstance(got, ItemResult) and (got.reason, got.local) == (reason, True), got
    typo = bulk.prepare(2, {"kind": "model", "projct": "p"}, ENV, ("model",))
    assert isinstance(typo, ItemResult) and typo.reason == "invalid_payload"


def test_batches_stay_within_the_body_budget(tmp_path: Path) -> None:
    ready = []
    for i in range(30):
        (tmp_path / f"f{i:02d}").write_bytes(bytes([i]))
        p = bulk.prepare(i, Item("model", "p", "n", [f"f{i:02d}"], root=tmp_path), ENV, ("model",))
        assert isinstance(p, bulk.Prepared)
        ready.append(p)
    one = len(json.dumps(ready[0].request({}))) + 2
    batches = list(bulk.batches(ready, {}, budget=one * 7))
    assert [len(b) for b in batches] == [7, 7, 7, 7, 2]
    assert [p.index for b in batches for p, _ in b] == list(range(30))


def test_the_environment_is_captured_once_unless_asked_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Path] = []

    def counted(cwd: Path) -> dict[str, object]:
        calls.append(cwd)
        return {}

    monkeypatch.setattr(environment, "git_state", counted)
    environment.capture(cwd=tmp_path, refresh=True)
    environment.capture(cwd=tmp_path)
    environment.capture(cwd=tmp_path)
    assert len(calls) == 1
    environment.capture(cwd=tmp_path, refresh=True)
    assert len(calls) == 2


def test_a_publish_makes_no_request_it_can_skip(tmp_path: Path) -> None:
    """Small files: one request, the files inside it, which answers the record too. A large
    file, after the first: which blobs are missing, the upload, the publish (which waits);
    the question "presigned URLs?" that a local store's api refused once is not asked again."""
    from cairn.sdk.inline import INLINE_BYTES

    from tests.unit.fake_api import FakeApi

    fake = FakeApi()
    client = fake.sdk()
    for i in range(3):
        (tmp_path / f"m{i}.pt").write_bytes(bytes([i]))
        done = client.publish("model", "p", "m", [f"m{i}.pt"], root=tmp_path, environment={})
        assert done.ref == f"p/m@v{i + 1}"
    paths = [(r.method, r.url.path) for r in fake.requests]
    assert paths == [("POST", "/v1/artifacts")] * 3
    for i in range(3):
        (tmp_path / f"big{i}.pt").write_bytes(bytes([i]) * (INLINE_BYTES + 1))
        client.publish("model", "p", "big", [f"big{i}.pt"], root=tmp_path, environment={})
    paths = [(r.method, r.url.path) for r in fake.requests]
    assert paths.count(("POST", "/v1/blobs/uploads")) == 1
    assert paths[-3:] == [("POST", "/v1/blobs/missing"), ("PUT", paths[-2][1]),
                          ("POST", "/v1/artifacts")]


@pytest.mark.parametrize("args", [
    ["model", "p/n", "m.pt"],  # an item of its own beside the file's
    ["--creator", "ana"],  # an option every line gives for itself
])
def test_from_takes_nothing_each_line_gives(tmp_path: Path, args: list[str]) -> None:
    from cairn.cli.main import app
    from typer.testing import CliRunner

    path = write(tmp_path, json.dumps({"kind": "model", "artifact": "p/n", "paths": "m.pt"}))
    done = CliRunner().invoke(app, ["publish", "--from", str(path), *args],
                              env={"CAIRN_API_URL": "http://127.0.0.1:9", "CAIRN_TOKEN": "t"})
    assert done.exit_code == 2 and "[invalid_option]" in done.stderr, done.output
