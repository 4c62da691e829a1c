"""The one exception the imaging module raises for bad input: the domain's InvalidImage, so a
caller needs no mapping and the codes come from the one catalogue (imagepipe.domain.errors)."""

from __future__ import annotations

from imagepipe.domain.errors import ErrorCode, InvalidImage


class ImagingError(InvalidImage):
    """The bytes are not an image this pipeline accepts. `code` is stable and goes to the
    client as the image's error code; `message` is for humans and logs."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message, code=code)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
