"""Builds the Powertools resolver of a function from routers; shared request helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Request
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagepipe import __version__
from imagepipe.api.errors import install_error_handlers, refuse_non_json
from imagepipe.domain.model import PUBLIC_TENANT
from imagepipe.observability import logger, metrics, tracer

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

API_TITLE = "imagepipe"


def create_app(*routers: APIGatewayHttpRouter) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def lambda_handler(app: APIGatewayHttpResolver) -> Handler:
    """The Lambda handler of an API function: the resolver, with the request id as correlation
    id in every log line, a trace segment and the metrics flushed."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return refuse_non_json(event) or app.resolve(event, context)

    return handler


def openapi_json(*routers: APIGatewayHttpRouter) -> str:
    """The OpenAPI document of the routes, with our error contract instead of Powertools' 422:
    request validation errors leave as 400 {"error": {...}} (see api/errors.py)."""
    schema = json.loads(
        create_app(*routers).get_openapi_json_schema(
            title=API_TITLE,
            version=__version__,
            summary="Presigned image uploads with SHA-256 dedup, sessions, reads and deletes.",
            description='Every error is {"error": {"code", "message", "field"?, "requestId"?}} '
            "with a stable machine-readable code.",
        )
    )
    error = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            # A 204 has no body at all (Powertools documents Response[None] as JSON null).
            if "204" in responses:
                responses["204"].pop("content", None)
            responses.setdefault("400", {"description": "Invalid request", **error})
            # A path parameter no route pattern matches (control characters, say) is answered
            # route_not_found, as a path no route has.
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                responses.setdefault("404", {"description": "No such route", **error})
            if "requestBody" in operation:
                responses.setdefault("415", {"description": "The body is not JSON", **error})
            responses.setdefault("500", {"description": "Unexpected error", **error})
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def current_tenant(request: Request) -> str:
    """The JWT `sub` claim when an authorizer is configured, else the public tenant."""
    event = request.resolved_event
    if isinstance(event, APIGatewayProxyEventV2):
        claims = event.request_context.authorizer.jwt_claim or {}
        subject = claims.get("sub")
        if isinstance(subject, str) and subject:
            return subject
    return PUBLIC_TENANT
