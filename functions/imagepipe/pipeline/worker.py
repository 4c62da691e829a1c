"""The SQS batch worker of VariantsFunction and MetadataFunction: Powertools' BatchProcessor
with partial batch responses, one parsed job per record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.domain.jobs import JobDeps
from imagepipe.domain.model import JobKind, Outcome
from imagepipe.observability import logger, metrics
from imagepipe.pipeline.messages import JobRecord


class Job(Protocol):
    def __call__(self, image_id: str, *, deps: JobDeps, key_date: str | None = None) -> Outcome: ...


def process_jobs(
    event: dict[str, Any], context: LambdaContext, jobs: Mapping[JobKind, Job], deps: JobDeps
) -> dict[str, Any]:
    """Run each record's job (by its kind, one of `jobs`); the records that fail are reported
    for retry."""
    processor = BatchProcessor(event_type=EventType.SQS, model=JobRecord)

    def record_handler(record: JobRecord) -> str:
        kind = record.body.kind
        job = jobs.get(kind)
        if job is None:
            raise ValueError(f"a {kind} job reached the worker of {', '.join(jobs)}")
        outcome = job(record.body.image_id, deps=deps, key_date=record.body.key_date)
        metrics.add_metric(name=f"{kind.title()}_{outcome.value}", unit=MetricUnit.Count, value=1)
        logger.info(
            "job done",
            extra={"kind": kind.value, "image_id": record.body.image_id, "outcome": outcome.value},
        )
        return outcome.value

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
