"""ImageRepository: records, their (tenant, sha256) claims and optimistic versions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from imagepipe.domain.errors import ConcurrentModification
from imagepipe.domain.model import ImageStatus
from imagepipe.domain.ports import ImageRepository
from tests.contract.samples import SHA, an_image


def test_get_returns_a_created_image_and_none_for_an_unknown_id(images: ImageRepository) -> None:
    # Given one created image
    images.create(an_image("img-1"))

    # When both ids are read
    found, unknown = images.get("img-1"), images.get("img-404")

    # Then only the created one exists
    assert found == replace(an_image("img-1"), version=1)
    assert unknown is None


def test_get_many_leaves_missing_ids_out(images: ImageRepository) -> None:
    # Given two created images
    images.create(an_image("img-1", "1" * 64))
    images.create(an_image("img-2", "2" * 64))

    # When they are read with an unknown id and a repeated one
    found = images.get_many(["img-2", "img-404", "img-1", "img-2"])

    # Then each existing image comes back once, by id
    assert found == {
        "img-1": replace(an_image("img-1", "1" * 64), version=1),
        "img-2": replace(an_image("img-2", "2" * 64), version=1),
    }
    assert images.get_many([]) == {}


def test_create_claims_the_hash_once_and_starts_at_version_1(images: ImageRepository) -> None:
    # Given an empty repository

    # When two images with the same (tenant, sha256) are created
    first, first_new = images.create(an_image("img-1"))
    second, second_new = images.create(an_image("img-2"))

    # Then only the first is created, and the second caller gets the owner back
    assert (first_new, second_new) == (True, False)
    assert first == replace(an_image("img-1"), version=1)
    assert second == first
    assert images.get("img-2") is None


def test_a_create_retried_after_its_first_attempt_got_through_returns_it_as_created(
    images: ImageRepository,
) -> None:
    # Given an image created once, whose caller never heard back (its answer was lost)
    images.create(an_image("img-1"))

    # When the very same create is made again
    again, is_new = images.create(an_image("img-1"))

    # Then it is that image, created (no second image, no error), its claim in place
    assert (again, is_new) == (replace(an_image("img-1"), version=1), True)
    found = images.find_by_hash("t", SHA)
    assert found is not None
    assert found.image_id == "img-1"


def test_find_by_hash_is_per_tenant(images: ImageRepository) -> None:
    # Given two tenants that uploaded identical bytes
    _, mine_new = images.create(an_image("img-1", tenant="t-1"))
    _, theirs_new = images.create(an_image("img-2", tenant="t-2"))

    # When each tenant looks the hash up
    mine, theirs = images.find_by_hash("t-1", SHA), images.find_by_hash("t-2", SHA)

    # Then each claim is separate and leads to the tenant's own image
    assert (mine_new, theirs_new) == (True, True)
    assert mine is not None
    assert mine.image_id == "img-1"
    assert theirs is not None
    assert theirs.image_id == "img-2"
    assert images.find_by_hash("t-3", SHA) is None
    assert images.find_by_hash("t-1", "b" * 64) is None


def test_create_with_an_image_id_already_taken_is_refused(images: ImageRepository) -> None:
    # Given a stored image
    images.create(an_image("img-1", "1" * 64))

    # When another hash is created under the same id
    with pytest.raises(ConcurrentModification):
        images.create(an_image("img-1", "2" * 64))

    # Then the stored image is untouched and the new hash is not claimed
    assert images.get("img-1") == replace(an_image("img-1", "1" * 64), version=1)
    assert images.find_by_hash("t", "2" * 64) is None


def test_save_bumps_the_version_and_rejects_a_stale_write(images: ImageRepository) -> None:
    # Given a stored image read twice
    images.create(an_image())
    reader_a, reader_b = images.get("img-1"), images.get("img-1")
    assert reader_a is not None
    assert reader_b is not None

    # When the first reader saves
    saved = images.save(replace(reader_a, status=ImageStatus.PROCESSING))

    # Then the version moved on, and the second reader's write is refused
    assert saved.version == 2
    with pytest.raises(ConcurrentModification):
        images.save(replace(reader_b, status=ImageStatus.FAILED))
    assert images.get("img-1") == replace(an_image(), status=ImageStatus.PROCESSING, version=2)


def test_save_of_an_image_never_created_is_refused(images: ImageRepository) -> None:
    # Given an image that was never created
    never_created = an_image("img-1")

    # When it is saved
    with pytest.raises(ConcurrentModification):
        images.save(never_created)

    # Then nothing was stored
    assert images.get("img-1") is None


def test_save_of_a_deleted_image_is_refused(images: ImageRepository) -> None:
    # Given an image read just before it was deleted
    created, _ = images.create(an_image())
    images.delete(created)

    # When the reader saves it
    with pytest.raises(ConcurrentModification):
        images.save(replace(created, status=ImageStatus.COMPLETED))

    # Then it stays deleted
    assert images.get("img-1") is None


def test_release_hash_frees_the_hash_and_keeps_the_record(images: ImageRepository) -> None:
    # Given a stored image
    created, _ = images.create(an_image("img-1"))

    # When its hash claim is released
    images.release_hash(created)
    images.release_hash(created)

    # Then the hash leads nowhere and can be claimed again, while the record stays
    assert images.find_by_hash("t", SHA) is None
    assert images.get("img-1") == created
    assert images.create(an_image("img-2"))[1] is True


def test_release_hash_keeps_a_claim_that_points_at_another_image(
    images: ImageRepository,
) -> None:
    # Given a released image whose hash another image then claimed
    first, _ = images.create(an_image("img-1"))
    images.release_hash(first)
    images.create(an_image("img-2"))

    # When the first image's claim is released again
    images.release_hash(first)

    # Then the other image keeps its claim
    owner = images.find_by_hash("t", SHA)
    assert owner is not None
    assert owner.image_id == "img-2"


def test_delete_removes_the_record_and_its_hash_claim(images: ImageRepository) -> None:
    # Given a stored image
    created, _ = images.create(an_image("img-1"))

    # When it is deleted
    images.delete(created)

    # Then the record and the claim are gone, so the hash can be claimed again
    assert images.get("img-1") is None
    assert images.find_by_hash("t", SHA) is None
    assert images.create(an_image("img-2"))[1] is True


def test_delete_is_idempotent(images: ImageRepository) -> None:
    # Given a deleted image, and one never created
    created, _ = images.create(an_image("img-1"))
    images.delete(created)

    # When both are deleted (again)
    images.delete(created)
    images.delete(an_image("img-2", "2" * 64))

    # Then nothing is there and nothing failed
    assert images.get_many(["img-1", "img-2"]) == {}


def test_delete_keeps_a_claim_that_points_at_another_image(images: ImageRepository) -> None:
    # Given a released image whose hash another image then claimed
    first, _ = images.create(an_image("img-1"))
    images.release_hash(first)
    images.create(an_image("img-2"))

    # When the first image is deleted
    images.delete(first)

    # Then only its record went
    assert images.get("img-1") is None
    owner = images.find_by_hash("t", SHA)
    assert owner is not None
    assert owner.image_id == "img-2"
