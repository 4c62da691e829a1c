"""The request rules and limits, in one place: the domain checks them here, and the API's pydantic
schemas (and with them the OpenAPI document) are declared from the same patterns and numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence

from imagepipe.domain.errors import ErrorCode, InvalidRequest, NotFound
from imagepipe.domain.model import FileRequest

ALLOWED_CONTENT_TYPES: frozenset[str] = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/avif",
        "image/heic",
        "image/heif",
    }
)
MAX_FILES_PER_REQUEST = 10
MAX_FILENAME_LENGTH = 255
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# '#' is excluded on purpose: it separates tenant and session in the session-link key.
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# No '_' nor '.': they end the variants and original key prefixes of an image (domain/keys.py),
# so an id containing them could make one image's prefix cover another image's objects.
IMAGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9\-]{1,128}$")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def validate_session_id(session_id: str | None) -> str:
    if not session_id:
        raise InvalidRequest(
            "sessionId is required (in the body or the X-Session-Id header)",
            field="sessionId",
            code=ErrorCode.MISSING_SESSION_ID,
        )
    if not SESSION_ID_PATTERN.fullmatch(session_id):
        raise InvalidRequest(
            "sessionId must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
            field="sessionId",
            code=ErrorCode.INVALID_SESSION_ID,
        )
    return session_id


def validate_image_id(image_id: str) -> str:
    """An id that cannot exist is simply not found (no hint about the id format is needed)."""
    if not IMAGE_ID_PATTERN.fullmatch(image_id):
        raise NotFound(f"image {image_id!r} not found", field="imageId")
    return image_id


def validate_files(files: Sequence[FileRequest], max_upload_bytes: int) -> None:
    if not files:
        raise InvalidRequest(
            f"files must list 1 to {MAX_FILES_PER_REQUEST} files",
            field="files",
            code=ErrorCode.NO_FILES,
        )
    if len(files) > MAX_FILES_PER_REQUEST:
        raise InvalidRequest(
            f"files lists {len(files)} files; at most {MAX_FILES_PER_REQUEST} per request",
            field="files",
            code=ErrorCode.TOO_MANY_FILES,
        )
    for index, file in enumerate(files):
        validate_file(file, max_upload_bytes, f"files[{index}]")


def validate_file(file: FileRequest, max_upload_bytes: int, where: str) -> None:
    if not file.filename or len(file.filename) > MAX_FILENAME_LENGTH:
        raise InvalidRequest(
            f"{where}.filename must be 1 to {MAX_FILENAME_LENGTH} characters",
            field=f"{where}.filename",
            code=ErrorCode.INVALID_FILENAME,
        )
    if not SHA256_PATTERN.fullmatch(file.sha256):
        raise InvalidRequest(
            f"{where}.sha256 must be 64 lowercase hexadecimal characters",
            field=f"{where}.sha256",
            code=ErrorCode.INVALID_SHA256,
        )
    if file.content_type not in ALLOWED_CONTENT_TYPES:
        allowed = ", ".join(sorted(ALLOWED_CONTENT_TYPES))
        raise InvalidRequest(
            f"{where}.contentType {file.content_type!r} is not allowed; use one of {allowed}",
            field=f"{where}.contentType",
            code=ErrorCode.UNSUPPORTED_CONTENT_TYPE,
        )
    if file.size < 1:
        raise InvalidRequest(
            f"{where}.size must be at least 1 byte",
            field=f"{where}.size",
            code=ErrorCode.INVALID_SIZE,
        )
    if file.size > max_upload_bytes:
        raise InvalidRequest(
            f"{where}.size {file.size} exceeds the limit of {max_upload_bytes} bytes",
            field=f"{where}.size",
            code=ErrorCode.FILE_TOO_LARGE,
        )
