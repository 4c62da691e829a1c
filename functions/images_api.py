"""ImagesApiFunction: GET/DELETE /images/{imageId}, GET /sessions/{sessionId}/images,
DELETE /sessions/{sessionId}/images/{imageId}."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.api.app import create_app
from imagepipe.api.images import router
from imagepipe.observability import logger, metrics, tracer

app = create_app(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
