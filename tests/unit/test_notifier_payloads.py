"""What subscribers receive, and which subscriptions a change reaches."""

from __future__ import annotations

import json

from cairn.core.domain import webhook_payloads as payloads
from cairn.core.domain import webhook_signing as signing
from cairn.notifier import jobs

from tests.unit.notifier_records import record, subscription


def test_json_body_says_what_happened_to_which_version() -> None:
    body = json.loads(payloads.render(record(), "sub-1", "vision-team", "json"))
    assert body["event_type"] == "Published" and body["artifact"] == "vision/resnet"
    assert body["ref"] == "vision/resnet@v3" and body["seq"] == 10 and body["actor"] == "ana"
    assert body["subscription"] == "sub-1" and body["team"] == "vision-team"
    assert body["occurred_at"] == "2023-11-14T22:13:20Z" and body["change"] is None
    state = body["state"]
    assert state["stage"] == "staging" and state["tags"] == ["cv"]
    assert state["validation"] == "valid" and state["digest"] == "ab" * 32
    assert "files" not in state and "environment" not in state


def test_a_change_carries_its_own_payload() -> None:
    edit = record(event_type="MetadataEdited",
                  body={"version": "v3", "changes": '{"license": "MIT"}', "reverts": None})
    assert json.loads(payloads.render(edit, "s", "t", "json"))["change"]["changes"] == {
        "license": "MIT"}
    moved = record(event_type="StageChanged", body={"version": "v3", "stage": "production"})
    assert payloads.headline(moved) == "vision/resnet: v3 moved to production by ana"


def test_slack_body_has_text_and_blocks_with_escaped_markup() -> None:
    verdict = record(event_type="Verdict", body={"version": "v3", "check": "license",
                                                 "status": "failed", "reasons": [], "score": None})
    body = json.loads(payloads.render(verdict, "sub-1", "ops", "slack"))
    assert body["text"] == "[ops] vision/resnet: v3 check license: failed by ana"
    assert [b["type"] for b in body["blocks"]] == ["section", "context"]
    assert "*vision/resnet@v3*" in body["blocks"][0]["text"]["text"]
    alias = record(event_type="AliasMoved", body={"alias": "a<b>&c", "version": "v3"})
    text = json.loads(payloads.render(alias, "s", "t", "slack"))["blocks"][0]["text"]["text"]
    assert "a&lt;b&gt;&amp;c" in text and "<b>" not in text


def test_render_is_byte_stable_so_retries_send_the_same_signed_body() -> None:
    assert payloads.render(record(), "s", "t", "json") == payloads.render(record(), "s", "t",
                                                                          "json")


def test_plan_matches_filters_and_skips_duplicates_and_history() -> None:
    subs = [
        subscription("all"),
        subscription("vision-prod", projects=["vision"], stages=["production"]),
        subscription("vision-pub", projects=["vision"], event_types=["Published"]),
        subscription("nlp", projects=["nlp"]),
        subscription("tagged", tags=["cv", "audio"], kinds=["model"]),
        subscription("late", since=10),  # created at seq 10: hears only about later changes
    ]
    batch = [record(seq=10), record(seq=10), record(seq=11, outcome="duplicate"),
             record(seq=12, event_type="StageChanged", stage="production",
                    body={"version": "v3", "stage": "production"})]
    planned = jobs.plan(batch, subs, b"k")
    assert [(j.subscription.id, j.seq) for j in planned] == [
        ("all", 10), ("vision-pub", 10), ("tagged", 10),
        ("all", 12), ("vision-prod", 12), ("tagged", 12), ("late", 12)]
    first = planned[0]
    assert first.delivery_id == signing.delivery_id("all", 10)
    assert first.secret == signing.secret_for(b"k", "all") and first.event_type == "Published"
    assert json.loads(first.body)["subscription"] == "all"


def test_resume_drops_ended_deliveries_and_continues_attempt_counts() -> None:
    planned = jobs.plan([record(seq=1), record(seq=2), record(seq=3)], [subscription("s")], b"k")
    ids = [j.delivery_id for j in planned]
    left = jobs.resume(planned, {ids[0]: (2, True), ids[1]: (3, False)})
    assert [(j.seq, j.first_attempt) for j in left] == [(2, 4), (3, 1)]


def test_jobs_are_planned_in_seq_order() -> None:
    planned = jobs.plan([record(seq=2), record(seq=1)], [subscription("a"), subscription("b")],
                        b"k")
    assert [(j.subscription.id, j.seq) for j in planned] == [
        ("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_every_payload_type_has_its_headline() -> None:
    bodies = {
        "Published": ({}, "published v3 (model)"),
        "StageChanged": ({"version": "v3", "stage": "production"}, "v3 moved to production"),
        "AliasMoved": ({"alias": "best", "version": "v3"}, "alias best now points at v3"),
        "Verdict": ({"version": "v3", "check": "files", "status": "passed", "reasons": [],
                     "score": None}, "v3 check files: passed"),
        "MetadataEdited": ({"version": "v3", "changes": "{}", "reverts": None},
                           "v3 metadata edited"),
        "LinkAdded": ({"version": "v3", "link": {"relation": "uses", "target": "p/d@v1",
                                                 "external": None}}, "v3 linked (uses)"),
        "LifecycleRequested": ({"version": "v3", "action": "archive", "reason": None},
                               "v3 archive requested"),
        "VerdictSet": ({"version": "v3", "completeness": 0.5, "checks": [
            {"check": "files", "status": "passed", "reasons": []},
            {"check": "license", "status": "warning", "reasons": ["license: odd"]}]},
            "v3 judged valid (license warning)"),
    }
    for event_type, (body, what) in bodies.items():
        line = payloads.headline(record(event_type=event_type, body=body))  # type: ignore[arg-type]
        assert line == f"vision/resnet: {what} by ana", event_type
    removed = record(event_type="AliasMoved", body={"alias": "best", "version": None})
    assert payloads.headline(removed) == "vision/resnet: alias best removed by ana"  # type: ignore[arg-type]


def test_a_verdict_subscription_hears_the_validators_one_event_per_version() -> None:
    """Subscriptions made when the validator sent one Verdict per check still hear it."""
    judged = record(seq=20, event_type="VerdictSet", body={
        "version": "v3", "completeness": None,
        "checks": [{"check": "license", "status": "failed", "reasons": ["license: missing"]}]})
    subs = [subscription("verdicts", event_types=["Verdict"]),
            subscription("sets", event_types=["VerdictSet"]),
            subscription("published", event_types=["Published"])]
    planned = jobs.plan([judged], subs, b"k")
    assert [(j.subscription.id, j.event_type) for j in planned] == [
        ("verdicts", "VerdictSet"), ("sets", "VerdictSet")]
    assert payloads.headline(judged) == "vision/resnet: v3 judged valid (license failed) by ana"
