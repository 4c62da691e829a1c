"""The local stack's S3 POST policy check, against policies signed by boto3 itself."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from imagepipe_local.post_policy import check_post

BUCKET = "bucket"
DATA = b"\xff\xd8\xff some image bytes"
CHECKSUM = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
SECRETS = {"local": "local"}


def signed_fields(*, content_type: str = "image/jpeg", max_bytes: int = 1000) -> dict[str, str]:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        endpoint_url="http://127.0.0.1:4566",
        config=Config(signature_version="s3v4"),  # as imagepipe.adapters.aws configures it
    )
    post: dict[str, Any] = client.generate_presigned_post(
        Bucket=BUCKET,
        Key="uploads/abc",
        Fields={"Content-Type": content_type, "x-amz-checksum-sha256": CHECKSUM},
        Conditions=[
            {"Content-Type": content_type},
            {"x-amz-checksum-sha256": CHECKSUM},
            ["content-length-range", 1, max_bytes],
        ],
        ExpiresIn=300,
    )
    return dict(post["fields"])


def test_the_form_as_signed_is_accepted() -> None:
    # Given the form boto3 signed / When it is posted with the bytes it was signed for
    # Then it passes every check, as S3 would let it through
    assert check_post(signed_fields(), DATA, bucket=BUCKET, secret_for=SECRETS.get) is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"Content-Type": "text/html"}, "AccessDenied"),
        ({"key": "images/elsewhere"}, "AccessDenied"),
        ({"x-amz-signature": "0" * 64}, "SignatureDoesNotMatch"),
        ({"x-amz-meta-extra": "1"}, "AccessDenied"),
    ],
)
def test_a_tampered_form_is_refused(change: dict[str, str], code: str) -> None:
    # Given a signed form with one field changed or added after signing
    fields = {**signed_fields(), **change}

    # When it is posted
    refusal = check_post(fields, DATA, bucket=BUCKET, secret_for=SECRETS.get)

    # Then it is refused with the code S3 gives for that tampering
    assert refusal is not None
    assert refusal.code == code


def test_other_bytes_than_the_checksum_are_refused() -> None:
    # Given a form signed for DATA's checksum / When DATA plus one byte is posted with it
    refusal = check_post(signed_fields(), DATA + b"!", bucket=BUCKET, secret_for=SECRETS.get)

    # Then the checksum does not match: a 400 BadDigest
    assert refusal is not None
    assert (refusal.status, refusal.code) == (400, "BadDigest")


def test_too_large_and_empty_bodies_are_refused() -> None:
    # Given a form whose policy allows at most 5 bytes
    small = signed_fields(max_bytes=5)

    # When the longer DATA is posted with it
    too_large = check_post(small, DATA, bucket=BUCKET, secret_for=SECRETS.get)

    # Then it is too large
    assert too_large is not None
    assert too_large.code == "EntityTooLarge"
    # And an empty body, below the policy's minimum of 1 byte, is too small
    empty = check_post(signed_fields(), b"", bucket=BUCKET, secret_for=SECRETS.get)
    assert empty is not None
    assert empty.code == "EntityTooSmall"


def test_an_expired_policy_and_an_unknown_key_are_refused() -> None:
    # Given a moment just past the policy's 300 seconds
    later = datetime.now(UTC) + timedelta(seconds=301)

    # When the form is posted at that moment
    expired = check_post(signed_fields(), DATA, bucket=BUCKET, secret_for=SECRETS.get, now=later)

    # Then the policy has expired
    assert expired is not None
    assert "expired" in expired.message
    # And a form posted where no secret is known for its access key names the key as unknown
    nobody: dict[str, str] = {}
    unknown = check_post(signed_fields(), DATA, bucket=BUCKET, secret_for=nobody.get)
    assert unknown is not None
    assert unknown.code == "InvalidAccessKeyId"


def test_another_bucket_is_refused() -> None:
    # Given a form signed for BUCKET / When it is posted to another bucket
    refusal = check_post(signed_fields(), DATA, bucket="other", secret_for=SECRETS.get)

    # Then the policy's bucket condition fails
    assert refusal is not None
    assert refusal.code == "AccessDenied"
