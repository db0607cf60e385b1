"""What the ledger's screen reads from an artifact event (cairn.ledger.origins): the
permission and project it needs from an outside producer, the gate role of a move, the
reverted edits of a batch, and a publish's gate facts. Pure functions of typed events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cairn.core.domain.access import Project
from cairn.core.domain.event_types import (
    AliasMoved,
    ArtifactEvent,
    LifecycleRequested,
    MetadataEdited,
    Payload,
    PayloadType,
    StageChanged,
)
from cairn.core.domain.events import new_event
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.payloads import published
from cairn.ledger.origins import (
    artifact_needs,
    check_gate_facts,
    gate_permission,
    reverted_edits,
)

EDIT = "0190f0e2-1111-7aaa-8bbb-000000000001"
PROJECT = Project("vision")


def event(payload_type: PayloadType, body: Payload) -> ArtifactEvent:
    return new_event("vision/resnet", payload_type, body, actor="svc", tool="test")


def publish(stage: str | None) -> ArtifactEvent:
    body = published(kind="model", project="vision", name="resnet",
                     files=[{"path": "w.bin", "size": 1, "sha256": "a" * 64}],
                     metadata_={"creator": "svc"}, stage=stage)
    return event("Published", body)


def edit(changes: dict[str, Any], reverts: str | None = None) -> ArtifactEvent:
    body: MetadataEdited = {"version": "v1", "changes": json.dumps(changes), "reverts": reverts}
    return event("MetadataEdited", body)


def test_needs_names_the_permission_and_project_of_each_kind() -> None:
    moved: AliasMoved = {"alias": "prod", "version": "v1"}
    archive: LifecycleRequested = {"version": "v1", "action": "archive", "reason": None}
    assert artifact_needs(publish(None)) == ("gate", "vision")
    assert artifact_needs(event("AliasMoved", moved)) == ("gate", "vision")
    assert artifact_needs(event("LifecycleRequested", archive)) == ("maintain", "vision")


@pytest.mark.parametrize(("given", "permission"), [
    (lambda: event("AliasMoved", AliasMoved(alias="prod", version="v1")), "maintain"),
    (lambda: event("AliasMoved", AliasMoved(alias="candidate", version="v1")), "publish"),
    (lambda: event("StageChanged", StageChanged(version="v1", stage="production")), "maintain"),
    (lambda: event("StageChanged", StageChanged(version="v1", stage="staging")), "publish"),
    (lambda: publish(None), "publish"),
    (lambda: publish("production"), "maintain"),
    (lambda: edit({"description": "new"}), "publish"),
    (lambda: edit({"legal_hold": True}), "maintain"),
    (lambda: edit({}, reverts=EDIT), "maintain"),  # an edit not known to leave the hold
])
def test_gate_permission_by_the_rules_of_the_project(given: Any, permission: str) -> None:
    assert gate_permission(given(), PROJECT) == permission


def test_a_revert_of_an_edit_known_to_leave_the_hold_needs_publish_only() -> None:
    assert gate_permission(edit({}, reverts=EDIT), PROJECT, frozenset({EDIT})) == "publish"


def test_reverted_edits_are_those_the_batch_reverts_with_a_valid_id() -> None:
    batch = [(None, edit({}, reverts=EDIT)), (None, edit({}, reverts="not-a-uuid")),
             (None, edit({"tags": ["a"]})), (None, publish(None)),
             (None, {"kind": "team", "key": "t"})]  # a config event has no payload
    assert reverted_edits(batch) == [EDIT]


def test_a_publish_into_a_gated_stage_is_refused_by_its_facts() -> None:
    check_gate_facts(publish(None), PROJECT)
    check_gate_facts(publish("staging"), PROJECT)
    with pytest.raises(InvalidInput) as refused:
        check_gate_facts(publish("production"), PROJECT)
    assert refused.value.reason == "gate_needs_promotion"
    with pytest.raises(InvalidInput) as unknown:
        check_gate_facts(publish("nowhere"), PROJECT)
    assert unknown.value.reason == "unknown_stage"
