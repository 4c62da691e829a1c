"""SweeperFunction (scheduled): images stuck in `processing` get their missing jobs once more,
and uploads Ingest never finished with get their event again (twice); then either ends
`failed` with `processing_timeout`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.domain.sweep import sweep
from imagepipe.observability import logger, metrics, tracer
from imagepipe.pipeline.deps import sweeper_deps


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    report = sweep(sweeper_deps())
    metrics.add_metric(name="JobsResent", unit=MetricUnit.Count, value=len(report.resent))
    metrics.add_metric(
        name="ProcessingTimeouts", unit=MetricUnit.Count, value=len(report.timed_out)
    )
    metrics.add_metric(name="UploadsRestaged", unit=MetricUnit.Count, value=len(report.restaged))
    logger.info(
        "swept",
        extra={
            "scheduled_at": event.time,
            "resent": report.resent,
            "timed_out": report.timed_out,
            "restaged": report.restaged,
        },
    )
    return {"resent": report.resent, "timedOut": report.timed_out, "restaged": report.restaged}
