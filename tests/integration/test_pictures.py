"""Pictures on the real stack: lineage drawn by the api's Graphviz, metrics across versions
drawn by matplotlib, through HTTP, the SDK and `cairn lineage --output` / `cairn plot`; a
private project's versions stay nameless in a picture as they do in the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from cairn.sdk import Client

from tests.access_world import World, world_api, world_fixture  # noqa: F401
from tests.clients import http_fixture, sdk_fixture  # noqa: F401
from tests.processes import Service

CAIRN = str(Path(sys.executable).parent / "cairn")
SVG = "{http://www.w3.org/2000/svg}"
PNG = b"\x89PNG\r\n\x1a\n"
ACCURACY = [0.70, 0.74, 0.79, 0.77]  # p/resnet v1..v4; v3 is staging and `champion`


@pytest.fixture(scope="module")
def corpus(sdk: Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    """dataset ← resnet v1..v4 (trained_on, with accuracy and loss) ← eval (evaluates v3);
    vit v1..v2 to compare with; resnet v3 in staging under the alias `champion`."""
    p, work = f"pic-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("pictures")

    def publish(kind: str, name: str, metrics: dict[str, float], links: list[tuple[str, str]]
                ) -> None:
        (work / "f.bin").write_bytes(uuid.uuid4().bytes)
        sdk.publish(kind, p, name, ["f.bin"], root=work, links=links,
                    metadata={"creator": "tester", "metrics": metrics})

    publish("dataset", "imagenet", {}, [])
    for i, accuracy in enumerate(ACCURACY):
        publish("model", "resnet", {"accuracy": accuracy, "loss": 2.0 - i / 4},
                [("trained_on", f"{p}/imagenet@v1")])
    publish("eval_log", "resnet-eval", {}, [("evaluates", f"{p}/resnet@v3")])
    for accuracy in (0.75, 0.81):
        publish("model", "vit", {"accuracy": accuracy}, [])
    sdk.set_stage(f"{p}/resnet@v3", "staging")
    sdk.set_alias(f"{p}/resnet", "champion", 3)
    return p


def svg_of(reply: httpx.Response) -> ET.Element:
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "image/svg+xml"
    return ET.fromstring(reply.content)


def texts(svg: ET.Element) -> str:
    return "\n".join(t.text or "" for t in svg.iter(f"{SVG}text"))


def markers(svg: ET.Element, gid: str) -> int:
    group = next(g for g in svg.iter(f"{SVG}g") if g.get("id") == gid)
    return sum(1 for _ in group.iter(f"{SVG}use"))


def test_lineage_svg_draws_the_chain(http: httpx.Client, corpus: str) -> None:
    p = corpus
    svg = svg_of(http.get(f"/v1/lineage/{p}/resnet:champion.svg", params={"depth": 2}))
    words = texts(svg)
    for name in (f"{p}/imagenet@v1", f"{p}/resnet@v3", f"{p}/resnet-eval@v1", "trained_on",
                 "evaluates", "staging", f"lineage of {p}/resnet@v3 (both, depth 2)"):
        assert name in words, (name, words)
    nodes = {n.findtext(f"{SVG}title"): n for n in svg.iter(f"{SVG}g")
             if n.get("class") == "node"}
    assert set(nodes) == {f"{p}/imagenet@v1", f"{p}/resnet@v3", f"{p}/resnet-eval@v1"}
    focus = [t for t, n in nodes.items() if any(s.get("stroke") == "#e11d48" for s in n.iter())]
    assert focus == [f"{p}/resnet@v3"]

    up = texts(svg_of(http.get(f"/v1/lineage/{p}/resnet-eval@v1.svg",
                               params={"direction": "up", "depth": 1})))
    assert f"{p}/resnet@v3" in up and f"{p}/imagenet@v1" not in up


def test_lineage_png_and_dot_and_errors(http: httpx.Client, corpus: str) -> None:
    ref = f"{corpus}/resnet@v3"
    png = http.get(f"/v1/lineage/{ref}.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(PNG)
    dot = http.get(f"/v1/lineage/{ref}.dot")
    assert dot.headers["content-type"].startswith("text/vnd.graphviz")
    assert dot.text.startswith("digraph lineage {") and f'"{ref}"' in dot.text
    assert http.get(f"/v1/lineage/{ref}").json()["root"] == ref  # the JSON route is unchanged
    for path, params, status, reason in (
            (f"/v1/lineage/{ref}.svg", {"depth": "11"}, 400, "invalid_depth"),
            (f"/v1/lineage/{ref}.svg", {"direction": "sideways"}, 400, "invalid_direction"),
            (f"/v1/lineage/{corpus}/resnet@v9.svg", {}, 404, "not_found"),
            ("/v1/lineage/no-slash.svg", {}, 400, "invalid_ref")):
        reply = http.get(path, params=params)
        assert (reply.status_code, reply.json()["error"]["reason"]) == (status, reason), path


def test_metric_plot_has_one_point_per_version(http: httpx.Client, corpus: str) -> None:
    p = corpus
    svg = svg_of(http.get(f"/v1/artifacts/{p}/resnet/metrics.svg",
                          params={"metric": ["accuracy", "loss"], "compare": f"{p}/vit"}))
    words = texts(svg)
    assert {"accuracy", "loss", f"{p}/resnet", f"{p}/vit", "staging, champion"} <= set(
        words.splitlines())
    assert markers(svg, "metric-accuracy-0") == len(ACCURACY)
    assert (markers(svg, "metric-accuracy-1"), markers(svg, "metric-loss-0")) == (2, 4)
    assert markers(svg, "marks-accuracy-0") == 1  # v3: staging, champion

    for params, status, reason in (({"metric": "f1"}, 400, "unknown_metric"),
                                   ({}, 400, "missing_metric"),
                                   ({"metric": "accuracy", "compare": f"{p}/nothing"}, 404,
                                    "not_found")):
        reply = http.get(f"/v1/artifacts/{p}/resnet/metrics.svg", params=params)
        assert (reply.status_code, reply.json()["error"]["reason"]) == (status, reason), params
    assert "recorded: accuracy, loss" in http.get(
        f"/v1/artifacts/{p}/resnet/metrics.svg", params={"metric": "f1"}).text


def cli(api: Service, api_token: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAIRN_API_URL": api.url, "CAIRN_TOKEN": api_token, "COLUMNS": "200"}
    return subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def test_cli_writes_pictures(api: Service, api_token: str, corpus: str, tmp_path: Path) -> None:
    p, ref = corpus, f"{corpus}/resnet@v3"
    for name in ("graph.svg", "graph.png", "graph.dot"):
        done = cli(api, api_token, "lineage", ref, "--output", name, cwd=tmp_path)
        assert done.returncode == 0 and f"wrote {name}" in done.stdout, done.stderr
    assert f"{p}/imagenet@v1" in texts(ET.parse(tmp_path / "graph.svg").getroot())
    assert (tmp_path / "graph.png").read_bytes().startswith(PNG)
    assert (tmp_path / "graph.dot").read_text().startswith("digraph lineage {")

    done = cli(api, api_token, "plot", f"{p}/resnet", "accuracy", "loss", "--compare",
               f"{p}/vit", "-o", "plot.svg", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["output"] == "plot.svg" and answer["format"] == "svg"
    assert [len(s["points"]) for s in answer["series"]] == [4, 2, 4, 0]
    svg = ET.parse(tmp_path / "plot.svg").getroot()
    assert markers(svg, "metric-accuracy-0") == len(ACCURACY)
    done = cli(api, api_token, "plot", f"{p}/resnet", "accuracy", "-o", "plot.png", cwd=tmp_path)
    assert done.returncode == 0 and "accuracy of" in done.stdout, done.stderr
    assert (tmp_path / "plot.png").read_bytes().startswith(PNG)

    for args, reason in ((("plot", f"{p}/resnet", "accuracy", "-o", "plot.gif"), "invalid_output"),
                         (("plot", f"{p}/resnet", "accuracy"), "missing_output"),
                         (("plot", f"{p}/resnet", "f1", "-o", "x.png"), "unknown_metric"),
                         (("lineage", ref, "-o", "graph.txt"), "invalid_output")):
        done = cli(api, api_token, *args, cwd=tmp_path)
        assert done.returncode != 0 and f"[{reason}]" in done.stderr, (args, done.stderr)
    assert not (tmp_path / "plot.gif").exists() and not (tmp_path / "x.png").exists()


def test_private_versions_stay_nameless_in_pictures(world: World) -> None:
    p, ref = world.private, f"{world.public}/quokka-public@v1"
    with world.client("outsider") as http:
        picture = http.get(f"/v1/lineage/{ref}.svg", params={"direction": "up"})
        dot = http.get(f"/v1/lineage/{ref}.dot", params={"direction": "up"}).text
        assert http.get(f"/v1/lineage/{world.model}.svg").status_code == 404
        plot = http.get(f"/v1/artifacts/{world.public}/quokka-public/metrics.svg",
                        params={"metric": "accuracy", "compare": f"{p}/quokka-model"})
        assert plot.status_code == 404 and plot.json()["error"]["reason"] == "not_found"
        assert "project" not in plot.json()["error"]  # as if it did not exist
    words = texts(svg_of(picture))
    assert p not in picture.text and p not in dot
    assert "private" in words.splitlines() and ref in words
    with world.client("viewer") as http:
        picture = http.get(f"/v1/lineage/{ref}.svg", params={"direction": "up"})
    assert f"{p}/quokka-data@v1" in texts(svg_of(picture))
