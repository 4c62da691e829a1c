"""Ingest of one S3 ObjectCreated record, made idempotent per S3 event with Powertools.

Duplicate deliveries of one event (same bucket, key and sequencer) run once: while the first is
in progress the others raise (Lambda retries them later); once it is done they return its
result. An invocation that crashed part-way leaves an in-progress record that expires with the
Lambda timeout, after which the retry runs the (itself idempotent) ingest again."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

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
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
    )
    wrapped = idempotent_function(
        data_keyword_argument="record", persistence_store=persistence, config=config
    )(_ingest_record)
    return config, wrapped
