"""POST /uploads in the domain: dedup by (tenant, sha256), session links and upload targets."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from imagepipe.domain.errors import NotFound
from imagepipe.domain.images import get_image, list_session_images
from imagepipe.domain.model import FileRequest, ImageStatus, UploadResult, UploadTarget
from imagepipe.domain.uploads import request_uploads
from tests.unit.fakes import FAKE_BUCKET_URL, FakeWorld, FixedClock, StallingImageRepository

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"


def a_file(
    n: int = 0, *, content_type: str = "image/jpeg", filename: str | None = None
) -> FileRequest:
    return FileRequest(
        filename=filename or f"photo-{n}.jpg",
        content_type=content_type,
        size=1000 + n,
        sha256=hashlib.sha256(f"bytes-{n}".encode()).hexdigest(),
    )


def request_one(
    world: FakeWorld, session_id: str, file: FileRequest, tenant: str = TENANT
) -> UploadResult:
    (result,) = request_uploads(tenant, session_id, [file], world.upload_deps)
    return result


def set_status(world: FakeWorld, image_id: str, status: ImageStatus, **changes: Any) -> None:
    image = world.images.get(image_id)
    assert image is not None
    world.images.save(replace(image, status=status, **changes))


def session_image_ids(world: FakeWorld, session_id: str, tenant: str = TENANT) -> list[str]:
    page = list_session_images(tenant, session_id, world.images_deps, limit=100, token=None)
    return [image.image_id for image in page.images]


def run_concurrently(
    count: int, call: Callable[[int], UploadResult]
) -> tuple[list[UploadResult], list[BaseException]]:
    results: list[UploadResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            result = call(n)
        except BaseException as error:  # collected, so a failure shows instead of hanging
            with lock:
                errors.append(error)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


# ---- a new file ---------------------------------------------------------------------------


def test_new_file_gets_a_pending_image_and_an_upload_target() -> None:
    # Given an empty world
    world = FakeWorld()
    file = a_file(content_type="image/png", filename="cat.png")

    # When the file is requested
    result = request_one(world, "s-1", file)

    # Then a new pending image is created with the file's details
    assert result.is_new is True
    image = result.image
    assert image.image_id == world.ids.issued[0]
    assert image.status is ImageStatus.PENDING_UPLOAD
    assert image.tenant == TENANT
    assert (image.sha256, image.filename, image.content_type, image.size) == (
        file.sha256,
        "cat.png",
        "image/png",
        file.size,
    )
    assert image.created_at == world.clock()
    assert image.key_date == "2026/03/05"
    # And it is stored, at version 1
    stored = world.images.get(image.image_id)
    assert stored is not None
    assert stored.version == 1
    assert stored.status is ImageStatus.PENDING_UPLOAD
    # And the upload target is a POST pinned to the staging key and the file's content type
    assert isinstance(result.upload, UploadTarget)
    assert result.upload.method == "POST"
    assert result.upload.url == FAKE_BUCKET_URL
    assert result.upload.fields["key"] == f"uploads/{image.image_id}"
    assert result.upload.fields["Content-Type"] == "image/png"
    assert result.upload.expires_at == world.clock() + timedelta(seconds=300)
    (call,) = world.storage.presign_calls
    assert call.sha256 == file.sha256
    assert call.max_bytes == world.policy.max_upload_bytes
    assert call.expires_in == world.policy.expiry_seconds
    # And the image is linked to the session
    assert session_image_ids(world, "s-1") == [image.image_id]


def test_key_date_is_the_utc_date_of_the_request() -> None:
    # Given a clock one second before midnight UTC
    world = FakeWorld(clock=FixedClock(datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)))

    # When a file is requested
    result = request_one(world, "s-1", a_file())

    # Then its keys will live under that day
    assert result.image.key_date == "2026/01/31"


def test_several_new_files_get_one_image_each_in_request_order() -> None:
    # Given three different files
    world = FakeWorld()
    files = [a_file(n) for n in range(3)]

    # When they are requested together
    results = request_uploads(TENANT, "s-1", files, world.upload_deps)

    # Then each has its own new image, in the order of the request
    assert [r.image.sha256 for r in results] == [f.sha256 for f in files]
    assert all(r.is_new for r in results)
    assert len({r.image.image_id for r in results}) == 3
    assert len(world.images.all()) == 3
    assert [c.key for c in world.storage.presign_calls] == [
        f"uploads/{r.image.image_id}" for r in results
    ]


def test_the_same_file_twice_in_one_request_is_one_image() -> None:
    # Given a request listing the same bytes twice
    world = FakeWorld()

    # When it is made
    first, second = request_uploads(TENANT, "s-1", [a_file(7), a_file(7)], world.upload_deps)

    # Then the second is the first's (still pending) image with an upload of its own
    assert first.is_new is True
    assert second.is_new is False
    assert second.image.image_id == first.image.image_id
    assert second.upload is not None
    assert len(world.images.all()) == 1
    assert len(world.links.all()) == 1


# ---- duplicates -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [ImageStatus.PROCESSING, ImageStatus.COMPLETED])
def test_duplicate_in_same_session_gets_no_upload_once_the_bytes_arrived(
    status: ImageStatus,
) -> None:
    # Given a file already uploaded (now processing or completed) and linked to s-1
    world = FakeWorld()
    first = request_one(world, "s-1", a_file())
    set_status(world, first.image.image_id, status)
    world.clock.advance(60)

    # When the same bytes are requested again in s-1
    again = request_one(world, "s-1", a_file())

    # Then it is the same image, not new, with no upload and its current status
    assert again.is_new is False
    assert again.image.image_id == first.image.image_id
    assert again.image.status is status
    assert again.upload is None
    assert len(world.storage.presign_calls) == 1
    # And the session still holds it once
    assert len(world.links.all()) == 1
    assert session_image_ids(world, "s-1") == [first.image.image_id]
    assert len(world.images.all()) == 1


def test_duplicate_in_another_session_is_linked_there_too() -> None:
    # Given a completed image linked to s-1
    world = FakeWorld()
    first = request_one(world, "s-1", a_file())
    set_status(world, first.image.image_id, ImageStatus.COMPLETED)

    # When the same bytes are requested in s-2
    again = request_one(world, "s-2", a_file())

    # Then s-2 gets the very same image, and both sessions list it
    assert again.is_new is False
    assert again.upload is None
    assert again.image.image_id == first.image.image_id
    assert session_image_ids(world, "s-1") == [first.image.image_id]
    assert session_image_ids(world, "s-2") == [first.image.image_id]
    assert sorted(world.links.sessions_of(first.image.image_id)) == [
        (TENANT, "s-1"),
        (TENANT, "s-2"),
    ]
    assert len(world.images.all()) == 1


def test_linking_twice_stays_one_link_and_keeps_its_first_time() -> None:
    # Given an image linked to s-1 at t0
    world = FakeWorld()
    t0 = world.clock()
    first = request_one(world, "s-1", a_file())
    set_status(world, first.image.image_id, ImageStatus.COMPLETED)
    world.clock.advance(3600)

    # When it is requested twice more in s-1
    request_one(world, "s-1", a_file())
    request_one(world, "s-1", a_file())

    # Then there is still exactly one link, the original one
    (link,) = world.links.all()
    assert (link.tenant, link.session_id, link.image_id) == (TENANT, "s-1", first.image.image_id)
    assert link.linked_at == t0


def test_pending_duplicate_gets_the_same_id_and_a_fresh_upload() -> None:
    # Given a file requested but whose bytes never arrived
    world = FakeWorld()
    first = request_one(world, "s-1", a_file())
    world.clock.advance(600)  # the first target has expired by now

    # When the same bytes are requested again
    again = request_one(world, "s-1", a_file())

    # Then it is the same image, not new, still pending, with a new target for the same key
    assert again.is_new is False
    assert again.image.image_id == first.image.image_id
    assert again.image.status is ImageStatus.PENDING_UPLOAD
    assert isinstance(again.upload, UploadTarget)
    assert isinstance(first.upload, UploadTarget)
    assert again.upload.fields["key"] == first.upload.fields["key"]
    assert again.upload.expires_at == world.clock() + timedelta(seconds=300)
    assert again.upload.expires_at > first.upload.expires_at
    assert len(world.storage.presign_calls) == 2
    assert len(world.images.all()) == 1


def test_pending_duplicate_upload_uses_the_content_type_declared_this_time() -> None:
    # Given a pending image first declared as JPEG
    world = FakeWorld()
    request_one(world, "s-1", a_file(content_type="image/jpeg"))

    # When the same bytes are declared as WebP
    again = request_one(world, "s-1", a_file(content_type="image/webp"))

    # Then the fresh target pins the newly declared type (Ingest decides from the bytes anyway)
    assert isinstance(again.upload, UploadTarget)
    assert again.upload.fields["Content-Type"] == "image/webp"


def test_failed_duplicate_is_reopened_with_a_fresh_upload() -> None:
    # Given an image whose processing failed
    world = FakeWorld()
    first = request_one(world, "s-1", a_file())
    set_status(
        world,
        first.image.image_id,
        ImageStatus.FAILED,
        error_code="checksum_mismatch",
        error_message="the bytes do not match the declared sha256",
    )
    failed = world.images.get(first.image.image_id)
    assert failed is not None
    world.clock.advance(120)

    # When the same bytes are requested again
    again = request_one(world, "s-2", a_file())

    # Then it is the same image, back to pending_upload, error cleared, with a fresh upload
    assert again.is_new is False
    assert again.image.image_id == first.image.image_id
    assert again.image.status is ImageStatus.PENDING_UPLOAD
    assert again.image.error_code is None
    assert again.image.error_message is None
    assert isinstance(again.upload, UploadTarget)
    assert again.upload.fields["key"] == f"uploads/{first.image.image_id}"
    # And the reopening was written back (one optimistic-locked save) with the time of it
    stored = world.images.get(first.image.image_id)
    assert stored is not None
    assert stored.status is ImageStatus.PENDING_UPLOAD
    assert stored.error_code is None
    assert stored.error_message is None
    assert stored.updated_at == world.clock()
    assert stored.version == (failed.version or 0) + 1
    # And the original key date is kept so every key of the image stays where it was
    assert stored.key_date == first.image.key_date
    assert len(world.images.all()) == 1
    assert sorted(world.links.sessions_of(first.image.image_id)) == [
        (TENANT, "s-1"),
        (TENANT, "s-2"),
    ]


def test_concurrent_requests_for_a_failed_image_reopen_it_once() -> None:
    # Given a failed image, and ten requests that all read it (as failed) before any writes
    images = StallingImageRepository()
    world = FakeWorld(images=images)
    first = request_one(world, "s-1", a_file())
    set_status(world, first.image.image_id, ImageStatus.FAILED, error_code="corrupt_image")
    failed = world.images.get(first.image.image_id)
    assert failed is not None
    images.stall_next(10)

    # When they race to reopen it
    results, errors = run_concurrently(10, lambda n: request_one(world, "s-1", a_file()))

    # Then every one gets the same pending image and a target: the losers of the optimistic lock
    # re-read it instead of failing, so it was saved (reopened) exactly once
    assert errors == []
    assert len(results) == 10
    assert {r.image.image_id for r in results} == {first.image.image_id}
    assert all(r.upload is not None and not r.is_new for r in results)
    assert all(r.image.status is ImageStatus.PENDING_UPLOAD for r in results)
    stored = world.images.get(first.image.image_id)
    assert stored is not None
    assert stored.status is ImageStatus.PENDING_UPLOAD
    assert stored.version == (failed.version or 0) + 1


# ---- tenants ----------------------------------------------------------------------------


def test_same_bytes_in_two_tenants_are_two_images() -> None:
    # Given tenant A uploaded a file that is now completed
    world = FakeWorld()
    mine = request_one(world, "s-1", a_file(), tenant=TENANT)
    set_status(world, mine.image.image_id, ImageStatus.COMPLETED)

    # When tenant B requests the very same bytes in a session of the same name
    theirs = request_one(world, "s-1", a_file(), tenant=OTHER_TENANT)

    # Then B learns nothing: a new image of its own, with an upload
    assert theirs.is_new is True
    assert theirs.upload is not None
    assert theirs.image.image_id != mine.image.image_id
    assert theirs.image.tenant == OTHER_TENANT
    assert theirs.image.status is ImageStatus.PENDING_UPLOAD
    assert len(world.images.all()) == 2
    # And each tenant's session lists only its own image
    assert session_image_ids(world, "s-1", TENANT) == [mine.image.image_id]
    assert session_image_ids(world, "s-1", OTHER_TENANT) == [theirs.image.image_id]


def test_another_tenants_image_is_not_found() -> None:
    # Given an image of tenant A
    world = FakeWorld()
    mine = request_one(world, "s-1", a_file(), tenant=TENANT)

    # When tenant B asks for it by id / Then it does not exist for B
    with pytest.raises(NotFound):
        get_image(OTHER_TENANT, mine.image.image_id, world.images)
    # while A still sees it
    assert get_image(TENANT, mine.image.image_id, world.images).image_id == mine.image.image_id


# ---- concurrency --------------------------------------------------------------------------


def test_twenty_concurrent_requests_for_one_new_hash_create_exactly_one_image() -> None:
    # Given twenty requests for the same new bytes that all find no image before any creates one
    images = StallingImageRepository()
    world = FakeWorld(images=images)
    images.stall_next(20)

    # When they run, spread over three sessions
    results, errors = run_concurrently(20, lambda n: request_one(world, f"s-{n % 3}", a_file()))

    # Then exactly one created the image and all twenty got that same image
    assert errors == []
    assert len(results) == 20
    assert sum(r.is_new for r in results) == 1
    assert len({r.image.image_id for r in results}) == 1
    assert len(world.images.all()) == 1
    # And each of the three sessions links it exactly once
    image_id = results[0].image.image_id
    assert sorted(world.links.sessions_of(image_id)) == [
        (TENANT, "s-0"),
        (TENANT, "s-1"),
        (TENANT, "s-2"),
    ]
    # And everyone may upload, since the bytes have not arrived yet
    assert all(r.upload is not None for r in results)


def test_an_image_deleted_between_lookup_and_link_is_not_linked() -> None:
    # Given a processed image, and a DELETE of it that lands just as a new request links it
    from imagepipe.domain.images import delete_image
    from imagepipe.domain.model import SessionLink
    from tests.unit.fakes import InMemorySessionLinks

    world = FakeWorld()
    first = request_one(world, "s-1", a_file())
    set_status(world, first.image.image_id, ImageStatus.COMPLETED)

    class DeleteRacingLinks(InMemorySessionLinks):
        raced = False

        def link(self, link: SessionLink) -> bool:
            if not self.raced:
                self.raced = True
                delete_image(TENANT, first.image.image_id, world.images_deps)
            return super().link(link)

    world.links = DeleteRacingLinks()
    # When the same bytes are requested in another session
    again = request_one(world, "s-2", a_file())
    # Then the request did not link the deleted image: it got a new one to upload
    assert again.is_new is True
    assert again.image.image_id != first.image.image_id
    assert again.upload is not None
    assert session_image_ids(world, "s-2") == [again.image.image_id]
    assert world.links.sessions_of(first.image.image_id) == []
