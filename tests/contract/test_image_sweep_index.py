"""ImageRepository.processing_before: what the sweeper reads, from a sparse index on DynamoDB."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from imagepipe.domain.model import ImageStatus
from imagepipe.domain.ports import ImageRepository
from tests.contract.samples import T0, an_image


def _processing(images: ImageRepository, image_id: str, sha: str, minutes: int) -> None:
    created, _ = images.create(an_image(image_id, sha))
    started = T0 + timedelta(minutes=minutes)
    images.save(replace(created, status=ImageStatus.PROCESSING, uploaded_at=started))


def test_processing_images_started_by_a_moment_come_oldest_first(
    images: ImageRepository,
) -> None:
    # Given images that started processing at minutes 0, 10 and 20, and one still pending
    _processing(images, "img-b", "2" * 64, minutes=10)
    _processing(images, "img-a", "1" * 64, minutes=0)
    _processing(images, "img-c", "3" * 64, minutes=20)
    images.create(an_image("img-p", "4" * 64))

    # When the images processing since minute 10 or earlier are asked for
    due = images.processing_before(T0 + timedelta(minutes=10))

    # Then the two oldest come, oldest first, and neither the later nor the pending one
    assert [image.image_id for image in due] == ["img-a", "img-b"]
    assert all(image.status is ImageStatus.PROCESSING for image in due)


def test_an_image_leaves_the_index_when_it_is_no_longer_processing(
    images: ImageRepository,
) -> None:
    # Given an image processing since minute 0
    _processing(images, "img-a", "1" * 64, minutes=0)
    current = images.get("img-a")
    assert current is not None

    # When it completes
    images.save(replace(current, status=ImageStatus.COMPLETED))

    # Then the sweeper no longer sees it
    assert images.processing_before(T0 + timedelta(days=1)) == []


def test_jobs_sent_again_restart_the_clock(images: ImageRepository) -> None:
    # Given an image processing since minute 0 whose jobs were sent again at minute 30
    _processing(images, "img-a", "1" * 64, minutes=0)
    current = images.get("img-a")
    assert current is not None
    images.save(replace(current, jobs_resent_at=T0 + timedelta(minutes=30)))

    # When the images processing since minute 20 or earlier are asked for, then minute 30
    early = images.processing_before(T0 + timedelta(minutes=20))
    late = images.processing_before(T0 + timedelta(minutes=30))

    # Then it counts from minute 30
    assert early == []
    assert [image.image_id for image in late] == ["img-a"]
