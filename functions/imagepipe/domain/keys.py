"""S3 object keys of an image. The layout is fixed by the design; only this module spells it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

STAGING_PREFIX = "uploads/"
IMAGES_PREFIX = "images/"


def key_date(moment: datetime) -> str:
    """The `YYYY/MM/DD` part of every key of an image: the moment's UTC date."""
    return moment.astimezone(UTC).strftime("%Y/%m/%d")


def staging_key(image_id: str) -> str:
    return f"{STAGING_PREFIX}{image_id}"


def original_prefix(date: str, image_id: str) -> str:
    """Prefix of the original whatever its extension (the extension comes from sniffing)."""
    return f"{IMAGES_PREFIX}{date}/original/{image_id}."


def original_key(date: str, image_id: str, ext: str) -> str:
    return f"{original_prefix(date, image_id)}{ext}"


def variants_prefix(date: str, image_id: str) -> str:
    return f"{IMAGES_PREFIX}{date}/variants/{image_id}_"


def thumbnail_key(date: str, image_id: str) -> str:
    return f"{variants_prefix(date, image_id)}thumbnail.webp"


def variant_key(date: str, image_id: str, name: str, fmt: str) -> str:
    return f"{variants_prefix(date, image_id)}{name}.{fmt}"


_DATED = re.compile(
    r"^images/\d{4}/\d{2}/\d{2}/(?:original/([^./]+)\.[^/]+|variants/([^_/]+)_[^/]+)$"
)


def image_id_of(key: str) -> str | None:
    """The image an object key belongs to, by the layout above; None for any other key."""
    if key.startswith(STAGING_PREFIX):
        rest = key.removeprefix(STAGING_PREFIX)
        return rest if rest and "/" not in rest else None
    found = _DATED.match(key)
    return (found.group(1) or found.group(2)) if found else None


# An object never changes under its key (a new upload gets a new image id): caches may keep
# every object for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
