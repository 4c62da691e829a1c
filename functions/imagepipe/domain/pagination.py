"""The session listing's page token, one codec for every implementation of the links port: an
opaque URL-safe string saying where the next page starts (the last link's time and image id)
and which listing it belongs to, so that a token replayed on another session is refused instead
of silently skipping items."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from imagepipe.domain.errors import ErrorCode, InvalidRequest


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in a listing ordered by (linked_at, image_id)."""

    linked_at: str
    image_id: str


def sortable_time(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds: sorts chronologically as a string."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pack(data: dict[str, object]) -> str:
    """An opaque, URL-safe page token holding `data` (the listing or search's own codec)."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unpack(token: str) -> dict[str, object]:
    """What `pack` put in; ValueError (or binascii.Error) for anything else."""
    padded = token + "=" * (-len(token) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(data, dict):
        raise ValueError("a token holds an object")
    return data


def encode_token(tenant: str, session_id: str, cursor: Cursor) -> str:
    return pack({"s": _listing(tenant, session_id), "i": cursor.image_id, "t": cursor.linked_at})


def decode_token(token: str, tenant: str, session_id: str) -> Cursor:
    """The cursor of a token this listing handed out; InvalidRequest for anything else."""
    try:
        data = unpack(token)
        image_id, linked_at = data["i"], data["t"]
        if not isinstance(image_id, str) or not isinstance(linked_at, str):
            raise TypeError("token fields must be strings")
        if data["s"] != _listing(tenant, session_id):
            raise ValueError("token of another listing")
        datetime.fromisoformat(linked_at)
    except (ValueError, TypeError, KeyError, binascii.Error) as error:
        raise InvalidRequest(
            "nextToken is not a token returned by this listing",
            field="nextToken",
            code=ErrorCode.INVALID_NEXT_TOKEN,
        ) from error
    return Cursor(linked_at=linked_at, image_id=image_id)


def _listing(tenant: str, session_id: str) -> str:
    return hashlib.sha256(f"{tenant}#{session_id}".encode()).hexdigest()[:16]
