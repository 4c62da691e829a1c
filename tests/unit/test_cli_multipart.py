"""`imagepipe upload` of a large file in parts (local/imagepipe_local/multipart.py), without a
network: the part plan, the checksum S3 checks, and the resume, retry and refusal logic against
a fake API and a fake S3."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from imagepipe_local import multipart
from imagepipe_local.client import Api, Refused
from imagepipe_local.multipart import Part, PartFailed, checksum, missing, plan, send_file
from imagepipe_local.upload import Outcome

MIB = 1 << 20


def test_the_plan_cuts_full_parts_and_a_last_remainder() -> None:
    # Given a file of 20 MiB and 5 bytes, the API's 8 MiB parts and its count of 3
    # When it is planned
    parts = plan(20 * MIB + 5, 8 * MIB, 3)
    # Then two full parts and the remainder, end to end
    assert parts == [
        Part(1, 0, 8 * MIB),
        Part(2, 8 * MIB, 8 * MIB),
        Part(3, 16 * MIB, 4 * MIB + 5),
    ]
    # And a size that is an exact multiple has no empty last part
    assert [p.size for p in plan(16 * MIB, 8 * MIB, 2)] == [8 * MIB, 8 * MIB]


@pytest.mark.parametrize(("size", "part_size", "count"), [(20 * MIB, 8 * MIB, 2), (0, 8, 1)])
def test_a_plan_that_does_not_fit_the_file_is_refused(
    size: int, part_size: int, count: int
) -> None:
    with pytest.raises(ValueError, match=r"parts|cut"):
        plan(size, part_size, count)


def test_the_checksum_is_padded_base64_of_the_sha256_digest() -> None:
    # The SHA-256 of no bytes, as S3 documents x-amz-checksum-sha256
    assert checksum(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    data = os.urandom(1000)
    assert base64.b64decode(checksum(data), validate=True) == hashlib.sha256(data).digest()
    assert len(checksum(data)) == 44


def test_only_stored_parts_of_the_right_size_are_skipped() -> None:
    parts = plan(20 * MIB, 8 * MIB, 3)
    stored = [
        {"partNumber": 1, "size": 8 * MIB, "etag": '"a"'},
        {"partNumber": 2, "size": 5 * MIB, "etag": '"b"'},  # not the size part 2 must have
    ]
    todo, etags = missing(parts, stored)
    assert [p.number for p in todo] == [2, 3]
    assert etags == {1: '"a"'}


class FakeApi:
    """The multipart routes of API.md over an in-memory upload; S3 is `FakeS3`."""

    def __init__(self, stored: list[dict[str, Any]], expires_at: str = "2999-01-01T00:00:00Z"):
        self.stored = stored
        self.calls: list[tuple[str, str, Any]] = []
        self.expires_at = expires_at

    def json(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        self.calls.append((method, path, json))
        if path.endswith("/parts") and method == "GET":
            return {"uploadId": "u-1", "parts": self.stored}
        if path.endswith("/parts"):
            return {
                "parts": [
                    {
                        "partNumber": p["partNumber"],
                        "method": "PUT",
                        "url": f"https://s3.test/part/{p['partNumber']}",
                        "headers": {"x-amz-checksum-sha256": p["sha256"]},
                        "expiresAt": self.expires_at,
                    }
                    for p in json["parts"]
                ]
            }
        assert path.endswith("/complete")
        return {"imageId": "i-1", "status": "pending_upload"}

    def signed(self) -> list[int]:
        return [
            p["partNumber"]
            for m, path, body in self.calls
            if m == "POST" and path.endswith("/parts")
            for p in body["parts"]
        ]


class FakeS3:
    """Takes a part whose bytes match the signed checksum; `failures` are raised or answered
    first, in order, for the part numbers they name."""

    def __init__(self, failures: dict[int, list[Any]] | None = None) -> None:
        self.failures = failures or {}
        self.received: dict[int, bytes] = {}
        self.attempts: list[int] = []

    def __call__(self, url: str, *, data: Any, headers: dict[str, str]) -> requests.Response:
        number = int(url.rsplit("/", 1)[1])
        self.attempts.append(number)
        body = data.read()
        pending = self.failures.get(number) or []
        if pending:
            failure = pending.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return _response(failure[0], failure[1])
        assert headers["x-amz-checksum-sha256"] == checksum(body)
        self.received[number] = body
        return _response(200, "", etag=f'"etag-{number}"')


def _response(status: int, text: str, etag: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = text.encode()
    if etag:
        response.headers["ETag"] = etag
    return response


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(2 * 5 * MIB + 123))
    return path


UPLOAD = {"method": "MULTIPART", "partSize": 5 * MIB, "partCount": 3}


def test_a_resumed_upload_sends_only_the_missing_parts(big_file: Path) -> None:
    # Given an open upload whose part 1 S3 holds already
    data = big_file.read_bytes()
    api = FakeApi([{"partNumber": 1, "size": 5 * MIB, "etag": '"old-1"'}])
    s3 = FakeS3()
    # When the file is sent
    result = send_file(cast(Api, api), "i-1", big_file, UPLOAD, len(data), progress=False, put=s3)
    # Then parts 2 and 3 alone are signed and sent, with the bytes of their place in the file
    assert api.signed() == [2, 3]
    assert s3.received == {2: data[5 * MIB : 10 * MIB], 3: data[10 * MIB :]}
    # And the upload is completed with all three ETags in order, the stored one included
    method, path, body = api.calls[-1]
    assert (method, path) == ("POST", "/uploads/i-1/complete")
    assert body == {
        "parts": [
            {"partNumber": 1, "etag": '"old-1"'},
            {"partNumber": 2, "etag": '"etag-2"'},
            {"partNumber": 3, "etag": '"etag-3"'},
        ]
    }
    assert (result.sent, result.skipped, result.status) == (2, 1, "pending_upload")


def test_signing_goes_in_batches(big_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multipart, "SIGN_BATCH", 2)
    api, s3 = FakeApi([]), FakeS3()
    send_file(
        cast(Api, api), "i-1", big_file, UPLOAD, big_file.stat().st_size, progress=False, put=s3
    )
    batches = [
        [p["partNumber"] for p in body["parts"]]
        for m, path, body in api.calls
        if m == "POST" and path.endswith("/parts")
    ]
    assert batches == [[1, 2], [3]]


def test_a_part_is_retried_on_a_network_error_and_a_5xx(
    big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an S3 that drops part 2 once and then answers it 503 once
    monkeypatch.setattr(multipart, "BACKOFF", 0)
    s3 = FakeS3({2: [requests.ConnectionError("reset"), (503, "<Code>SlowDown</Code>")]})
    # When the file is sent
    result = send_file(
        cast(Api, FakeApi([])),
        "i-1",
        big_file,
        UPLOAD,
        big_file.stat().st_size,
        progress=False,
        put=s3,
    )
    # Then part 2 was tried three times and every part arrived
    assert s3.attempts == [1, 2, 2, 2, 3]
    assert sorted(s3.received) == [1, 2, 3]
    assert result.sent == 3


def test_an_expiring_url_is_signed_again(big_file: Path) -> None:
    api = FakeApi([], expires_at="2000-01-01T00:00:00Z")
    send_file(
        cast(Api, api),
        "i-1",
        big_file,
        UPLOAD,
        big_file.stat().st_size,
        progress=False,
        put=FakeS3(),
    )
    assert api.signed() == [1, 2, 3, 1, 2, 3]


def test_an_s3_refusal_fails_the_file_with_its_code_at_once(
    big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an S3 that refuses part 2's bytes (a 4xx is not retried)
    monkeypatch.setattr(multipart, "BACKOFF", 0)
    s3 = FakeS3({2: [(400, "<Error><Code>BadDigest</Code><Message>no</Message></Error>")]})
    api = FakeApi([])
    outcome = Outcome(
        path=big_file,
        kind="new",
        image_id="i-1",
        spec={"size": big_file.stat().st_size},
        upload=UPLOAD,
    )
    monkeypatch.setattr(multipart, "_put", s3)
    # When it is sent as `imagepipe upload` does
    multipart.send(cast(Api, api), outcome, progress=False)
    # Then the file failed with S3's code, part 2 was tried once, and nothing was completed
    assert (outcome.kind, outcome.code) == ("failed", "BadDigest")
    assert s3.attempts == [1, 2]
    assert not any(path.endswith("/complete") for _, path, _ in api.calls)


def test_a_part_that_keeps_failing_fails_the_file(
    big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multipart, "BACKOFF", 0)
    s3 = FakeS3({1: [requests.ConnectionError("down")] * multipart.ATTEMPTS})
    with pytest.raises(PartFailed) as failed:
        send_file(
            cast(Api, FakeApi([])),
            "i-1",
            big_file,
            UPLOAD,
            big_file.stat().st_size,
            progress=False,
            put=s3,
        )
    assert failed.value.code == "upload_unreachable"
    assert s3.attempts == [1] * multipart.ATTEMPTS


def test_the_json_names_the_parts_sent_and_skipped(
    big_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multipart, "_put", FakeS3())
    api = FakeApi([{"partNumber": 3, "size": 123, "etag": '"e3"'}])
    outcome = Outcome(
        path=big_file,
        kind="duplicate",
        image_id="i-1",
        spec={"size": big_file.stat().st_size},
        upload=UPLOAD,
    )
    multipart.send(cast(Api, api), outcome, progress=False)
    assert outcome.as_json()["parts"] == {"total": 3, "sent": 2, "skipped": 1}
    assert outcome.status == "pending_upload"
    assert outcome.code == ""


def test_an_upload_completed_already_sends_nothing(big_file: Path) -> None:
    class Completed(FakeApi):
        def json(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
            raise Refused(409, "upload_completed", "the bytes already arrived", None)

    s3 = FakeS3()
    result = send_file(
        cast(Api, Completed([])),
        "i-1",
        big_file,
        UPLOAD,
        big_file.stat().st_size,
        progress=False,
        put=s3,
    )
    assert (result.sent, result.skipped) == (0, 3)
    assert s3.attempts == []
