"""EventPublisher: what a subscriber of the images bus receives for each published event."""

from __future__ import annotations

from dataclasses import replace

from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.model import ImageStatus
from tests.contract.conftest import PublisherUnderTest
from tests.contract.samples import T0, an_image


def test_a_published_event_reaches_a_subscriber_as_the_design_shapes_it(
    events: PublisherUnderTest,
) -> None:
    # Given an image that failed
    image = replace(
        an_image("img-1"),
        status=ImageStatus.FAILED,
        error_code="corrupt_image",
        error_message="cannot decode the jpeg image",
    )

    # When its failure is published
    events.publisher.publish(ImageEvent.of(EventType.FAILED, image, T0))

    # Then one event arrives from source imagepipe, of type Image Failed, with the detail
    (delivered,) = events.delivered()
    assert delivered["source"] == "imagepipe"
    assert delivered["detail-type"] == "Image Failed"
    assert delivered["detail"] == {
        "imageId": "img-1",
        "tenant": "t",
        "status": "failed",
        "error": {"code": "corrupt_image", "message": "cannot decode the jpeg image"},
        "occurredAt": "2026-03-05T12:00:00Z",
    }


def test_events_arrive_once_each_and_in_order(events: PublisherUnderTest) -> None:
    # Given an image's lifecycle
    image = an_image("img-2")
    lifecycle = [EventType.PROCESSING, EventType.COMPLETED, EventType.DELETED]

    # When each change is published in turn
    for type_ in lifecycle:
        events.publisher.publish(ImageEvent.of(type_, image, T0))

    # Then the subscriber gets each once, in order, with no error on any of them
    delivered = events.delivered()
    assert [d["detail-type"] for d in delivered] == [t.value for t in lifecycle]
    assert [d["detail"]["error"] for d in delivered] == [None, None, None]
    assert delivered[-1]["detail"]["status"] == "deleted"
