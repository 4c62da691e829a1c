"""Ingest of one S3 ObjectCreated record, made idempotent per S3 event with Powertools.

Duplicate deliveries of one event (same bucket, key and sequencer) run once: while the first is
in progress the others wait for it (`ingest_waiting`), then return its result. An invocation
that crashed part-way leaves an in-progress record that expires with its Lambda timeout; a
delivery waiting on it then runs the (itself idempotent) ingest again. Only a delivery whose own
time would run out first gives up, and Lambda retries it later."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from imagepipe.adapters.idempotency import IdempotencyStore
from imagepipe.domain.ingest import image_id_of_staging_key, ingest
from imagepipe.domain.model import Outcome
from imagepipe.pipeline.deps import ingest_deps
from imagepipe.settings import IngestSettings

IDEMPOTENCY_KEY = "[s3.bucket.name, s3.object.key, s3.object.sequencer]"


def _ingest_record(record: dict[str, Any]) -> dict[str, str]:
    # S3 URL-encodes keys in events (spaces as '+').
    key = unquote_plus(record["s3"]["object"]["key"])
    image_id = image_id_of_staging_key(key)
    if image_id is None:
        return {"key": key, "outcome": Outcome.SKIPPED.value}
    return {"key": key, "imageId": image_id, "outcome": ingest(image_id, ingest_deps()).value}


@cache
def idempotent_ingest() -> tuple[IdempotencyConfig, Callable[..., dict[str, str]]]:
    """Built on first use: the persistence layer creates its DynamoDB client."""
    settings = IngestSettings.from_env()
    persistence = IdempotencyStore(settings.idempotency_table)
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
    )
    wrapped = idempotent_function(
        data_keyword_argument="record", persistence_store=persistence, config=config
    )(_ingest_record)
    return config, wrapped


# Waiting on another delivery's in-progress record: first after 0.2 s, doubling up to 5 s, and
# only while this invocation keeps enough time to ingest once the way is clear.
FIRST_WAIT_SECONDS = 0.2
LONGEST_WAIT_SECONDS = 5.0
TIME_TO_INGEST_MS = 20_000


def ingest_waiting(
    record: dict[str, Any],
    ingest_record: Callable[..., dict[str, str]],
    remaining_ms: Callable[[], int],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    wait = FIRST_WAIT_SECONDS
    while True:
        try:
            return ingest_record(record=record)
        except IdempotencyAlreadyInProgressError:
            if remaining_ms() < TIME_TO_INGEST_MS + wait * 1000:
                raise  # Lambda retries the event later
            sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT_SECONDS)
