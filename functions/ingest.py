"""IngestFunction: S3 ObjectCreated on uploads/ (asynchronous invocation; failures are retried
twice by Lambda, then sent to IngestDeadLetterQueue)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.observability import logger, metrics, tracer
from imagepipe.pipeline.ingest import idempotent_ingest, ingest_waiting


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("Event") == "s3:TestEvent" or "Records" not in event:
        # S3 sends a test event when a notification is configured: nothing to ingest.
        logger.info("skipped S3 test event")
        return {"results": []}
    config, ingest_record = idempotent_ingest()
    config.register_lambda_context(context)
    results = []
    for record in S3Event(event).records:
        result = ingest_waiting(
            record.raw_event, ingest_record, context.get_remaining_time_in_millis
        )
        metrics.add_metric(name=f"Ingest_{result['outcome']}", unit=MetricUnit.Count, value=1)
        logger.info("ingested", extra=result)
        results.append(result)
    return {"results": results}
