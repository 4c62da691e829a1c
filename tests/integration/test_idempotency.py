"""Writes whose answer was lost, and concurrent deliveries, on moto: a put that DynamoDB applied
before the answer was lost is recognised as our own when it is retried (Ingest's idempotency
record, an image's record and claim), a create that never hears back leaves no record behind,
and a delivery meeting another's in-progress record waits for it instead of failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.botocore_stubber import BotocoreStubber
from pynamodb.exceptions import PutError

from imagepipe.adapters.idempotency import IdempotencyStore
from imagepipe.adapters.mapping import image_to_record
from imagepipe.adapters.records import ImageRecord, bind
from imagepipe.domain.uploads import PENDING_TTL
from imagepipe.pipeline.ingest import ingest_waiting
from imagepipe_local.faults import Fault, error_response
from imagepipe_local.template import Template
from tests.contract.samples import SHA, T0, an_image
from tests.integration.helpers import images_repo, items


def in_progress(key: str, *, expiry_ms: int) -> DataRecord:
    return DataRecord(
        idempotency_key=key,
        status="INPROGRESS",
        expiry_timestamp=int(time.time()) + 3600,
        in_progress_expiry_timestamp=expiry_ms,
    )


@pytest.fixture
def store(aws: Template) -> IdempotencyStore:
    return IdempotencyStore(aws.physical_name("IdempotencyTable"))


def test_a_retried_put_that_meets_its_own_first_attempt_succeeds(store: IdempotencyStore) -> None:
    # Given an in-progress record already written by a first attempt whose answer was lost
    record = in_progress("ingest#abc", expiry_ms=int(time.time() * 1000) + 60_000)
    store._put_record(record)
    # When the SDK's retry puts the very same record again
    store._put_record(record)
    # Then it succeeds: the write was ours, and the record is as we wrote it
    stored = store._get_record("ingest#abc")
    assert (stored.status, stored.in_progress_expiry_timestamp) == (
        "INPROGRESS",
        record.in_progress_expiry_timestamp,
    )


def test_another_invocations_in_progress_record_still_blocks(store: IdempotencyStore) -> None:
    # Given an in-progress record of another invocation (its own expiry)
    now_ms = int(time.time() * 1000)
    store._put_record(in_progress("ingest#abc", expiry_ms=now_ms + 60_000))
    # When this invocation puts its own
    # Then it is refused as an existing record: Powertools then reports it in progress
    with pytest.raises(IdempotencyItemAlreadyExistsError):
        store._put_record(in_progress("ingest#abc", expiry_ms=now_ms + 61_000))


def test_a_delivery_meeting_another_in_progress_waits_for_its_result() -> None:
    # Given a first delivery that takes a while, and a second one of the same event
    first_started, results = threading.Event(), []
    busy = threading.Lock()
    done: dict[str, str] = {}

    def idempotent(*, record: dict[str, str]) -> dict[str, str]:
        if busy.acquire(blocking=False):
            first_started.set()
            time.sleep(0.5)
            done.update(outcome="processing")
            busy.release()
            return done
        if not done:
            raise IdempotencyAlreadyInProgressError("in progress")
        return done  # Powertools replays the stored result

    first = threading.Thread(target=lambda: results.append(idempotent(record={})))
    first.start()
    first_started.wait(5)
    # When the second arrives while the first is in progress, with plenty of time left
    second = ingest_waiting({}, idempotent, remaining_ms=lambda: 60_000)
    first.join(5)
    # Then it waited, and returns the first one's result
    assert second == {"outcome": "processing"}
    assert results == [second]


def test_a_delivery_without_time_to_wait_gives_up_for_lambda_to_retry() -> None:
    # Given a delivery meeting an in-progress record it cannot outlast
    waited: list[float] = []

    def idempotent(*, record: dict[str, str]) -> dict[str, str]:
        raise IdempotencyAlreadyInProgressError("in progress")

    remaining = iter([60_000, 40_000, 25_000, 20_500, 20_000])
    # When it tries, Then it waits while it has time, doubling the wait, then raises
    with pytest.raises(IdempotencyAlreadyInProgressError):
        ingest_waiting({}, idempotent, lambda: next(remaining), sleep=waited.append)
    assert waited == [0.2, 0.4, 0.8]


def test_a_create_whose_record_got_through_but_not_its_claim_finishes_the_claim(
    aws: Template,
) -> None:
    # Given an image whose record was written by a create that then died before its claim
    images = images_repo(aws)
    image = an_image("img-1")
    image_to_record(bind(ImageRecord, aws.physical_name("ImagesTable"), "us-east-1"), image).save()
    assert images.find_by_hash("t", image.sha256) is None

    # When the create is made again
    created, is_new = images.create(image)

    # Then it is that image, created, and it now owns its hash: no second record
    assert (created.image_id, is_new) == ("img-1", True)
    owner = images.find_by_hash("t", image.sha256)
    assert owner is not None
    assert owner.image_id == "img-1"


# Answers lost: (operation, whether moto applies the call, a marker its request body holds).
LoseAnswers = Callable[[str, bool, bytes], None]


@pytest.fixture
def answers_lost(monkeypatch: pytest.MonkeyPatch) -> LoseAnswers:
    """From now on every `operation` call whose body holds `marker` is answered with a 500 (and
    retried by the SDK until it gives up), after moto applied it or without reaching moto: what
    the local stack's fault injector does over HTTP (`--fault-mode after|before`)."""
    serve = BotocoreStubber.__call__
    fault = Fault(500, "InternalServerError", "Internal server error")
    rules: list[tuple[str, bool, bytes]] = []

    def answer(
        self: BotocoreStubber, event_name: str, request: AWSPreparedRequest, **kwargs: Any
    ) -> AWSResponse | None:
        body = request.body if isinstance(request.body, bytes) else b""
        for operation, applied, marker in rules:
            if event_name.endswith(f".{operation}") and marker in body:
                if applied:
                    serve(self, event_name, request, **kwargs)
                return error_response(request, fault)
        return serve(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", answer)
    return lambda operation, applied, marker: rules.append((operation, applied, marker))


def image_records(template: Template) -> list[dict[str, Any]]:
    return [i for i in items(template, "ImagesTable") if i["pk"]["S"].startswith("image#")]


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not-applied"])
def test_a_create_whose_record_never_hears_back_leaves_no_record(
    aws: Template, answers_lost: LoseAnswers, monkeypatch: pytest.MonkeyPatch, applied: bool
) -> None:
    # Given a create whose record put is answered 500 at every attempt, applied or not
    images = images_repo(aws)
    answers_lost("PutItem", applied, b'"image#img-1"')
    with pytest.raises(PutError):
        images.create(an_image("img-1"))
    monkeypatch.undo()

    # Then no record is left (it would own no hash, and its id was never handed out)
    assert image_records(aws) == []
    assert images.find_by_hash("t", SHA) is None
    # And the caller's repeated request (a new image id) creates the one image for the bytes
    again, is_new = images.create(an_image("img-2"))
    assert (again.image_id, is_new) == ("img-2", True)
    assert [r["pk"]["S"] for r in image_records(aws)] == ["image#img-2"]


def test_a_create_whose_claim_never_hears_back_leaves_no_record(
    aws: Template, answers_lost: LoseAnswers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a create whose claim put is applied but answered 500 at every attempt
    images = images_repo(aws)
    answers_lost("PutItem", True, b'"sha256#')
    with pytest.raises(PutError):
        images.create(an_image("img-1"))
    monkeypatch.undo()

    # Then its record is gone; the claim left pointing at it is debris, dropped when read
    assert image_records(aws) == []
    assert images.find_by_hash("t", SHA) is None
    again, is_new = images.create(an_image("img-2"))
    assert (again.image_id, is_new) == ("img-2", True)


def test_a_stray_record_left_when_even_its_delete_fails_expires_unreached(
    aws: Template, answers_lost: LoseAnswers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a create whose record put is applied and its clean-up delete refused, every attempt
    images = images_repo(aws)
    answers_lost("PutItem", True, b'"image#img-1"')
    answers_lost("DeleteItem", False, b'"image#img-1"')
    with pytest.raises(PutError):
        images.create(replace(an_image("img-1"), expires_at=T0 + PENDING_TTL))
    monkeypatch.undo()

    # Then the one record left owns no hash and expires as a pending upload nobody was given
    (stray,) = image_records(aws)
    assert stray["status"]["S"] == "pending_upload"
    assert "expiresAt" in stray
    assert images.find_by_hash("t", SHA) is None
