"""EventsNotifierFunction (a rule on the images event bus): each lifecycle event to the
live-update sockets of every session the image is linked to."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.domain.live import notify
from imagepipe.observability import logger, metrics, tracer
from imagepipe.pipeline.deps import notify_deps


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    sent = notify(event.detail_type, dict(event.detail), notify_deps())
    metrics.add_metric(name="SocketMessages", unit=MetricUnit.Count, value=len(sent.delivered))
    metrics.add_metric(name="SocketsGone", unit=MetricUnit.Count, value=len(sent.gone))
    logger.info(
        "notified",
        extra={
            "detail_type": event.detail_type,
            "image_id": event.detail.get("imageId"),
            "delivered": len(sent.delivered),
            "gone": len(sent.gone),
        },
    )
    return {"delivered": len(sent.delivered), "gone": len(sent.gone)}
