"""The SQS batch worker shared by VariantsFunction and MetadataFunction: Powertools'
BatchProcessor with partial batch responses, one parsed job per record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.domain.model import JobKind
from imagepipe.domain.processing import Outcome
from imagepipe.observability import logger, metrics
from imagepipe.pipeline.messages import JobRecord


def make_worker(
    kind: JobKind, run: Callable[[str, str | None], Outcome]
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    processor = BatchProcessor(event_type=EventType.SQS, model=JobRecord)

    def record_handler(record: JobRecord) -> str:
        if record.body.kind is not kind:
            raise ValueError(f"a {record.body.kind} job reached the {kind} worker")
        outcome = run(record.body.image_id, record.body.key_date)
        metrics.add_metric(name=f"{kind.title()}_{outcome.value}", unit=MetricUnit.Count, value=1)
        logger.info(
            "job done",
            extra={"kind": kind.value, "image_id": record.body.image_id, "outcome": outcome.value},
        )
        return outcome.value

    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)

    return handle
