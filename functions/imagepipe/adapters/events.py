"""EventBridge adapter: lifecycle events onto the images event bus."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from imagepipe.domain.events import SOURCE, ImageEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class EventBridgePublisher:
    def __init__(self, bus_name: str, client: Callable[[], EventBridgeClient]) -> None:
        self._bus = bus_name
        self._client = client

    def publish(self, event: ImageEvent) -> None:
        response = self._client().put_events(
            Entries=[
                {
                    "EventBusName": self._bus,
                    "Source": SOURCE,
                    "DetailType": event.type.value,
                    "Detail": json.dumps(event.detail, separators=(",", ":")),
                    "Time": event.occurred_at,
                    "Resources": [],
                }
            ]
        )
        # PutEvents answers 200 with per-entry failures (throttling, internal errors): the
        # caller must fail so that its step is retried.
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise RuntimeError(
                f"the event bus refused {event.type} for {event.image_id}: "
                f"{entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )
