"""ImageRepository's near-duplicate index: perceptual hashes by band, per tenant."""

from __future__ import annotations

from imagepipe.domain.ports import ImageRepository
from tests.contract.samples import an_image

PHASH = "0123456789abcdef"
NEAR = "0123456789abcdee"  # one bit off: six of the seven bands still agree
FAR = "fedcba9876543210"  # every bit off: no band agrees


def test_similar_finds_an_indexed_image_by_any_shared_band(images: ImageRepository) -> None:
    # Given an image indexed by its hash
    image, _ = images.create(an_image("img-1"))
    images.index_phash(image, PHASH)

    # When hashes are looked up
    same, near, far = (images.similar("t", h) for h in (PHASH, NEAR, FAR))

    # Then the same and a near hash find it (with its own hash), an unrelated one does not
    assert same == {"img-1": PHASH}
    assert near == {"img-1": PHASH}
    assert far == {}


def test_similar_is_scoped_to_the_tenant(images: ImageRepository) -> None:
    # Given two tenants' images with the same hash
    mine, _ = images.create(an_image("img-1", tenant="t-1"))
    theirs, _ = images.create(an_image("img-2", tenant="t-2"))
    images.index_phash(mine, PHASH)
    images.index_phash(theirs, PHASH)

    # When each tenant looks the hash up
    found = {tenant: images.similar(tenant, PHASH) for tenant in ("t-1", "t-2", "t-3")}

    # Then each sees only its own image
    assert found == {"t-1": {"img-1": PHASH}, "t-2": {"img-2": PHASH}, "t-3": {}}


def test_indexing_the_same_hash_again_changes_nothing(images: ImageRepository) -> None:
    # Given an indexed image
    image, _ = images.create(an_image("img-1"))
    images.index_phash(image, PHASH)

    # When it is indexed again with the same hash
    images.index_phash(image, PHASH)

    # Then it is found once, as before
    assert images.similar("t", PHASH) == {"img-1": PHASH}


def test_indexing_a_new_hash_replaces_the_old_one(images: ImageRepository) -> None:
    # Given an image indexed by one hash
    image, _ = images.create(an_image("img-1"))
    images.index_phash(image, PHASH)

    # When it is indexed by another
    images.index_phash(image, FAR)

    # Then only the new hash finds it
    assert images.similar("t", PHASH) == {}
    assert images.similar("t", FAR) == {"img-1": FAR}


def test_unindex_removes_the_image_and_is_idempotent(images: ImageRepository) -> None:
    # Given two indexed images with the same hash
    first, _ = images.create(an_image("img-1", "1" * 64))
    second, _ = images.create(an_image("img-2", "2" * 64))
    images.index_phash(first, PHASH)
    images.index_phash(second, PHASH)

    # When the first is unindexed twice, and an image never indexed once
    images.unindex_phash("img-1")
    images.unindex_phash("img-1")
    images.unindex_phash("img-404")

    # Then only the second is still found
    assert images.similar("t", PHASH) == {"img-2": PHASH}
