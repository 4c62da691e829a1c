"""Every error leaves the API as {"error": {"code", "message", "field"?, "requestId"?}}."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from imagepipe.api.schemas import ErrorBody, ErrorOut
from imagepipe.domain.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    InvalidRequest,
    NotFound,
)
from imagepipe.domain.validation import MAX_FILES_PER_REQUEST
from imagepipe.observability import logger

# Field name (last element of a pydantic error location) -> our machine-readable code.
_FIELD_CODES = {
    "sha256": ErrorCode.INVALID_SHA256,
    "contentType": ErrorCode.UNSUPPORTED_CONTENT_TYPE,
    "size": ErrorCode.INVALID_SIZE,
    "filename": ErrorCode.INVALID_FILENAME,
    "sessionId": ErrorCode.INVALID_SESSION_ID,
    "limit": ErrorCode.INVALID_LIMIT,
    "nextToken": ErrorCode.INVALID_NEXT_TOKEN,
}
# The same names within a multipart request's `parts`.
_PART_CODES = {
    "partNumber": ErrorCode.INVALID_PART_NUMBER,
    "size": ErrorCode.INVALID_PART_SIZE,
    "sha256": ErrorCode.INVALID_PART_CHECKSUM,
}


def error_response(
    status: HTTPStatus,
    code: ErrorCode,
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


def validation_error_code(error: dict[str, Any]) -> tuple[ErrorCode, str, str]:
    """The (code, message, field) for the first pydantic error of a request."""
    location = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    field = field_path(location)
    names = [part for part in location if isinstance(part, str)]
    name = names[-1] if names else ""
    if kind == "json_invalid":
        return ErrorCode.MALFORMED_JSON, "the request body is not valid JSON", "body"
    if len(location) <= 1 and location[:1] == ("body",):
        return ErrorCode.INVALID_BODY, "the request body must be a JSON object", "body"
    if name == "files" and kind == "too_long":
        return (
            ErrorCode.TOO_MANY_FILES,
            f"files lists more than {MAX_FILES_PER_REQUEST} files",
            field,
        )
    if name == "files" and kind == "too_short":
        return ErrorCode.NO_FILES, f"files must list 1 to {MAX_FILES_PER_REQUEST} files", field
    if name == "parts" and kind in ("too_long", "too_short"):
        return ErrorCode.TOO_MANY_PARTS, f"{field}: {error.get('msg', 'wrong length')}", field
    if kind == "missing":
        return ErrorCode.MISSING_FIELD, f"{field} is required", field
    if name == "q":  # GET /search's query: too long, or without a word
        code = ErrorCode.QUERY_TOO_LONG if kind == "string_too_long" else ErrorCode.INVALID_QUERY
        return code, f"q: {error.get('msg', 'is invalid')}", field
    codes = _PART_CODES if "parts" in names else _FIELD_CODES
    code = codes.get(name, ErrorCode.INVALID_REQUEST)
    return code, f"{field}: {error.get('msg', 'is invalid')}", field


def refuse_non_json(event: dict[str, Any]) -> dict[str, Any] | None:
    """Every body this API takes is JSON: another declared type (a form, multipart, text) gets
    415 before anything parses it (Powertools' validation would parse a form or a multipart
    body, and fail on one without a boundary). A body without a Content-Type is read as JSON.
    Returns the API Gateway response to send, or None to go on."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    declared = headers.get("content-type", "").split(";")[0].strip().lower()
    if not event.get("body") or not declared:
        return None
    if declared == "application/json" or declared.endswith("+json"):
        return None
    logger.info("rejected request", extra={"code": ErrorCode.UNSUPPORTED_MEDIA_TYPE})
    request_id = (event.get("requestContext") or {}).get("requestId")
    response = _unsupported_media_type(declared, request_id)
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": response.body,
        "isBase64Encoded": False,
    }


def _unsupported_media_type(declared: str, request_id: str | None) -> Response[str]:
    return error_response(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        f"send the body as application/json, not {declared or 'an unknown type'}",
        field="Content-Type",
        request_id=request_id,
    )


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

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response[str]:
        # Not reached behind refuse_non_json (api/app.py); kept so that no path can turn a
        # client's Content-Type into a 500.
        declared = app.current_event.headers.get("content-type", "")
        return _unsupported_media_type(declared, request_id())

    @app.exception_handler(RecursionError)
    def _too_deep(_: RecursionError) -> Response[str]:
        # json.loads of a body nested thousands deep: malformed as far as this API is concerned.
        logger.info("rejected request", extra={"code": ErrorCode.MALFORMED_JSON})
        return error_response(
            HTTPStatus.BAD_REQUEST,
            ErrorCode.MALFORMED_JSON,
            "the request body is nested too deeply",
            field="body",
            request_id=request_id(),
        )

    @app.exception_handler(Conflict)
    def _conflict(error: Conflict) -> Response[str]:
        logger.info("conflicting request", extra={"code": error.code})
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
            ErrorCode.ROUTE_NOT_FOUND,
            f"no route for {event.http_method} {event.path}",
            request_id=request_id(),
        )

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        # The stack trace goes to the log (with the correlation id), never to the client.
        logger.exception("unhandled error")
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            ErrorCode.INTERNAL_ERROR,
            "internal error; quote the requestId when reporting it",
            request_id=request_id(),
        )
