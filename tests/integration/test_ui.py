"""The web UI (/ui) on the real stack: search with facet counts, private projects hidden from
the anonymous and shown after signing in with the cookie, a version's verdict reasons and
lineage picture, HTML escaping, and a cookie that never authorizes a write.
"""

from __future__ import annotations

import re
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest
from cairn.sdk import Client

from tests.access_world import World, world_api, world_fixture  # noqa: F401
from tests.conftest import API_TOKEN
from tests.ledger_helpers import settings_for
from tests.processes import Service

EVIL = '<script>alert("x")</script>'


SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
OUR_SCRIPT = '<script src="/ui/static/cairn.js" defer>'


def _inline_svg(html: str) -> ET.Element:
    """The <svg> element a page draws inline (Graphviz writes well-formed XML)."""
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    return ET.fromstring(html[start:end])


def _eventually(check: Any, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while not (got := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {within}s")
        time.sleep(0.5)
    return got


def _browser(world: World) -> httpx.Client:
    return httpx.Client(base_url=world.api.url, timeout=30)


def _sign_in(http: httpx.Client, token: str) -> httpx.Response:
    reply = http.post("/ui/login", data={"token": token})
    assert reply.status_code == 303, reply.text
    return reply


def _indexed(world: World) -> bool:
    with world.client("site_admin") as http:
        found = http.get("/v1/search", params={"project": [world.private, world.public]})
    return found.json().get("total") == 4


def test_search_page_shows_hits_and_facet_counts(world: World) -> None:
    _eventually(lambda: _indexed(world))
    with _browser(world) as http:
        reply = http.get("/ui", params={"q": "quokka", "project": world.public})
    assert reply.status_code == 200
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    page = reply.text
    assert f'href="/ui/artifacts/{world.public}/quokka-public/versions/v1"' in page
    # the project facet is counted without its own filter: every visible project
    assert f'<span class="count" data-value="{world.public}">1</span>' in page
    assert world.private not in page
    assert '<span class="count" data-value="model">1</span>' in page


def test_private_projects_appear_only_after_signing_in(world: World) -> None:
    _eventually(lambda: _indexed(world))
    p = world.private
    model_page = f"/ui/artifacts/{p}/quokka-model/versions/v1"
    with _browser(world) as http:
        assert p not in http.get("/ui", params={"q": "quokka"}).text
        refused = http.get(model_page)  # the not-found page, as for a missing artifact
        assert refused.status_code == 404 and "text/html" in refused.headers["content-type"]
        assert "data-permission" not in refused.text and "Not found" in refused.text
        missing = http.get(f"/ui/artifacts/nope-{world.tag}/quokka-model/versions/v1")
        assert refused.text.replace(p, "P") == missing.text.replace(f"nope-{world.tag}", "P")
        assert http.get(f"/ui/lineage/{world.model}.svg").status_code == 404
        model_file = f"{model_page}/files/m-{world.tag}"  # access_world wrote it
        assert http.get(model_file).status_code == 404  # its file preview: not found either

        signed = _sign_in(http, str(world.tokens["viewer"]))
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        assert "secure" not in cookie  # plain http on loopback
        found = http.get("/ui", params={"q": "quokka"}).text
        assert f"/ui/artifacts/{p}/quokka-model/versions/v1" in found
        assert f"signed in as <strong>{world.users['viewer']}</strong>" in found
        shown = http.get(model_page)
        assert shown.status_code == 200 and world.model in shown.text
        assert f'href="{model_file}"' in shown.text
        assert http.get(model_file).status_code == 200
        picture = http.get(f"/ui/lineage/{world.model}.svg")
        assert picture.status_code == 200 and picture.headers["content-type"].startswith(
            "image/svg")

        assert http.post("/ui/logout").status_code == 303
        assert http.get(model_page).status_code == 404
    with _browser(world) as http:  # an outsider signs in: still no private project
        _sign_in(http, str(world.tokens["outsider"]))
        assert p not in http.get("/ui", params={"q": "quokka"}).text
        assert http.get(model_page).status_code == 404
    with _browser(world) as http:
        bad = http.post("/ui/login", data={"token": "cairn_0000000000000000_" + "x" * 43})
        assert bad.status_code == 400 and "not valid" in bad.text
        assert "set-cookie" not in bad.headers
        other_site = http.post("/ui/login", data={"token": str(world.tokens["viewer"])},
                               headers={"Origin": "https://evil.example"})
        assert other_site.status_code == 403 and "set-cookie" not in other_site.headers


def test_the_cookie_never_authorizes_a_write_or_the_json_api(world: World) -> None:
    cookie = {"Cookie": f"cairn_token={world.tokens['site_admin']}"}
    with _browser(world) as http:
        publish = http.post("/v1/artifacts", headers=cookie, json={
            "kind": "dataset", "project": world.private, "name": "scratch",
            "files": [world.blob], "metadata": {"creator": "t"}})
        assert publish.status_code == 401, publish.text
        edit = http.patch(f"/v1/artifacts/{world.private}/scratch/versions/v1/metadata",
                          headers=cookie, json={"changes": {"description": "x"}})
        assert edit.status_code == 401
        assert http.get(f"/v1/artifacts/{world.private}/scratch", headers=cookie
                        ).status_code == 404  # anonymous: the private project is not there
        assert http.get(f"/ui/artifacts/{world.private}/scratch", headers=cookie
                        ).status_code == 200  # the same cookie reads the page


def test_compare_shows_no_version_the_caller_may_not_see(world: World) -> None:
    _eventually(lambda: _indexed(world))
    public = f"{world.public}/quokka-public@v1"
    with _browser(world) as http:
        hidden = http.get("/ui/compare", params={"ref": [public, world.model]})
        missing = http.get("/ui/compare", params={
            "ref": [public, f"nope-{world.tag}/quokka-model@v1"]})
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace(world.private, "P") == missing.text.replace(
            f"nope-{world.tag}", "P")
        _sign_in(http, str(world.tokens["viewer"]))
        shown = http.get("/ui/compare", params={"ref": [public, world.model]})
        assert shown.status_code == 200
        assert f'href="/ui/artifacts/{world.private}/quokka-model/versions/v1"' in shown.text
        assert '<tr class="differs"><th>kind</th>' not in shown.text  # both models
        assert '<tr class="differs"><th>digest</th>' in shown.text
        too_many = http.get("/ui/compare", params={"ref": [f"{public[:-1]}{n}"
                                                            for n in range(1, 8)]})
        assert too_many.status_code == 400 and "too_many_compared" in too_many.text


@pytest.fixture(scope="module")
def judged_ref(world: World, validator: Service, cairn_env: dict[str, str],
               tmp_path_factory: pytest.TempPathFactory) -> str:
    """A public model without a license (the validator gives reasons) whose description
    tries to inject a script, trained on the world's public model."""
    tmp = tmp_path_factory.mktemp("ui")
    (tmp / "w.bin").write_bytes(uuid.uuid4().bytes)
    (tmp / "README.md").write_text(f"# Evil card\n\n{EVIL} [x](javascript:alert(1))\n")
    with Client(world.api.url, API_TOKEN, settings_for(cairn_env), progress=False) as sdk:
        # the `validator` fixture judges projects named val-*
        ref = sdk.publish("model", f"val-ui{world.tag}", "evil", ["w.bin", "README.md"],
                          root=tmp,
                          metadata={"creator": "tests", "description": EVIL},
                          links=[("trained_on", f"{world.public}/quokka-public@v1")]).ref
        assert ref
        _eventually(lambda: "required" in {v["check"] for v in sdk.show(ref)["verdicts"]},
                    within=120)
    return ref


def test_version_page_shows_verdict_reasons_and_lineage(world: World, judged_ref: str
                                                        ) -> None:
    project, _, rest = judged_ref.partition("/")
    name, _, version = rest.partition("@")
    with _browser(world) as http:
        page = http.get(f"/ui/artifacts/{project}/{name}/versions/{version}")
        assert page.status_code == 200
        assert "license: missing (required for every artifact)" in page.text
        # no stage, no tags: nothing shown, not "None" or "[]"; the environment summarized
        assert ">None<" not in page.text and "[]" not in page.text
        assert re.search(r"Python <strong>[\d.]+</strong> · \d+ packages", page.text)
        assert '<details class="environment">' in page.text
        assert http.get(f"/ui/lineage/{judged_ref}.svg").headers["content-type"].startswith(
            "image/svg")
        parent = f"/ui/artifacts/{world.public}/quokka-public/versions/v1"
        assert f'href="{parent}"' in page.text
        # the graph is drawn inline, each version's node a link to its page
        graph = _inline_svg(page.text)
        links = [a.get(XLINK) for a in graph.iter(f"{SVG}a") if a.get(XLINK)]
        assert sorted(links) == sorted([
            parent, f"/ui/artifacts/{project}/{name}/versions/{version}"])
        # quokka-public was trained on a private dataset: a placeholder, unnamed and unlinked
        assert world.private not in page.text
        assert "private" in [t.text for t in graph.iter(f"{SVG}text")]
        assert "3 levels each way" in page.text and 'href="?depth=4"' in page.text
        deeper = http.get(f"/ui/artifacts/{project}/{name}/versions/{version}",
                          params={"depth": 1})
        assert "1 level each way" in deeper.text and 'href="?depth=2"' in deeper.text
        bad = http.get(f"/ui/artifacts/{project}/{name}/versions/{version}",
                       params={"depth": 11})
        assert bad.status_code == 400 and "invalid_depth" in bad.text
        used_by = http.get(f"/ui/artifacts/{world.public}/quokka-public/versions/v1").text
        assert f'href="/ui/artifacts/{project}/{name}/versions/{version}"' in used_by
        summary = http.get(f"/ui/artifacts/{project}/{name}")
        assert summary.status_code == 200 and f"/versions/{version}" in summary.text


def test_a_malicious_description_is_escaped(world: World, judged_ref: str) -> None:
    project = judged_ref.partition("/")[0]
    with _browser(world) as http:
        detail = http.get(f"/ui/artifacts/{project}/evil/versions/v1").text

        def listed() -> str | None:
            text = http.get("/ui", params={"project": project}).text
            return text if "evil@v1" in text else None

        found = _eventually(listed)
        card = http.get(f"/ui/artifacts/{project}/evil/versions/v1/files/README.md").text
    for html in (detail, found, card):  # the only script is the UI's own file
        assert EVIL not in html and re.findall(r"<script[^>]*>", html) == [OUR_SCRIPT]
        assert "javascript:" not in html.replace("[x](javascript:", "")
    assert "<h1>Evil card</h1>" in detail and "<h1>Evil card</h1>" in card
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in detail
    assert "&lt;script&gt;" in found
