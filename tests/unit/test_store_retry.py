"""The SDK's policy for a blob store outage (cairn.sdk.http.StoreRetry): a store that is down
is asked again a bounded number of times, then reported with what to do; a store that refuses
Cairn's credentials or has no bucket is reported at once (asking again cannot help)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cairn.sdk.errors import CairnError
from cairn.sdk.http import StoreRetry

FAST = StoreRetry(attempts=3, first_wait=0.0, max_wait=0.0)


def failing(error: CairnError, calls: list[int], until: int = 99) -> Callable[[], str]:
    def fn() -> str:
        calls.append(1)
        if len(calls) < until:
            raise error
        return "done"
    return fn


@pytest.mark.parametrize("error", [
    CairnError("blob_store_unreachable", "the blob store did not answer", 503),
    CairnError("store_unreachable", "the blob store did not take w.bin"),
    CairnError("store_refused", "the blob store refused w.bin: 502", 502)])
def test_an_outage_is_tried_again_then_reported(error: CairnError) -> None:
    calls: list[int] = []
    with pytest.raises(CairnError) as failed:
        FAST.run("upload", failing(error, calls))
    assert len(calls) == 3
    assert failed.value.reason == error.reason and failed.value.status == error.status
    assert "the upload failed" in failed.value.message
    assert "after 3 attempts" in failed.value.message


@pytest.mark.parametrize("error", [
    CairnError("blob_store_denied", "the blob store refused Cairn's credentials", 503),
    CairnError("blob_store_no_bucket", "the bucket does not exist", 503),
    CairnError("store_refused", "the blob store refused w.bin: 403", 403),
    CairnError("digest_mismatch", "not the blob", 400)])
def test_what_asking_again_cannot_fix_is_reported_at_once(error: CairnError) -> None:
    calls: list[int] = []
    with pytest.raises(CairnError) as failed:
        FAST.run("upload", failing(error, calls))
    assert len(calls) == 1
    assert failed.value is error


def test_a_store_back_before_the_last_attempt_is_used() -> None:
    calls: list[int] = []
    told: list[int] = []
    policy = StoreRetry(attempts=3, first_wait=0.0, max_wait=0.0,
                        on_retry=lambda e, n: told.append(n))
    error = CairnError("blob_store_unreachable", "down", 503)
    assert policy.run("download", failing(error, calls, until=3)) == "done"
    assert told == [1, 2]
