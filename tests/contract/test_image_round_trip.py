"""ImageRepository: what is stored is what comes back, and nothing else changes it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from imagepipe.domain.model import ImageStatus, Thumbnail, Variant
from imagepipe.domain.ports import ImageRepository
from tests.contract.samples import SHA, T0, an_image


def test_stored_state_cannot_be_mutated_through_given_or_returned_objects(
    images: ImageRepository,
) -> None:
    # Given a stored image, the object it was created from, and what create and get returned
    given = replace(an_image(), metadata={"colors": ["#000000"]})
    created, _ = images.create(given)
    read = images.get("img-1")
    assert read is not None

    # When the caller mutates all three
    for image in (given, created, read):
        image.status = ImageStatus.COMPLETED
        image.variants.append(Variant("small", "webp", 1, 1, 1, "k"))
        image.metadata["x"] = 1
        image.metadata["colors"].append("#ffffff")

    # Then the stored record is unchanged
    assert images.get("img-1") == replace(an_image(), metadata={"colors": ["#000000"]}, version=1)


def test_a_processed_image_round_trips_intact(images: ImageRepository) -> None:
    # Given a created image and everything processing adds to it
    created, _ = images.create(an_image())
    moment = T0 + timedelta(seconds=7, microseconds=123456)
    outputs = "images/2026/03/05/variants/img-1"
    processed = replace(
        created,
        status=ImageStatus.COMPLETED,
        updated_at=moment,
        uploaded_at=moment,
        processed_at=moment,
        width=4000,
        height=3000,
        format="JPEG",
        original_key="images/2026/03/05/original/img-1.jpg",
        thumbnail=Thumbnail(
            key=f"{outputs}_thumbnail.webp",
            width=150,
            height=150,
            data=bytes(range(256)) * 20,  # every byte value, NUL included
        ),
        variants=[
            Variant("small", "webp", 640, 480, 12345, f"{outputs}_small.webp"),
            Variant("large", "avif", 1920, 1440, 98765, f"{outputs}_large.avif"),
        ],
        metadata={
            "exif": {"make": "Ça", "exposure": 0.004, "iso": 100, "flash": False, "lens": None},
            "colors": [{"hex": "#112233", "share": 0.5}],
            "phash": "0123456789abcdef",
        },
        jobs_sent_at=moment,
        variants_done=True,
        metadata_done=True,
        phash="0123456789abcdef",
    )

    # When it is saved and read back
    saved = images.save(processed)
    read = images.get("img-1")

    # Then every field, bytes and nested values included, is what was saved
    assert saved == replace(processed, version=2)
    assert read == saved


def test_metadata_is_kept_as_json(images: ImageRepository) -> None:
    # Given metadata with a tuple and a numeric key (JSON has neither)
    image = replace(an_image(), metadata={"size": (640, 480), "counts": {1: "one"}})

    # When it is stored and read back
    images.create(image)
    read = images.get("img-1")

    # Then it is what JSON makes of it
    assert read is not None
    assert read.metadata == {"size": [640, 480], "counts": {"1": "one"}}


def test_metadata_that_is_not_json_is_refused(images: ImageRepository) -> None:
    # Given metadata holding a datetime
    image = replace(an_image(), metadata={"taken": T0})

    # When it is created
    with pytest.raises(TypeError):
        images.create(image)

    # Then nothing was stored
    assert images.get("img-1") is None
    assert images.find_by_hash("t", SHA) is None


def test_the_expiry_is_kept_to_the_second(images: ImageRepository) -> None:
    # Given a pending image expiring at a moment with microseconds (a TTL is epoch seconds)
    image = replace(an_image(), expires_at=T0 + timedelta(hours=24, microseconds=999999))

    # When it is created and read back
    created, _ = images.create(image)
    read = images.get("img-1")

    # Then the expiry lost its fraction of a second, both times
    assert read is not None
    assert read.expires_at == T0 + timedelta(hours=24)
    assert created.expires_at == read.expires_at
