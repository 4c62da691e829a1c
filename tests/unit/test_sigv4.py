"""The local stack's check of presigned PUTs and of x-amz-checksum-sha256, against URLs presigned
by botocore itself (the way the API presigns UploadPart), with no network."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from imagepipe_local.sigv4 import Refusal, check_checksum, check_presigned

DATA = b"\xff\xd8\xff a part's bytes"
CHECKSUM = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
SECRETS = {"local": "local"}
ENDPOINT = "http://127.0.0.1:4566"


def presigned_part(
    *,
    key: str = "uploads/abc",
    secret: str = "local",  # noqa: S107 - the local stack's test secret
    content_length: int | None = None,
) -> str:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key=secret,
        aws_session_token=None,
        endpoint_url=ENDPOINT,
        config=Config(signature_version="s3v4"),  # as imagepipe.adapters.aws configures it
    )
    params: dict[str, object] = {
        "Bucket": "bucket",
        "Key": key,
        "UploadId": "upload-1",
        "PartNumber": 3,
        "ChecksumSHA256": CHECKSUM,
    }
    if content_length is not None:
        params["ContentLength"] = content_length
    return str(client.generate_presigned_url("upload_part", Params=params, ExpiresIn=300))


def headers_sent(**extra: str) -> dict[str, str]:
    """The headers a client sends with the PUT, as the front receives them (lower-case)."""
    return {
        "host": "127.0.0.1:4566",
        "content-length": str(len(DATA)),
        "x-amz-checksum-sha256": CHECKSUM,
        **extra,
    }


def check(url: str, headers: dict[str, str], now: datetime | None = None) -> Refusal | None:
    parts = urlsplit(url)
    return check_presigned("PUT", parts.path, parts.query, headers, secret_for=SECRETS.get, now=now)


def code(refusal: Refusal | None) -> str | None:
    return refusal.code if refusal else None


@pytest.mark.parametrize("key", ["uploads/abc", "uploads/a b+c/é~(1).jpg"])
def test_a_url_as_botocore_presigned_it_verifies(key: str) -> None:
    # Given an UploadPart URL botocore presigned with the part's checksum (and a key whose
    # characters need encoding) / When it is PUT with the headers it signs
    # Then its signature holds, as S3 would find
    assert check(presigned_part(key=key), headers_sent()) is None


def test_a_signed_content_length_verifies_too() -> None:
    # Given a URL that also signs the part's Content-Length, as the API's may
    url = presigned_part(content_length=len(DATA))
    assert "content-length" in url

    # When it is PUT with that length Then it verifies; with another it does not
    assert check(url, headers_sent()) is None
    refusal = check(url, headers_sent(**{"content-length": str(len(DATA) + 1)}))
    assert code(refusal) == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("partNumber=3", "partNumber=4"),
        lambda url: url.replace("uploadId=upload-1", "uploadId=upload-2"),
        lambda url: url.replace("/uploads/abc", "/uploads/abd"),
        lambda url: url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
    ],
    ids=["part number", "upload id", "key", "expiry"],
)
def test_a_tampered_url_is_refused(tamper: Callable[[str], str]) -> None:
    # Given a presigned URL with one thing changed after signing / When it is PUT
    refusal = check(tamper(presigned_part()), headers_sent())

    # Then the signature S3 computes is another one
    assert refusal is not None
    assert (refusal.status, refusal.code) == (403, "SignatureDoesNotMatch")


def test_another_or_no_checksum_header_is_refused() -> None:
    # Given a URL signed with DATA's checksum
    url = presigned_part()
    other = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()

    # When the PUT carries another checksum, or none
    changed = check(url, headers_sent(**{"x-amz-checksum-sha256": other}))
    headers = headers_sent()
    del headers["x-amz-checksum-sha256"]
    missing = check(url, headers)

    # Then both are refused: the checksum is part of what was signed
    assert code(changed) == "SignatureDoesNotMatch"
    assert code(missing) == "SignatureDoesNotMatch"


def test_a_wrong_secret_an_unknown_key_and_an_expired_url_are_refused() -> None:
    # Given URLs signed with another secret, and checked where no secret is known, or too late
    wrong_secret = check(presigned_part(secret="not-local"), headers_sent())
    parts = urlsplit(presigned_part())
    nobody: dict[str, str] = {}
    unknown = check_presigned("PUT", parts.path, parts.query, headers_sent(), secret_for=nobody.get)
    later = datetime.now(UTC) + timedelta(seconds=301)
    expired = check(presigned_part(), headers_sent(), now=later)

    # Then each gets S3's refusal
    assert code(wrong_secret) == "SignatureDoesNotMatch"
    assert unknown is not None
    assert (unknown.status, unknown.code) == (403, "InvalidAccessKeyId")
    assert expired is not None
    assert (expired.code, expired.message) == ("AccessDenied", "Request has expired")
    # And just before expiry the URL still verifies
    assert check(presigned_part(), headers_sent(), now=later - timedelta(seconds=2)) is None


def test_a_url_without_its_signature_parameters_is_refused() -> None:
    # Given a presigned URL that lost its X-Amz-Date / When it is PUT
    url = presigned_part()
    query = "&".join(p for p in urlsplit(url).query.split("&") if not p.startswith("X-Amz-Date="))
    refusal = check_presigned(
        "PUT", urlsplit(url).path, query, headers_sent(), secret_for=SECRETS.get
    )

    # Then S3 says which query parameter is missing
    assert refusal is not None
    assert refusal.code == "AuthorizationQueryParametersError"
    assert "X-Amz-Date" in refusal.message


def test_the_checksum_is_compared_with_the_body() -> None:
    # Given DATA's checksum / When the body is DATA, another body, or the checksum is malformed
    # Then only DATA passes; other bytes are a BadDigest, a malformed value an InvalidRequest
    assert check_checksum(CHECKSUM, DATA) is None
    bad = check_checksum(CHECKSUM, DATA + b"!")
    assert bad is not None
    assert (bad.status, bad.code) == (400, "BadDigest")
    assert bad.message == "The SHA256 you specified did not match the calculated checksum."
    short = base64.b64encode(b"16 bytes only...").decode()
    for malformed in ("not base64!", short, hashlib.sha256(DATA).hexdigest()):
        invalid = check_checksum(malformed, DATA)
        assert invalid is not None
        assert (invalid.status, invalid.code) == (400, "InvalidRequest")
        assert invalid.message == "Value for x-amz-checksum-sha256 header is invalid."
