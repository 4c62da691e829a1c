"""EventsSocketFunction: `$connect` and `$disconnect` of the live-updates WebSocket API (EventsApi).
`$connect` accepts a socket only with a valid, unused ticket from POST /sessions/{id}/events;
any other answer than 200 refuses the upgrade."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe.api.deps import socket_deps
from imagepipe.domain.live import InvalidTicket, connect, disconnect
from imagepipe.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route, connection_id = request.get("routeKey"), request.get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        return _answer(400, "invalid_request", "no connectionId in the request context")
    if route == "$connect":
        token = (event.get("queryStringParameters") or {}).get("ticket")
        try:
            connection = connect(connection_id, token, socket_deps())
        except InvalidTicket as refused:
            metrics.add_metric(name="SocketsRefused", unit=MetricUnit.Count, value=1)
            logger.info("socket refused", extra={"reason": refused.message})
            return _answer(401, str(refused.code), refused.message)
        metrics.add_metric(name="SocketsOpened", unit=MetricUnit.Count, value=1)
        logger.info(
            "socket opened",
            extra={"tenant": connection.tenant, "session_id": connection.session_id},
        )
        return {"statusCode": 200}
    if route == "$disconnect":
        disconnect(connection_id, socket_deps())
        return {"statusCode": 200}
    # No other route is configured: a message from the browser has nothing to reach.
    return _answer(400, "invalid_request", f"unknown route {route!r}")


def _answer(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"error": {"code": code, "message": message}}),
    }
