"""The one exception the imaging module raises for bad input."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal["unsupported_format", "too_many_pixels", "too_many_frames", "corrupt_image"]


class ImagingError(Exception):
    """The bytes are not an image this pipeline accepts. `code` is stable and goes to the
    client as the image's error code; `message` is for humans and logs."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message
