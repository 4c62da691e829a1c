"""MultipartUploads: an S3 multipart upload with SHA-256 part checksums, on the fake and on
moto. (moto does not refuse a part whose bytes differ from its checksum: the local stack's S3
front does, tests/integration/test_s3_front.py.)"""

from __future__ import annotations

import base64
import hashlib

from tests.contract.conftest import MultipartUnderTest

KEY = "uploads/img-1"
PART = 5 * 1024 * 1024
DATA = bytes(range(256)) * (PART // 256) + b"the last part"
PARTS = {1: DATA[:PART], 2: DATA[PART:]}


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def put(multipart: MultipartUnderTest, upload_id: str, number: int) -> str:
    data = PARTS[number]
    etag, refused = multipart.put_part(
        multipart.uploads, KEY, upload_id, number, data, b64sha(data)
    )
    assert refused is None
    assert etag is not None
    return etag


def test_parts_are_listed_then_assembled_into_the_object(multipart: MultipartUnderTest) -> None:
    # Given a new upload
    upload_id = multipart.uploads.create(KEY, content_type="image/png")
    assert multipart.uploads.parts(KEY, upload_id) == []
    # When its parts are PUT (the last first: order does not matter)
    etags = {2: put(multipart, upload_id, 2), 1: put(multipart, upload_id, 1)}
    # Then they are listed by number with their sizes and ETags
    parts = multipart.uploads.parts(KEY, upload_id)
    assert parts is not None
    assert [(p.number, p.size, p.etag) for p in parts] == [
        (1, PART, etags[1]),
        (2, len(PARTS[2]), etags[2]),
    ]
    # When completed with them / Then the object holds the bytes, and the upload is over
    assert multipart.uploads.complete(KEY, upload_id, parts) is True
    assert multipart.storage.size(KEY) == len(DATA)
    assert multipart.uploads.parts(KEY, upload_id) is None


def test_a_part_url_carries_the_checksum_to_send(multipart: MultipartUnderTest) -> None:
    upload_id = multipart.uploads.create(KEY, content_type="image/png")
    checksum = b64sha(PARTS[1])
    target = multipart.uploads.presign_part(
        KEY, upload_id, number=1, size=PART, sha256=checksum, expires_in=60
    )
    assert target.number == 1
    assert target.headers == {"x-amz-checksum-sha256": checksum}


def test_abort_discards_the_parts_and_is_idempotent(multipart: MultipartUnderTest) -> None:
    # Given an upload with a part
    upload_id = multipart.uploads.create(KEY, content_type="image/png")
    put(multipart, upload_id, 1)
    # When it is aborted (twice) / Then it is unknown, and nothing was stored
    multipart.uploads.abort(KEY, upload_id)
    multipart.uploads.abort(KEY, upload_id)
    assert multipart.uploads.parts(KEY, upload_id) is None
    assert multipart.storage.size(KEY) is None


def test_an_unknown_upload_is_none_not_an_error(multipart: MultipartUnderTest) -> None:
    # (Completing an unknown upload is False on the fake, as S3's NoSuchUpload makes it; moto
    # 5.2.5 answers it with a 500 (a KeyError), so that case is not part of this contract. The
    # domain lists the parts before it completes, and treats a listing of None the same way.)
    assert multipart.uploads.parts(KEY, "no-such-upload") is None
    multipart.uploads.abort(KEY, "no-such-upload")
