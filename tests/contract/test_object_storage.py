"""ObjectStorage: the bucket's objects, and presigned requests for browsers."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime, timedelta

from imagepipe.domain.ports import ObjectStorage

DATA = bytes(range(256)) * 4  # every byte value, NUL included
KEY = "images/2026/03/05/original/img-1.jpg"


def put(storage: ObjectStorage, key: str, data: bytes = DATA) -> None:
    storage.put(key, data, content_type="image/jpeg", cache_control="public, max-age=60")


def read(storage: ObjectStorage, key: str) -> bytes | None:
    """The object's bytes as downloaded, or None when the download says it is missing."""
    into = io.BytesIO()
    return into.getvalue() if storage.download(key, into) else None


class Chunks:
    """A sink that keeps each write apart."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self.writes.append(bytes(data))
        return len(data)


def test_put_then_download_and_size_give_the_bytes_back(storage: ObjectStorage) -> None:
    # Given an object
    put(storage, KEY)

    # When it is downloaded and measured
    data, size = read(storage, KEY), storage.size(KEY)

    # Then its bytes and their count come back
    assert data == DATA
    assert size == len(DATA)


def test_download_and_size_of_a_missing_key_say_it_is_missing(storage: ObjectStorage) -> None:
    # Given an empty bucket
    into = Chunks()

    # When a key that is not there is downloaded and measured
    found, size = storage.download(KEY, into), storage.size(KEY)

    # Then both say it does not exist, and nothing was written
    assert (found, size) == (False, None)
    assert into.writes == []


def test_download_streams_a_large_object_in_chunks_of_at_most_1_mib(
    storage: ObjectStorage,
) -> None:
    # Given an object of 2.5 MiB
    data = DATA * 2560
    put(storage, KEY, data)

    # When it is downloaded into a sink that keeps each write apart
    into = Chunks()
    found = storage.download(KEY, into)

    # Then the bytes arrive whole, in order, never more than 1 MiB at a time
    assert found is True
    assert b"".join(into.writes) == data
    assert len(into.writes) >= 3
    assert max(len(chunk) for chunk in into.writes) <= 1 << 20


def test_copy_copies_the_bytes_and_keeps_the_source(storage: ObjectStorage) -> None:
    # Given a staged upload
    put(storage, "uploads/img-1")

    # When it is copied to its final key
    copied = storage.copy(
        "uploads/img-1", KEY, content_type="image/jpeg", cache_control="public, max-age=60"
    )

    # Then both keys hold the bytes
    assert copied is True
    assert read(storage, KEY) == DATA
    assert read(storage, "uploads/img-1") == DATA


def test_copy_of_a_missing_source_returns_false(storage: ObjectStorage) -> None:
    # Given an empty bucket

    # When a missing object is copied
    copied = storage.copy("uploads/img-1", KEY, content_type="image/jpeg", cache_control="")

    # Then nothing was copied and no target appeared
    assert copied is False
    assert storage.size(KEY) is None


def test_delete_removes_exact_keys_and_prefixed_objects(storage: ObjectStorage) -> None:
    # Given four objects
    for key in ("uploads/a", "images/x/a.jpg", "images/x/a.png", "images/x/b.jpg"):
        put(storage, key)

    # When one key and one prefix are deleted
    storage.delete(["uploads/a"], ["images/x/a."])

    # Then exactly the three matching objects went, and the other stays
    assert [storage.size(k) for k in ("uploads/a", "images/x/a.jpg", "images/x/a.png")] == [
        None,
        None,
        None,
    ]
    assert read(storage, "images/x/b.jpg") == DATA


def test_delete_of_keys_and_prefixes_that_hold_nothing_is_no_error(storage: ObjectStorage) -> None:
    # Given two objects
    for key in ("uploads/a", "images/x/a.jpg"):
        put(storage, key)

    # When they are deleted along with a key that is not there and an empty prefix
    storage.delete(["uploads/a", "uploads/missing"], ["images/x/a.", "images/y/"])

    # Then both went, and nothing complained (deleting is idempotent)
    assert [storage.size(k) for k in ("uploads/a", "images/x/a.jpg")] == [None, None]


def test_presign_upload_pins_the_key_type_and_checksum_for_a_while(
    storage: ObjectStorage,
) -> None:
    # Given the SHA-256 of the bytes a browser will send
    digest = hashlib.sha256(DATA)

    # When an upload is presigned for ten minutes
    before = datetime.now(UTC)
    target = storage.presign_upload(
        key="uploads/img-1",
        content_type="image/png",
        sha256=digest.hexdigest(),
        max_bytes=len(DATA),
        expires_in=600,
    )
    after = datetime.now(UTC)

    # Then its fields name the key, the type and the base64 checksum, and it expires in time
    assert target.method == "POST"
    assert target.fields["key"] == "uploads/img-1"
    assert target.fields["Content-Type"] == "image/png"
    assert target.fields["x-amz-checksum-sha256"] == base64.b64encode(digest.digest()).decode()
    # A few seconds of slack below: the policy holds whole seconds, and the fake's clock was
    # read when the fixture was made.
    assert before + timedelta(seconds=595) <= target.expires_at <= after + timedelta(seconds=600)


FUTURE, PAST = datetime(2100, 1, 1, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)


def test_staged_before_lists_only_uploads_written_before_the_cutoff(
    storage: ObjectStorage,
) -> None:
    # Given an upload under uploads/ and an object elsewhere
    put(storage, "uploads/img-1")
    put(storage, KEY)

    # When the uploads written before a cutoff are listed
    before_now, before_long_ago = storage.staged_before(FUTURE), storage.staged_before(PAST)

    # Then only the upload is found, with its type and no resend yet, and only when it is older
    assert [(s.key, s.content_type, s.resends) for s in before_now] == [
        ("uploads/img-1", "image/jpeg", 0)
    ]
    assert before_long_ago == []


def test_restage_writes_the_upload_over_itself_and_counts(storage: ObjectStorage) -> None:
    # Given a staged upload
    put(storage, "uploads/img-1")

    # When it is restaged twice
    for _ in range(2):
        (staged,) = storage.staged_before(FUTURE)
        assert storage.restage(staged) is True

    # Then its bytes and type are unchanged and it counts two resends
    (staged,) = storage.staged_before(FUTURE)
    assert (staged.content_type, staged.resends) == ("image/jpeg", 2)
    assert read(storage, "uploads/img-1") == DATA


def test_restage_of_an_upload_gone_meanwhile_returns_false(storage: ObjectStorage) -> None:
    # Given an upload found stale, then ingested (removed)
    put(storage, "uploads/img-1")
    (staged,) = storage.staged_before(FUTURE)
    storage.delete(["uploads/img-1"], [])

    # When it is restaged, Then nothing is written
    assert storage.restage(staged) is False
    assert read(storage, "uploads/img-1") is None
