"""Environments named by digest (cairn.core.domain.environments) and how search documents
name them, old states (the whole environment, no digest) and new ones alike."""

from __future__ import annotations

from typing import Any

from cairn.core.domain import payloads
from cairn.core.domain.environments import (
    environment_digest,
    lean_event,
    summary,
    with_environment,
)
from cairn.core.domain.events import new_event
from cairn.search.documents import version_document

ENV = dict(payloads.environment({"python": "3.11.9", "os": "Linux",
                                 "packages": {"torch": "2.5.1", "numpy": "2.1.0"}}))


def test_the_digest_is_of_the_content_not_its_key_order() -> None:
    shuffled = dict(reversed(list(ENV.items())))
    shuffled["packages"] = {"numpy": "2.1.0", "torch": "2.5.1"}
    assert environment_digest(shuffled) == environment_digest(ENV)
    assert environment_digest({**ENV, "python": "3.12.0"}) != environment_digest(ENV)
    assert len(environment_digest(ENV)) == 64


def test_a_summary_keeps_everything_but_the_packages() -> None:
    assert summary(ENV) == {**ENV, "packages": {}}
    assert ENV["packages"]  # the argument is left alone


def _published(environment: dict[str, Any]) -> dict[str, Any]:
    body = payloads.published(kind="model", project="p", name="m", metadata_={"creator": "a"},
                              files=[{"path": "w", "size": 1, "sha256": "0" * 64,
                                      "media_type": None}], environment=environment)
    return dict(new_event("p/m", "Published", body, actor="a", tool="t"))


def test_a_changelog_event_carries_the_summary_and_leaves_the_event_alone() -> None:
    event = _published(ENV)
    lean = lean_event(event)
    assert lean["payload"][1]["environment"] == summary(ENV)
    assert event["payload"][1]["environment"] == ENV  # what event_log stores and hashes
    staged = dict(new_event("p/m", "StageChanged", {"version": "v1", "stage": "production"},
                            actor="a", tool="t"))
    assert lean_event(staged) == staged


def test_search_documents_name_the_environment_of_old_and_new_states() -> None:
    content = _published(ENV)["payload"][1]
    state = {"version_number": 1, "digest": content["digest"], "content": content,
             "created_at": 0, "updated_seq": 1}
    old = version_document(state)[1]  # a state from before: the whole environment
    new = version_document({**with_environment(state, summary(ENV)),
                            "environment_digest": environment_digest(ENV)})[1]
    assert old["environment_digest"] == new["environment_digest"] == environment_digest(ENV)
    assert old["python"] == new["python"] == "3.11.9"
