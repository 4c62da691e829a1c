"""Every error leaves the API as {"error": {"code", "message", "field"?, "requestId"?}}."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from imagepipe.api.schemas import ErrorBody, ErrorOut
from imagepipe.domain.errors import ConcurrentModification, DomainError, InvalidRequest, NotFound
from imagepipe.observability import logger

# Field name (last element of a pydantic error location) -> our machine-readable code.
_FIELD_CODES = {
    "sha256": "invalid_sha256",
    "contentType": "unsupported_content_type",
    "size": "invalid_size",
    "filename": "invalid_filename",
    "sessionId": "invalid_session_id",
    "limit": "invalid_limit",
    "nextToken": "invalid_next_token",
}


def error_response(
    status: HTTPStatus,
    code: str,
    message: str,
    *,
    field: str | None = None,
    request_id: str | None = None,
) -> Response[str]:
    body = ErrorBody(error=ErrorOut(code=code, message=message, field=field, request_id=request_id))
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(by_alias=True, exclude_none=True),
    )


def field_path(location: Sequence[Any]) -> str:
    """("body", "files", 0, "sha256") -> "files[0].sha256"."""
    path = ""
    for part in location[1:]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or str(location[0]) if location else ""


def validation_error_code(error: dict[str, Any]) -> tuple[str, str, str]:
    """The (code, message, field) for the first pydantic error of a request."""
    location = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    field = field_path(location)
    names = [part for part in location if isinstance(part, str)]
    name = names[-1] if names else ""
    if kind == "json_invalid":
        return "malformed_json", "the request body is not valid JSON", "body"
    if len(location) <= 1 and location[:1] == ("body",):
        return "invalid_body", "the request body must be a JSON object", "body"
    if name == "files" and kind == "too_long":
        return "too_many_files", "files lists more than 10 files", field
    if name == "files" and kind == "too_short":
        return "no_files", "files must list 1 to 10 files", field
    if kind == "missing":
        return "missing_field", f"{field} is required", field
    code = _FIELD_CODES.get(name, "invalid_request")
    return code, f"{field}: {error.get('msg', 'is invalid')}", field


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    def request_id() -> str | None:
        try:
            return str(app.current_event.request_context.request_id)
        except (AttributeError, KeyError, TypeError):
            return None

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[str]:
        code, message, field = validation_error_code(dict(error.errors()[0]))
        logger.info("rejected request", extra={"code": code, "field": field})
        return error_response(
            HTTPStatus.BAD_REQUEST, code, message, field=field, request_id=request_id()
        )

    @app.exception_handler(InvalidRequest)
    def _invalid_domain(error: InvalidRequest) -> Response[str]:
        logger.info("rejected request", extra={"code": error.code, "field": error.field})
        return error_response(
            HTTPStatus.BAD_REQUEST,
            error.code,
            error.message,
            field=error.field,
            request_id=request_id(),
        )

    @app.exception_handler(NotFound)
    def _not_found(error: NotFound) -> Response[str]:
        return error_response(
            HTTPStatus.NOT_FOUND,
            error.code,
            error.message,
            field=error.field,
            request_id=request_id(),
        )

    @app.exception_handler(ConcurrentModification)
    def _conflict(error: ConcurrentModification) -> Response[str]:
        return error_response(
            HTTPStatus.CONFLICT, error.code, error.message, request_id=request_id()
        )

    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response[str]:
        return error_response(
            HTTPStatus.BAD_REQUEST, error.code, error.message, request_id=request_id()
        )

    @app.not_found
    def _no_route(_: NotFoundError) -> Response[str]:
        event = app.current_event
        return error_response(
            HTTPStatus.NOT_FOUND,
            "route_not_found",
            f"no route for {event.http_method} {event.path}",
            request_id=request_id(),
        )

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        # The stack trace goes to the log (with the correlation id), never to the client.
        logger.exception("unhandled error")
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; quote the requestId when reporting it",
            request_id=request_id(),
        )
