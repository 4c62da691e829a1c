"""Lifecycle events: what an image's owner hears when its status changes. Published on the
images event bus (`source` imagepipe) after the write that made the change has won, so two
racing writers never both announce one change; at least once (a publish that fails fails the
step, which is retried)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from imagepipe.domain.model import Image

SOURCE = "imagepipe"


class EventType(StrEnum):
    """EventBridge detail-types."""

    PROCESSING = "Image Processing"  # Ingest accepted the bytes; the thumbnail exists
    COMPLETED = "Image Completed"
    FAILED = "Image Failed"
    DELETED = "Image Deleted"


@dataclass(frozen=True)
class ImageEvent:
    type: EventType
    image_id: str
    tenant: str
    status: str
    error_code: str | None
    error_message: str | None
    occurred_at: datetime
    # Image Deleted only: the sessions of the tenant that linked it (their links are gone by
    # the time a subscriber reads the event, and live updates still have to reach them).
    session_ids: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        type_: EventType,
        image: Image,
        occurred_at: datetime,
        session_ids: tuple[str, ...] = (),
    ) -> ImageEvent:
        status = "deleted" if type_ is EventType.DELETED else image.status.value
        failed = type_ is EventType.FAILED
        return cls(
            type=type_,
            image_id=image.image_id,
            tenant=image.tenant,
            status=status,
            error_code=image.error_code if failed else None,
            error_message=image.error_message if failed else None,
            occurred_at=occurred_at,
            session_ids=session_ids if type_ is EventType.DELETED else (),
        )

    @property
    def detail(self) -> dict[str, Any]:
        """The event's `detail`, as the design fixes it."""
        error = None
        if self.error_code is not None:
            error = {"code": self.error_code, "message": self.error_message}
        detail: dict[str, Any] = {
            "imageId": self.image_id,
            "tenant": self.tenant,
            "status": self.status,
            "error": error,
            "occurredAt": self.occurred_at.isoformat().replace("+00:00", "Z"),
        }
        if self.type is EventType.DELETED:
            detail["sessionIds"] = list(self.session_ids)
        return detail
