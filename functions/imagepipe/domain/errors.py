"""Domain errors. Each carries a stable machine-readable code that the API returns as is."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidRequest(DomainError):
    code = "invalid_request"


class NotFound(DomainError):
    code = "not_found"


class InvalidImage(DomainError):
    """The bytes are not an acceptable image: unsupported_format, too_many_pixels,
    too_many_frames, corrupt_image."""

    code = "invalid_image"


class ConcurrentModification(DomainError):
    """The record changed between read and write (optimistic lock lost)."""

    code = "concurrent_modification"
