"""The error catalogue: every machine-readable code the service hands out, and the domain's
exceptions that carry them. The API's error responses and a failed image's `error.code` both
come from here (the README's error table lists them all; tests/test_template.py checks it)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # A bad request: 400, with the offending `field` where there is one.
    MALFORMED_JSON = "malformed_json"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_BODY = "invalid_body"
    MISSING_FIELD = "missing_field"
    INVALID_REQUEST = "invalid_request"
    NO_FILES = "no_files"
    TOO_MANY_FILES = "too_many_files"
    MISSING_SESSION_ID = "missing_session_id"
    INVALID_SESSION_ID = "invalid_session_id"
    INVALID_SHA256 = "invalid_sha256"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    INVALID_SIZE = "invalid_size"
    FILE_TOO_LARGE = "file_too_large"
    INVALID_FILENAME = "invalid_filename"
    INVALID_LIMIT = "invalid_limit"
    INVALID_NEXT_TOKEN = "invalid_next_token"  # noqa: S105 - a code, not a secret
    INVALID_TICKET = "invalid_ticket"
    # Search (400).
    INVALID_QUERY = "invalid_query"
    QUERY_TOO_LONG = "query_too_long"
    # Multipart uploads (400).
    INVALID_PART_NUMBER = "invalid_part_number"
    INVALID_PART_SIZE = "invalid_part_size"
    INVALID_PART_CHECKSUM = "invalid_part_checksum"
    TOO_MANY_PARTS = "too_many_parts"
    PARTS_MISMATCH = "parts_mismatch"
    # Nothing there (404), a record that kept changing or a multipart upload in the wrong state
    # (409), anything unexpected (500).
    NOT_FOUND = "not_found"
    ROUTE_NOT_FOUND = "route_not_found"
    SEARCH_DISABLED = "search_disabled"
    CONCURRENT_MODIFICATION = "concurrent_modification"
    UPLOAD_NOT_OPEN = "upload_not_open"
    UPLOAD_COMPLETED = "upload_completed"
    INTERNAL_ERROR = "internal_error"
    # Not HTTP errors: why an image ended `failed`.
    SIZE_MISMATCH = "size_mismatch"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_MANY_FRAMES = "too_many_frames"
    TOO_MUCH_MEMORY = "too_much_memory"
    CORRUPT_IMAGE = "corrupt_image"
    ENCODE_FAILED = "encode_failed"
    PROCESSING_TIMEOUT = "processing_timeout"


# The codes a failed image's record can carry.
IMAGE_ERRORS: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.SIZE_MISMATCH,
        ErrorCode.CHECKSUM_MISMATCH,
        ErrorCode.UNSUPPORTED_FORMAT,
        ErrorCode.TOO_MANY_PIXELS,
        ErrorCode.TOO_MANY_FRAMES,
        ErrorCode.TOO_MUCH_MEMORY,
        ErrorCode.CORRUPT_IMAGE,
        ErrorCode.ENCODE_FAILED,
        ErrorCode.PROCESSING_TIMEOUT,
    }
)


class DomainError(Exception):
    code = ErrorCode.INVALID_REQUEST

    def __init__(
        self, message: str, *, field: str | None = None, code: ErrorCode | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidRequest(DomainError):
    code = ErrorCode.INVALID_REQUEST


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class InvalidImage(DomainError):
    """The bytes are not an acceptable image; `code` is one of IMAGE_ERRORS."""

    code = ErrorCode.CORRUPT_IMAGE


class Conflict(DomainError):
    """The request does not fit the resource's current state (409)."""

    code = ErrorCode.UPLOAD_NOT_OPEN


class ConcurrentModification(Conflict):
    """The record changed between read and write (optimistic lock lost)."""

    code = ErrorCode.CONCURRENT_MODIFICATION
