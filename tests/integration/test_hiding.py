"""A private project cannot be told from a missing one by those who may not view it, on the
real stack: the same status and body for its artifact, version, lineage, metrics picture,
usage, publish and web page as for a missing artifact of it or a project that does not
exist; a search filter on its dataset answers as a filter on a dataset that does not exist.
A member who may view it still hears which role a write needs (403)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.access_world import World, world_api, world_fixture  # noqa: F401
from tests.integration.test_access import _until

STRANGERS = ("anonymous", "outsider", "expired")


def _asks(project: str, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, request options) aimed at one artifact of one project."""
    ref = f"{project}/{name}@v1"
    return [
        ("GET", f"/v1/artifacts/{project}/{name}", {}),
        ("GET", f"/v1/artifacts/{project}/{name}/versions/v1", {}),
        ("GET", "/v1/resolve", {"params": {"ref": ref}}),
        ("GET", f"/v1/lineage/{ref}", {}),
        ("GET", f"/v1/lineage/{ref}.svg", {}),
        ("GET", f"/v1/artifacts/{project}/{name}/metrics.svg", {"params": {"metric": "a"}}),
        ("GET", f"/v1/artifacts/{project}/{name}/versions/v1/history", {}),
        ("POST", "/v1/usage", {"json": {"ref": ref, "action": "view"}}),
        ("PATCH", f"/v1/artifacts/{project}/{name}/versions/v1/metadata",
         {"json": {"changes": {"description": "x"}}}),
        ("PUT", f"/v1/artifacts/{project}/{name}/aliases/candidate", {"json": {"version": "v1"}}),
        ("GET", f"/ui/artifacts/{project}/{name}/versions/v1", {}),
    ]


def _answers(http: httpx.Client, project: str, name: str) -> list[tuple[int, str]]:
    found = []
    for method, path, options in _asks(project, name):
        reply = http.request(method, path, **options)
        found.append((reply.status_code, reply.text.replace(project, "<project>")))
    return found


@pytest.mark.parametrize("caller", STRANGERS)
def test_a_private_project_answers_as_a_missing_one(world: World, caller: str) -> None:
    with world.client(caller) as http:
        private = _answers(http, world.private, "quokka-model")
        missing_artifact = _answers(http, world.private, "no-such-thing")
        missing_project = _answers(http, f"nope-{world.tag}", "quokka-model")
    assert private == missing_artifact == missing_project
    statuses = [status for status, _ in private]
    writes = {"POST", "PATCH", "PUT"}
    for (method, path, _), (status, body) in zip(_asks("p", "n"), private, strict=True):
        if caller != "outsider" and method in writes:  # authenticate first, then we'll see
            assert status == 401, (path, body)
        else:
            assert status == 404 and "not_found" in body and "permission" not in body, path
    assert 404 in statuses


def test_a_publish_to_a_private_project_answers_as_to_a_missing_one(world: World) -> None:
    def publish(http: httpx.Client, project: str) -> tuple[int, str]:
        reply = http.post("/v1/artifacts", json={
            "kind": "dataset", "project": project, "name": "scratch", "files": [world.blob],
            "metadata": {"creator": "t"}})
        return reply.status_code, reply.text.replace(project, "<project>")

    with world.client("outsider") as http:
        hidden, missing = publish(http, world.private), publish(http, f"nope-{world.tag}")
    assert hidden == missing and hidden[0] == 404


def test_an_event_and_a_blob_of_a_private_project_answer_as_unknown_ones(world: World) -> None:
    sha = world.blob["sha256"]
    with world.client("outsider") as http:
        assert http.get(f"/v1/events/{world.event_id}").json() == {"status": "pending"}
        hidden = http.get(f"/v1/blobs/{sha}")
        unknown = http.get(f"/v1/blobs/{'e' * 64}")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.text.replace(sha, "<sha>") == unknown.text.replace("e" * 64, "<sha>")
    with world.client("viewer") as http:
        assert http.get(f"/v1/events/{world.event_id}").json()["status"] == "recorded"


def test_a_viewer_still_hears_which_role_a_write_needs(world: World) -> None:
    with world.client("viewer") as http:
        reply = http.patch(f"/v1/artifacts/{world.private}/quokka-model/versions/v1/metadata",
                           json={"changes": {"description": "x"}})
        assert http.get(f"/v1/artifacts/{world.private}/quokka-model").status_code == 200
    error = reply.json()["error"]
    assert reply.status_code == 403 and error["reason"] == "forbidden"
    assert error["permission"] == "publish" and "contributor" in error["message"]


def _search(http: httpx.Client, dataset: str | list[str]) -> dict[str, Any]:
    reply = http.get("/v1/search", params={"dataset": dataset, "size": 50})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def test_a_dataset_filter_on_a_private_project_answers_as_on_a_missing_dataset(
        world: World) -> None:
    hidden_dataset = f"{world.private}/quokka-data"
    with world.client("viewer") as http:  # the public model trained on it matches, for members
        await _until(lambda: _search(http, hidden_dataset)["total"] == 2)
    for caller in STRANGERS:
        with world.client(caller) as http:
            hidden = _search(http, hidden_dataset)
            missing = _search(http, f"nope-{world.tag}/quokka-data")
            mixed = _search(http, [hidden_dataset, f"nope-{world.tag}/quokka-data"])
        assert hidden == missing and hidden["total"] == 0 and hidden["hits"] == []
        assert mixed == missing
        assert all(not values for name, values in hidden["facets"].items() if name != "dataset")


async def test_a_public_hit_never_names_the_private_dataset_it_was_trained_on(
        world: World) -> None:
    """quokka-public was trained on the private quokka-data: strangers find the model, but
    neither its hit (api.visibility.redact_hits) nor free text on the private project's name
    (datasets are not in all_text) gives that dataset away."""
    def found(http: httpx.Client, **params: str) -> dict[str, Any]:
        reply = http.get("/v1/search", params={**params, "size": 50})
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    with world.client("viewer") as http:  # a member sees the link, so there is one to hide
        await _until(lambda: any(f"{world.private}/quokka-data" in h.get("datasets", [])
                                 for h in found(http, project=world.public)["hits"]))
    for caller in STRANGERS:
        with world.client(caller) as http:
            public = found(http, project=world.public)
            by_text = found(http, q=world.private)
        assert [h["name"] for h in public["hits"]] == ["quokka-public"]
        assert world.private not in json.dumps(public), caller
        assert by_text["total"] == 0 and by_text["hits"] == [], caller
