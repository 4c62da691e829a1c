"""The fakes are the oracle of every other unit test: check they keep the ports' contracts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from imagepipe.domain.errors import ConcurrentModification, InvalidRequest
from imagepipe.domain.model import Image, ImageStatus, SessionLink, Variant
from tests.unit.fakes import (
    FixedClock,
    InMemoryImageRepository,
    InMemorySessionLinks,
    InMemoryStorage,
)

T0 = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def an_image(image_id: str = "img-1", sha256: str = "a" * 64, tenant: str = "t") -> Image:
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


def test_create_claims_the_hash_once_and_starts_at_version_1() -> None:
    # Given an empty repository
    repo = InMemoryImageRepository()

    # When two images with the same (tenant, sha256) are created
    first, first_new = repo.create(an_image("img-1"))
    second, second_new = repo.create(an_image("img-2"))

    # Then only the first is created, and the second caller gets the owner back
    assert (first_new, second_new) == (True, False)
    assert first.version == 1
    assert second.image_id == "img-1"
    assert repo.get("img-2") is None


def test_save_bumps_the_version_and_rejects_a_stale_write() -> None:
    # Given a stored image read twice
    repo = InMemoryImageRepository()
    repo.create(an_image())
    reader_a, reader_b = repo.get("img-1"), repo.get("img-1")
    assert reader_a is not None
    assert reader_b is not None

    # When the first reader saves
    saved = repo.save(replace(reader_a, status=ImageStatus.PROCESSING))

    # Then the version moved on, and the second reader's write is refused
    assert saved.version == 2
    with pytest.raises(ConcurrentModification):
        repo.save(replace(reader_b, status=ImageStatus.FAILED))
    current = repo.get("img-1")
    assert current is not None
    assert current.status is ImageStatus.PROCESSING


def test_stored_state_cannot_be_mutated_through_returned_objects() -> None:
    # Given a stored image
    repo = InMemoryImageRepository()
    created, _ = repo.create(an_image())

    # When the caller mutates what it got back
    created.status = ImageStatus.COMPLETED
    created.variants.append(Variant("small", "webp", 1, 1, 1, "k"))
    created.metadata["x"] = 1

    # Then the stored record is unchanged
    assert repo.get("img-1") == replace(an_image(), version=1)


def test_delete_releases_the_hash_claim() -> None:
    repo = InMemoryImageRepository()
    created, _ = repo.create(an_image("img-1"))
    repo.delete(created)
    assert repo.find_by_hash("t", "a" * 64) is None
    assert repo.create(an_image("img-2"))[1] is True


def test_links_are_idempotent_and_paged_newest_first() -> None:
    # Given three links one minute apart, one of them linked twice
    links = InMemorySessionLinks()
    for n in range(3):
        link = SessionLink("t", "s", f"img-{n}", T0 + timedelta(minutes=n))
        assert links.link(link) is True
    assert links.link(SessionLink("t", "s", "img-0", T0 + timedelta(hours=1))) is False

    # When paged two at a time
    first, token = links.page("t", "s", limit=2, token=None)
    second, end = links.page("t", "s", limit=2, token=token)

    # Then newest first, no token after the last page, and unlink reports absence
    assert [link.image_id for link in first + second] == ["img-2", "img-1", "img-0"]
    assert token is not None
    assert end is None
    assert links.unlink("t", "s", "img-1") is True
    assert links.unlink("t", "s", "img-1") is False


@pytest.mark.parametrize("token", ["garbage!", "", "e30"])
def test_a_bad_page_token_is_an_invalid_request(token: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        InMemorySessionLinks().page("t", "s", limit=1, token=token)
    assert (caught.value.code, caught.value.field) == ("invalid_next_token", "nextToken")


def test_a_token_of_another_session_is_refused() -> None:
    links = InMemorySessionLinks()
    for n in range(2):
        links.link(SessionLink("t", "s-1", f"img-{n}", T0 + timedelta(minutes=n)))
    _, token = links.page("t", "s-1", limit=1, token=None)
    assert token is not None
    with pytest.raises(InvalidRequest):
        links.page("t", "s-2", limit=1, token=token)


def test_storage_delete_counts_exact_keys_and_prefixed_objects() -> None:
    # Given four objects
    storage = InMemoryStorage(FixedClock(T0))
    for key in ("uploads/a", "images/x/a.jpg", "images/x/a.png", "images/x/b.jpg"):
        storage.put(key)

    # When one key, one missing key and one prefix are deleted
    count = storage.delete(["uploads/a", "uploads/missing"], ["images/x/a."])

    # Then exactly the three matching objects went
    assert count == 3
    assert set(storage.objects) == {"images/x/b.jpg"}
