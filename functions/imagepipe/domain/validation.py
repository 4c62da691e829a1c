"""Request rules of the upload API, shared by the domain and the API schema."""

from __future__ import annotations

from collections.abc import Sequence

from imagepipe.domain.errors import InvalidRequest, NotFound
from imagepipe.domain.model import (
    ALLOWED_CONTENT_TYPES,
    IMAGE_ID_PATTERN,
    MAX_FILES_PER_REQUEST,
    SESSION_ID_PATTERN,
    SHA256_PATTERN,
    FileRequest,
)

MAX_FILENAME_LENGTH = 255


def validate_session_id(session_id: str | None) -> str:
    if not session_id:
        raise InvalidRequest(
            "sessionId is required (in the body or the X-Session-Id header)",
            field="sessionId",
            code="missing_session_id",
        )
    if not SESSION_ID_PATTERN.fullmatch(session_id):
        raise InvalidRequest(
            "sessionId must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
            field="sessionId",
            code="invalid_session_id",
        )
    return session_id


def validate_image_id(image_id: str) -> str:
    """An id that cannot exist is simply not found (no hint about the id format is needed)."""
    if not IMAGE_ID_PATTERN.fullmatch(image_id):
        raise NotFound(f"image {image_id!r} not found", field="imageId")
    return image_id


def validate_files(files: Sequence[FileRequest], max_upload_bytes: int) -> None:
    if not files:
        raise InvalidRequest("files must list 1 to 10 files", field="files", code="no_files")
    if len(files) > MAX_FILES_PER_REQUEST:
        raise InvalidRequest(
            f"files lists {len(files)} files; at most {MAX_FILES_PER_REQUEST} per request",
            field="files",
            code="too_many_files",
        )
    for index, file in enumerate(files):
        validate_file(file, max_upload_bytes, f"files[{index}]")


def validate_file(file: FileRequest, max_upload_bytes: int, where: str) -> None:
    if not file.filename or len(file.filename) > MAX_FILENAME_LENGTH:
        raise InvalidRequest(
            f"{where}.filename must be 1 to {MAX_FILENAME_LENGTH} characters",
            field=f"{where}.filename",
            code="invalid_filename",
        )
    if not SHA256_PATTERN.fullmatch(file.sha256):
        raise InvalidRequest(
            f"{where}.sha256 must be 64 lowercase hexadecimal characters",
            field=f"{where}.sha256",
            code="invalid_sha256",
        )
    if file.content_type not in ALLOWED_CONTENT_TYPES:
        allowed = ", ".join(sorted(ALLOWED_CONTENT_TYPES))
        raise InvalidRequest(
            f"{where}.contentType {file.content_type!r} is not allowed; use one of {allowed}",
            field=f"{where}.contentType",
            code="unsupported_content_type",
        )
    if file.size < 1:
        raise InvalidRequest(
            f"{where}.size must be at least 1 byte", field=f"{where}.size", code="invalid_size"
        )
    if file.size > max_upload_bytes:
        raise InvalidRequest(
            f"{where}.size {file.size} exceeds the limit of {max_upload_bytes} bytes",
            field=f"{where}.size",
            code="file_too_large",
        )
