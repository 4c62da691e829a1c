"""Powertools' DynamoDB idempotency store, safe against its own ambiguous writes.

A conditional put answered with a 5xx after DynamoDB applied it is retried by the SDK; the
retry then meets the record the first attempt wrote and fails its condition, and Powertools
would take our own in-progress record for another invocation's (IdempotencyAlreadyInProgress:
the event would fail until that record expires). The record we meet is ours when it is the one
we were writing, to the millisecond of its in-progress expiry: that put succeeded."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from imagepipe.adapters.aws import SDK_CONFIG


class IdempotencyStore(DynamoDBPersistenceLayer):
    def __init__(self, table_name: str) -> None:
        super().__init__(table_name=table_name, boto_config=SDK_CONFIG)

    def _put_record(self, data_record: DataRecord) -> None:
        try:
            super()._put_record(data_record)
        except IdempotencyItemAlreadyExistsError as exists:
            if not _same_write(exists.old_data_record, data_record):
                raise


def _same_write(found: DataRecord | None, written: DataRecord) -> bool:
    return (
        found is not None
        and found.idempotency_key == written.idempotency_key
        and found.status == written.status
        and found.expiry_timestamp == written.expiry_timestamp
        and found.in_progress_expiry_timestamp is not None
        and found.in_progress_expiry_timestamp == written.in_progress_expiry_timestamp
    )
