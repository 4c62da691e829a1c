"""Records the contract tests start from."""

from __future__ import annotations

from datetime import UTC, datetime

from imagepipe.domain.model import Image, ImageStatus

T0 = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
SHA = "a" * 64


def an_image(image_id: str = "img-1", sha256: str = SHA, tenant: str = "t") -> Image:
    """A fresh upload request's record, as the upload use case creates it."""
    return Image(
        image_id=image_id,
        tenant=tenant,
        sha256=sha256,
        filename="f.jpg",
        content_type="image/jpeg",
        size=1,
        status=ImageStatus.PENDING_UPLOAD,
        created_at=T0,
        updated_at=T0,
        key_date="2026/03/05",
    )
