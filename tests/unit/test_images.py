"""Reads, listings, deletes and unlinks of images, against in-memory ports."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest

from imagepipe.domain import keys
from imagepipe.domain.errors import InvalidRequest, NotFound
from imagepipe.domain.events import EventType
from imagepipe.domain.images import (
    delete_image,
    get_image,
    list_session_images,
    object_keys,
    unlink_image,
)
from imagepipe.domain.model import FileRequest, Image, ImageStatus, Thumbnail, Variant
from imagepipe.domain.uploads import request_uploads
from tests.unit.fakes import FakeWorld, ScriptedIds

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
VARIANT_NAMES = ("small", "medium", "large")
VARIANT_FORMATS = ("webp", "avif")


def a_file(n: int) -> FileRequest:
    return FileRequest(
        filename=f"photo-{n}.jpg",
        content_type="image/jpeg",
        size=1000 + n,
        sha256=hashlib.sha256(f"bytes-{n}".encode()).hexdigest(),
    )


def upload(world: FakeWorld, session_id: str, n: int, tenant: str = TENANT) -> Image:
    """A requested (pending) image, linked to the session."""
    (result,) = request_uploads(tenant, session_id, [a_file(n)], world.upload_deps)
    return result.image


def complete(world: FakeWorld, image: Image) -> Image:
    """What Ingest and the workers leave behind: objects in the bucket, keys in the record."""
    image = world.images.get(image.image_id) or image
    date, image_id = image.key_date, image.image_id
    variants = [
        Variant(name, fmt, 100, 100, 1000, keys.variant_key(date, image_id, name, fmt))
        for name in VARIANT_NAMES
        for fmt in VARIANT_FORMATS
    ]
    done = replace(
        image,
        status=ImageStatus.COMPLETED,
        format="jpeg",
        original_key=keys.original_key(date, image_id, "jpg"),
        thumbnail=Thumbnail(keys.thumbnail_key(date, image_id), 150, 150, b"webp"),
        variants=variants,
    )
    world.storage.put(keys.staging_key(image_id))  # a late duplicate delivery of the upload
    for key in object_keys(done)[0]:
        world.storage.put(key)
    return world.images.save(done)


def all_listed(world: FakeWorld, session_id: str, limit: int, tenant: str = TENANT) -> list[str]:
    ids: list[str] = []
    token: str | None = None
    while True:
        page = list_session_images(tenant, session_id, world.images_deps, limit=limit, token=token)
        ids.extend(image.image_id for image in page.images)
        if page.next_token is None:
            return ids
        token = page.next_token


# ---- get_image ----------------------------------------------------------------------------


def test_get_image_returns_the_tenants_image() -> None:
    # Given a completed image
    world = FakeWorld()
    image = complete(world, upload(world, "s-1", 0))

    # When its tenant reads it
    got = get_image(TENANT, image.image_id, world.images)

    # Then it is the stored record
    assert got == image
    assert got.status is ImageStatus.COMPLETED


@pytest.mark.parametrize("image_id", ["img-9999", "not/an/id"])
def test_get_image_of_an_unknown_id_is_not_found(image_id: str) -> None:
    # Given an empty world / When an image is asked for / Then it is not found
    world = FakeWorld()
    with pytest.raises(NotFound) as caught:
        get_image(TENANT, image_id, world.images)
    assert caught.value.field == "imageId"


def test_get_image_of_another_tenants_id_is_not_found() -> None:
    # Given tenant B's image
    world = FakeWorld()
    theirs = upload(world, "s-1", 0, tenant=OTHER_TENANT)

    # When tenant A asks for it / Then it is reported exactly like a missing one
    with pytest.raises(NotFound) as caught:
        get_image(TENANT, theirs.image_id, world.images)
    assert caught.value.code == "not_found"
    assert caught.value.field == "imageId"


# ---- list_session_images ------------------------------------------------------------------


def test_listing_is_newest_first_across_pages_and_skips_a_dangling_link() -> None:
    # Given eight images linked to s-1 one second apart, and one whose record is already gone
    # (a delete cascading: the link outlives the record for a moment)
    world = FakeWorld()
    created = []
    for n in range(8):
        created.append(upload(world, "s-1", n).image_id)
        world.clock.advance(1)
    dangling = created[3]
    record = world.images.get(dangling)
    assert record is not None
    world.images.delete(record)
    newest_first = list(reversed(created))

    # When the session is listed three at a time
    first = list_session_images(TENANT, "s-1", world.images_deps, limit=3, token=None)
    assert first.next_token is not None
    second = list_session_images(TENANT, "s-1", world.images_deps, limit=3, token=first.next_token)
    assert second.next_token is not None
    third = list_session_images(TENANT, "s-1", world.images_deps, limit=3, token=second.next_token)

    # Then the pages run newest first, the dangling link is skipped, and the last page ends it
    assert [i.image_id for i in first.images] == newest_first[0:3]
    assert [i.image_id for i in second.images] == [i for i in newest_first[3:6] if i != dangling]
    assert [i.image_id for i in third.images] == newest_first[6:8]
    assert third.next_token is None
    assert dangling not in [i.image_id for p in (first, second, third) for i in p.images]


def test_listing_of_an_empty_session_is_empty() -> None:
    # Given a session nobody uploaded to / When it is listed
    page = list_session_images(TENANT, "s-empty", FakeWorld().images_deps, limit=20, token=None)

    # Then the page is empty and has no next token
    assert page.images == []
    assert page.next_token is None


def test_listing_shows_only_the_session_asked_for() -> None:
    # Given images in two sessions of one tenant and in a same-named session of another tenant
    world = FakeWorld()
    a = upload(world, "s-1", 0).image_id
    b = upload(world, "s-2", 1).image_id
    upload(world, "s-1", 2, tenant=OTHER_TENANT)

    # When each session is listed / Then it shows its own image and nothing else
    assert all_listed(world, "s-1", limit=10) == [a]
    assert all_listed(world, "s-2", limit=10) == [b]


def test_a_bad_token_is_an_invalid_request() -> None:
    # Given a session with images
    world = FakeWorld()
    upload(world, "s-1", 0)

    # When a made-up token is passed / Then the caller is told which field is wrong
    with pytest.raises(InvalidRequest) as caught:
        list_session_images(TENANT, "s-1", world.images_deps, limit=1, token="garbage!")
    assert caught.value.code == "invalid_next_token"
    assert caught.value.field == "nextToken"


def test_listing_validates_the_session_id() -> None:
    # Given a session id with a '#' in it / When that session is listed / Then the id is refused
    with pytest.raises(InvalidRequest) as caught:
        list_session_images(TENANT, "a#b", FakeWorld().images_deps, limit=1, token=None)
    assert caught.value.code == "invalid_session_id"


# ---- delete_image -------------------------------------------------------------------------


def test_delete_image_removes_objects_links_and_record() -> None:
    # Given a completed image linked to two sessions, with stray objects a crashed step left
    # under its prefixes, and a neighbour image (same day, shared session) that must survive
    world = FakeWorld()
    doomed = complete(world, upload(world, "s-1", 0))
    upload(world, "s-2", 0)
    neighbour = complete(world, upload(world, "s-1", 1))
    date = doomed.key_date
    strays = [
        keys.original_key(date, doomed.image_id, "png"),  # an earlier attempt sniffed differently
        keys.variant_key(date, doomed.image_id, "large", "avif") + ".part",
        keys.variant_key(date, doomed.image_id, "xlarge", "webp"),
    ]
    for key in strays:
        world.storage.put(key)
    doomed_keys = {
        keys.staging_key(doomed.image_id),
        keys.original_key(date, doomed.image_id, "jpg"),
        keys.thumbnail_key(date, doomed.image_id),
        *(
            keys.variant_key(date, doomed.image_id, n, f)
            for n in VARIANT_NAMES
            for f in VARIANT_FORMATS
        ),
        *strays,
    }
    assert doomed_keys <= set(world.storage.objects)
    survivors = set(world.storage.objects) - doomed_keys
    world.storage.put("images/unrelated.jpg")
    survivors.add("images/unrelated.jpg")
    assert len(survivors) == 1 + 1 + 1 + 6 + 1  # neighbour's staging/original/thumb/variants

    # When it is deleted
    delete_image(TENANT, doomed.image_id, world.images_deps)

    # Then every object it owned is gone and nothing else
    assert set(world.storage.objects) == survivors
    # And no session links it any more, while the neighbour's link stays
    assert world.links.sessions_of(doomed.image_id) == []
    assert all_listed(world, "s-1", limit=10) == [neighbour.image_id]
    assert all_listed(world, "s-2", limit=10) == []
    # And the record is gone: reads are 404 ...
    with pytest.raises(NotFound):
        get_image(TENANT, doomed.image_id, world.images)
    # ... and so is its hash claim: the same bytes make a brand-new image
    (again,) = request_uploads(TENANT, "s-1", [a_file(0)], world.upload_deps)
    assert again.is_new is True
    assert again.image.image_id != doomed.image_id


def test_delete_of_a_pending_image_removes_its_staging_object() -> None:
    # Given an image whose bytes landed in staging but were not ingested yet
    world = FakeWorld()
    image = upload(world, "s-1", 0)
    world.storage.put(keys.staging_key(image.image_id))

    # When it is deleted
    delete_image(TENANT, image.image_id, world.images_deps)

    # Then the staging object went with the record
    assert world.storage.objects == {}
    assert world.images.all() == []
    assert world.links.all() == []


def test_delete_of_another_tenants_image_is_not_found_and_changes_nothing() -> None:
    # Given tenant B's completed image
    world = FakeWorld()
    theirs = complete(world, upload(world, "s-1", 0, tenant=OTHER_TENANT))
    objects_before = dict(world.storage.objects)

    # When tenant A tries to delete it
    with pytest.raises(NotFound):
        delete_image(TENANT, theirs.image_id, world.images_deps)

    # Then B still has everything
    assert world.storage.objects == objects_before
    assert get_image(OTHER_TENANT, theirs.image_id, world.images) == theirs
    assert world.links.sessions_of(theirs.image_id) == [(OTHER_TENANT, "s-1")]


def test_deleting_twice_is_not_found_the_second_time() -> None:
    # Given a deleted image
    world = FakeWorld()
    image = upload(world, "s-1", 0)
    delete_image(TENANT, image.image_id, world.images_deps)

    # When it is deleted again / Then it is a 404
    with pytest.raises(NotFound):
        delete_image(TENANT, image.image_id, world.images_deps)


@pytest.mark.parametrize("image_id", ["a_b", "a/b", "a.b", "a#b"])
def test_ids_cannot_contain_the_key_separators(image_id: str) -> None:
    # '_' ends the variants prefix and '.' the original prefix: an id containing either could
    # make one image's prefix cover another's objects.
    # Given an id with a key separator or a path character in it
    world = FakeWorld()
    # When it is read / Then no image has it: it is simply not found
    with pytest.raises(NotFound):
        get_image(TENANT, image_id, world.images)


def test_delete_does_not_touch_an_image_whose_id_extends_the_deleted_id() -> None:
    # Given two images of the same day whose ids are 'a' and 'a-b' (both valid image ids)
    world = FakeWorld(ids=ScriptedIds("a", "a-b"))
    short = complete(world, upload(world, "s-1", 0))
    longer = complete(world, upload(world, "s-1", 1))
    assert (short.image_id, longer.image_id) == ("a", "a-b")
    longer_keys = set(object_keys(longer)[0])

    # When 'a' is deleted
    delete_image(TENANT, "a", world.images_deps)

    # Then every object of 'a-b' is still there
    assert longer_keys <= set(world.storage.objects)


# ---- unlink_image -------------------------------------------------------------------------


def test_unlink_only_touches_that_session() -> None:
    # Given a completed image linked to s-1 and s-2
    world = FakeWorld()
    image = complete(world, upload(world, "s-1", 0))
    upload(world, "s-2", 0)
    objects_before = dict(world.storage.objects)

    # When it is unlinked from s-1
    unlink_image(TENANT, "s-1", image.image_id, world.images_deps)

    # Then s-1 no longer lists it, s-2 still does, and the image and its objects are untouched
    assert all_listed(world, "s-1", limit=10) == []
    assert all_listed(world, "s-2", limit=10) == [image.image_id]
    assert world.links.sessions_of(image.image_id) == [(TENANT, "s-2")]
    assert get_image(TENANT, image.image_id, world.images) == image
    assert world.storage.objects == objects_before


def test_unlink_when_not_linked_is_not_found() -> None:
    # Given an image linked to s-1 only
    world = FakeWorld()
    image = upload(world, "s-1", 0)

    # When it is unlinked from s-2 / Then that is not found
    with pytest.raises(NotFound):
        unlink_image(TENANT, "s-2", image.image_id, world.images_deps)
    # And s-1 still has it
    assert world.links.sessions_of(image.image_id) == [(TENANT, "s-1")]


def test_unlink_twice_is_not_found_the_second_time() -> None:
    # Given an image unlinked from s-1
    world = FakeWorld()
    image = upload(world, "s-1", 0)
    unlink_image(TENANT, "s-1", image.image_id, world.images_deps)

    # When it is unlinked again / Then that is not found
    with pytest.raises(NotFound):
        unlink_image(TENANT, "s-1", image.image_id, world.images_deps)


def test_unlink_cannot_reach_another_tenants_session() -> None:
    # Given tenant B's image in B's session s-1
    world = FakeWorld()
    theirs = upload(world, "s-1", 0, tenant=OTHER_TENANT)

    # When tenant A unlinks that id from its own s-1 / Then nothing is found and B keeps it
    with pytest.raises(NotFound):
        unlink_image(TENANT, "s-1", theirs.image_id, world.images_deps)
    assert world.links.sessions_of(theirs.image_id) == [(OTHER_TENANT, "s-1")]


@pytest.mark.parametrize(
    ("session_id", "image_id", "error"),
    [("a#b", "img-0001", InvalidRequest), ("s-1", "../x", NotFound)],
)
def test_unlink_validates_its_ids(session_id: str, image_id: str, error: type[Exception]) -> None:
    # Given a session id with a '#' or an image id with a path in it / When an unlink names it
    # Then the session id is an invalid request, and the image id simply not found
    with pytest.raises(error):
        unlink_image(TENANT, session_id, image_id, FakeWorld().images_deps)


def test_a_delete_that_failed_part_way_can_be_retried_to_the_end() -> None:
    # Given a completed image, and storage that fails the first delete call
    world = FakeWorld()
    image = complete(world, upload(world, "s-1", 0))
    original_delete = world.storage.delete
    calls = {"n": 0}

    def flaky(keys: Any, prefixes: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("S3 is having a bad minute")
        original_delete(keys, prefixes)

    world.storage.delete = flaky  # type: ignore[method-assign]
    # And a first DELETE that failed there, after the image was already marked as deleting
    with pytest.raises(RuntimeError):
        delete_image(TENANT, image.image_id, world.images_deps)
    # When the DELETE is retried
    delete_image(TENANT, image.image_id, world.images_deps)
    # Then everything is gone and the image is a 404
    assert world.storage.objects == {}
    assert world.images.all() == []
    with pytest.raises(NotFound):
        get_image(TENANT, image.image_id, world.images)


def test_a_delete_is_announced_once_and_a_refused_one_not_at_all() -> None:
    # Given a completed image of this tenant
    world = FakeWorld()
    image = complete(world, upload(world, "s-1", 0))

    # When another tenant tries to delete it, then its owner does, then tries again
    with pytest.raises(NotFound):
        delete_image(OTHER_TENANT, image.image_id, world.images_deps)
    delete_image(TENANT, image.image_id, world.images_deps)
    with pytest.raises(NotFound):
        delete_image(TENANT, image.image_id, world.images_deps)

    # Then one Image Deleted event went out, for the owner, with status "deleted"
    (event,) = world.events.all()
    assert (event.type, event.image_id, event.tenant, event.status, event.error_code) == (
        EventType.DELETED,
        image.image_id,
        TENANT,
        "deleted",
        None,
    )
    assert event.detail["error"] is None
