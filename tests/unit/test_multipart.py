"""Multipart uploads in the domain, on the in-memory fakes: the layout of parts, starting and
resuming an upload by hash, racing requests, completing, aborting, and how an upload ends."""

from __future__ import annotations

import base64
import hashlib
import random
import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from imagepipe.domain.errors import Conflict, ErrorCode, InvalidRequest, NotFound
from imagepipe.domain.images import delete_image
from imagepipe.domain.model import (
    FileRequest,
    ImageStatus,
    MultipartTarget,
    PartRequest,
    UploadResult,
    UploadTarget,
)
from imagepipe.domain.multipart import abort_upload, complete_upload, list_parts, sign_parts
from imagepipe.domain.uploads import MIB, Layout, UploadPolicy, part_size_for, request_uploads
from tests.unit.fakes import FakeWorld

TENANT = "tenant-a"
POLICY = UploadPolicy(
    max_upload_bytes=256 * MIB,
    expiry_seconds=300,
    multipart_threshold_bytes=12 * MIB,
    part_size_bytes=5 * MIB,
)
DATA = random.Random(7).randbytes(12 * MIB) + b"and a little more"  # no two parts alike
PARTS = [DATA[i : i + 5 * MIB] for i in range(0, len(DATA), 5 * MIB)]


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def large_file(data: bytes = DATA) -> FileRequest:
    return FileRequest(
        filename="scan.png",
        content_type="image/png",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld(policy=POLICY)


def ask(world: FakeWorld, session: str = "s-1", data: bytes = DATA) -> UploadResult:
    (result,) = request_uploads(TENANT, session, [large_file(data)], world.upload_deps)
    return result


def target_of(result: UploadResult) -> MultipartTarget:
    assert isinstance(result.upload, MultipartTarget)
    return result.upload


def upload_all(
    world: FakeWorld, result: UploadResult, numbers: range | list[int]
) -> dict[int, str]:
    target = target_of(result)
    return {
        n: world.multipart.upload_part(target.upload_id, n, PARTS[n - 1], b64sha(PARTS[n - 1]))
        for n in numbers
    }


def test_the_layout_cuts_every_part_to_size_but_the_last() -> None:
    layout = Layout(size=12 * MIB + 17, part_size=5 * MIB)
    assert layout.part_count == 3
    assert [layout.size_of(n) for n in (1, 2, 3)] == [5 * MIB, 5 * MIB, 2 * MIB + 17]
    assert Layout(size=10 * MIB, part_size=5 * MIB).part_count == 2


def test_a_part_size_never_below_5_mib_nor_more_than_10000_parts() -> None:
    assert part_size_for(100 * MIB, 1 * MIB) == 5 * MIB
    assert part_size_for(100 * MIB, 8 * MIB) == 8 * MIB
    # 5 GiB in 8 MiB parts would be 640 parts: fine; 100 GiB would be 12,800: raised
    huge = 100 * 1024 * MIB
    size = part_size_for(huge, 8 * MIB)
    assert size % MIB == 0
    assert Layout(size=huge, part_size=size).part_count <= 10_000
    assert Layout(size=huge, part_size=size - MIB).part_count > 10_000


def test_above_the_threshold_a_file_gets_a_multipart_upload(world: FakeWorld) -> None:
    # Given a 12 MiB+ file / When it is requested
    result = ask(world)
    # Then an open multipart upload of 3 parts, expiring a day after it started
    target = target_of(result)
    assert (target.part_size, target.part_count) == (5 * MIB, 3)
    assert target.key == f"uploads/{result.image.image_id}"
    assert target.expires_at == world.clock().replace(microsecond=0) + timedelta(days=1)
    assert list(world.multipart.open) == [target.upload_id]
    # And a file at the threshold still gets a POST
    small = ask(world, data=b"x" * POLICY.multipart_threshold_bytes)
    assert isinstance(small.upload, UploadTarget)


def test_asking_again_resumes_the_same_upload(world: FakeWorld) -> None:
    first = ask(world, "s-1")
    upload_all(world, first, [1])
    world.clock.advance(3600)
    again = ask(world, "s-2")
    assert again.image.image_id == first.image.image_id
    assert not again.is_new
    assert again.upload == first.upload  # same id, layout and expiry
    listing = list_parts(TENANT, first.image.image_id, world.upload_deps)
    assert [p.number for p in listing.parts] == [1]


def test_racing_requests_leave_one_upload(world: FakeWorld) -> None:
    results: list[UploadResult] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        result = ask(world, f"s-{n}")
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({target_of(r).upload_id for r in results}) == 1
    assert len(world.multipart.open) == 1  # every loser aborted its own


def test_signing_checks_numbers_sizes_and_checksums(world: FakeWorld) -> None:
    image_id = ask(world).image.image_id
    deps = world.upload_deps

    def code(*parts: PartRequest) -> ErrorCode:
        with pytest.raises(InvalidRequest) as refused:
            sign_parts(TENANT, image_id, parts, deps)
        return refused.value.code

    good = PartRequest(1, 5 * MIB, b64sha(PARTS[0]))
    assert code(replace(good, number=4)) is ErrorCode.INVALID_PART_NUMBER
    assert code(good, good) is ErrorCode.INVALID_PART_NUMBER
    assert code(replace(good, size=5 * MIB + 1)) is ErrorCode.INVALID_PART_SIZE
    assert code(replace(good, number=3)) is ErrorCode.INVALID_PART_SIZE
    assert code(replace(good, sha256=hashlib.sha256(b"x").hexdigest())) is (
        ErrorCode.INVALID_PART_CHECKSUM
    )
    assert code() is ErrorCode.TOO_MANY_PARTS
    # And a good request is signed with its checksum
    (target,) = sign_parts(TENANT, image_id, [good], deps)
    assert target.headers == {"x-amz-checksum-sha256": good.sha256}


def test_complete_checks_the_part_list_then_assembles(world: FakeWorld) -> None:
    result = ask(world)
    image_id = result.image.image_id
    etags = upload_all(world, result, [1, 2, 3])
    deps = world.upload_deps
    with pytest.raises(InvalidRequest) as missing:
        complete_upload(TENANT, image_id, [(1, etags[1]), (2, etags[2])], deps)
    assert missing.value.code is ErrorCode.PARTS_MISMATCH
    with pytest.raises(InvalidRequest) as wrong:
        complete_upload(TENANT, image_id, [(1, etags[1]), (2, etags[1]), (3, etags[3])], deps)
    assert wrong.value.code is ErrorCode.PARTS_MISMATCH
    # When the right list comes (ETags with or without quotes)
    done = complete_upload(TENANT, image_id, [(n, e.strip('"')) for n, e in etags.items()], deps)
    # Then the object is the file, the record says the bytes are in, nothing is open
    assert world.storage.objects[f"uploads/{image_id}"] == DATA
    assert done.status is ImageStatus.PENDING_UPLOAD
    assert done.bytes_arrived
    assert world.multipart.open == {}
    # And completing again answers the same; signing, listing, aborting are 409s
    assert complete_upload(TENANT, image_id, list(etags.items()), deps).bytes_arrived
    for call in (
        lambda: sign_parts(TENANT, image_id, [PartRequest(1, 5 * MIB, b64sha(PARTS[0]))], deps),
        lambda: list_parts(TENANT, image_id, deps),
        lambda: abort_upload(TENANT, image_id, world.images_deps),
    ):
        with pytest.raises(Conflict) as conflict:
            call()
        assert conflict.value.code is ErrorCode.UPLOAD_COMPLETED
    # And a new request for the same bytes gets no upload to send
    assert ask(world, "s-2").upload is None


def test_a_part_that_is_too_short_cannot_complete(world: FakeWorld) -> None:
    result = ask(world)
    target = target_of(result)
    etags = upload_all(world, result, [1, 3])
    etags[2] = world.multipart.upload_part(target.upload_id, 2, PARTS[1][:-1])  # unsigned
    with pytest.raises(InvalidRequest) as refused:
        complete_upload(TENANT, result.image.image_id, list(etags.items()), world.upload_deps)
    assert refused.value.code is ErrorCode.PARTS_MISMATCH
    assert "part 2 has" in refused.value.message


def test_an_upload_given_up_by_s3_is_forgotten_then_started_again(world: FakeWorld) -> None:
    first = ask(world)
    image_id = first.image.image_id
    world.multipart.abort(target_of(first).key, target_of(first).upload_id)  # the lifecycle rule
    with pytest.raises(Conflict) as gone:
        list_parts(TENANT, image_id, world.upload_deps)
    assert gone.value.code is ErrorCode.UPLOAD_NOT_OPEN
    again = ask(world)
    assert again.image.image_id == image_id
    assert target_of(again).upload_id != target_of(first).upload_id


def test_abort_deletes_the_pending_image_and_its_upload(world: FakeWorld) -> None:
    result = ask(world)
    upload_all(world, result, [1])
    abort_upload(TENANT, result.image.image_id, world.images_deps)
    assert world.multipart.open == {}
    assert world.images.get(result.image.image_id) is None
    assert world.links.all() == []
    with pytest.raises(NotFound):
        abort_upload(TENANT, result.image.image_id, world.images_deps)


def test_another_tenant_cannot_see_the_upload(world: FakeWorld) -> None:
    image_id = ask(world).image.image_id
    with pytest.raises(NotFound):
        list_parts("tenant-b", image_id, world.upload_deps)
    with pytest.raises(NotFound):
        abort_upload("tenant-b", image_id, world.images_deps)


def test_deleting_the_image_aborts_its_upload(world: FakeWorld) -> None:
    result = ask(world)
    delete_image(TENANT, result.image.image_id, world.images_deps)
    assert world.multipart.open == {}


def test_a_failed_image_asked_again_gets_a_new_upload(world: FakeWorld) -> None:
    # Given an image whose multipart upload completed and then failed in Ingest
    first = ask(world)
    image = world.images.get(first.image.image_id)
    assert image is not None
    world.images.save(image.failed(ErrorCode.CHECKSUM_MISMATCH, "no", world.clock()))
    failed = world.images.get(first.image.image_id)
    assert failed is not None
    assert (failed.upload_id, failed.part_size) == (None, None)
    # When the same bytes are asked for again / Then a fresh upload of the same image
    again = ask(world)
    assert again.image.image_id == first.image.image_id
    assert target_of(again).upload_id != target_of(first).upload_id
