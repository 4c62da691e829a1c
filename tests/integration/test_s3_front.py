"""The local stack's S3 front refuses a part PUT that real S3 refuses and moto accepts: the real
EmulatedAws (moto's server behind the front) on a loopback port, a multipart upload made with
boto3, UploadPart presigned with the part's checksum as the API presigns it, PUT with requests.
The same PUT straight to a bare moto server shows moto alone would have stored the wrong bytes."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from imagepipe_local.s3_front import EmulatedAws, exposed_headers
from imagepipe_local.template import Template

BUCKET = "parts"
KEY = "uploads/big image.jpg"
ORIGIN = "http://127.0.0.1:3000"
PART = b"\xff\xd8\xff" + bytes(range(256)) * 64
CHECKSUM = base64.b64encode(hashlib.sha256(PART).digest()).decode()
# The bytes of a part that got corrupted: as long as PART, so only the checksum tells them apart.
CORRUPT = b"\x00" + PART[1:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        aws_session_token=None,
        endpoint_url=endpoint,
        config=Config(signature_version="s3v4"),  # as imagepipe.adapters.aws configures it
    )


@dataclass
class Upload:
    endpoint: str
    client: Any
    upload_id: str

    def part_url(self, number: int, client: Any = None) -> str:
        return str(
            (client or self.client).generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": BUCKET,
                    "Key": KEY,
                    "UploadId": self.upload_id,
                    "PartNumber": number,
                    "ChecksumSHA256": CHECKSUM,
                },
                ExpiresIn=300,
            )
        )


@pytest.fixture
def upload(template: Template) -> Iterator[Upload]:
    port = free_port()
    # In this process: the bare moto server below must see the same backends.
    front = EmulatedAws(
        "127.0.0.1", port, exposed_headers(template), {"local": "local"}, in_process=True
    )
    front.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = s3(endpoint)
    client.create_bucket(Bucket=BUCKET)
    # The shape of the template's bucket CORS rule (UploadsBucket).
    rule = {
        "AllowedOrigins": [ORIGIN],
        "AllowedMethods": ["POST", "PUT", "GET"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag", "Location"],
        "MaxAgeSeconds": 3000,
    }
    client.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [rule]})
    created = client.create_multipart_upload(Bucket=BUCKET, Key=KEY, ChecksumAlgorithm="SHA256")
    try:
        yield Upload(endpoint, client, created["UploadId"])
    finally:
        client.abort_multipart_upload(Bucket=BUCKET, Key=KEY, UploadId=created["UploadId"])
        front.stop()


def error_code(response: requests.Response) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", response.text)
    return found.group(1) if found else ""


def stored_parts(upload: Upload) -> dict[int, str]:
    listed = upload.client.list_parts(Bucket=BUCKET, Key=KEY, UploadId=upload.upload_id)
    return {part["PartNumber"]: part["ETag"] for part in listed.get("Parts", [])}


def test_the_right_bytes_are_stored_and_their_etag_returned(upload: Upload) -> None:
    # Given a presigned part URL / When the part's bytes are PUT with the signed checksum header
    response = requests.put(
        upload.part_url(1), data=PART, headers={"x-amz-checksum-sha256": CHECKSUM}, timeout=10
    )

    # Then S3 (here moto behind the front) stores the part and answers its ETag
    assert response.status_code == 200, response.text
    etag = response.headers["ETag"]
    assert etag == f'"{hashlib.md5(PART).hexdigest()}"'  # noqa: S324 - S3's part ETag
    assert stored_parts(upload) == {1: etag}


def test_other_bytes_than_the_checksum_are_refused_where_moto_alone_stores_them(
    upload: Upload,
) -> None:
    # Given a presigned part URL / When corrupt bytes are PUT with the signed checksum
    refused = requests.put(
        upload.part_url(2), data=CORRUPT, headers={"x-amz-checksum-sha256": CHECKSUM}, timeout=10
    )

    # Then the front answers S3's 400 BadDigest and nothing is stored
    assert refused.status_code == 400
    assert error_code(refused) == "BadDigest"
    assert 2 not in stored_parts(upload)

    # And the same request straight to moto's own server (same in-process backend) is stored:
    # the front, not moto, is what refuses it
    from moto.server import ThreadedMotoServer

    bare_port = free_port()
    bare = ThreadedMotoServer(ip_address="127.0.0.1", port=bare_port, verbose=False)
    bare.start()
    try:
        direct = s3(f"http://127.0.0.1:{bare_port}")
        accepted = requests.put(
            upload.part_url(2, direct),
            data=CORRUPT,
            headers={"x-amz-checksum-sha256": CHECKSUM},
            timeout=10,
        )
    finally:
        bare.stop()
    assert accepted.status_code == 200, accepted.text
    assert stored_parts(upload)[2] == f'"{hashlib.md5(CORRUPT).hexdigest()}"'  # noqa: S324


def test_a_put_without_the_signed_checksum_header_is_refused(upload: Upload) -> None:
    # Given a URL that signs the checksum header / When the part is PUT without it
    response = requests.put(upload.part_url(3), data=PART, timeout=10)

    # Then the signature does not match: S3's 403 SignatureDoesNotMatch, nothing stored
    assert response.status_code == 403
    assert error_code(response) == "SignatureDoesNotMatch"
    assert 3 not in stored_parts(upload)


def test_a_cross_origin_put_can_read_its_etag_and_its_errors(upload: Upload) -> None:
    # Given a browser page on another origin
    cors = {"Origin": ORIGIN}

    # When it asks to PUT with the checksum header (the preflight), PUTs a part, then corrupt bytes
    preflight = requests.options(
        upload.part_url(4),
        headers={
            **cors,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-amz-checksum-sha256",
        },
        timeout=10,
    )
    accepted = requests.put(
        upload.part_url(4),
        data=PART,
        headers={**cors, "x-amz-checksum-sha256": CHECKSUM},
        timeout=10,
    )
    refused = requests.put(
        upload.part_url(5),
        data=CORRUPT,
        headers={**cors, "x-amz-checksum-sha256": CHECKSUM},
        timeout=10,
    )

    # Then the preflight allows it (the bucket's AllowedHeaders "*")
    assert preflight.status_code == 200
    assert preflight.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "PUT" in preflight.headers.get("Access-Control-Allow-Methods", "")
    # And the part's ETag is exposed to the page (without it the page cannot complete)
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers.get("Access-Control-Allow-Origin") == ORIGIN
    exposed = [h.strip() for h in accepted.headers["Access-Control-Expose-Headers"].split(",")]
    assert "ETag" in exposed
    # And the refusal is readable by the page too
    assert refused.status_code == 400
    assert refused.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert error_code(refused) == "BadDigest"


def test_an_sdk_put_with_a_wrong_checksum_is_refused_too(upload: Upload) -> None:
    # Given a header-signed SDK call (as the functions make) / When its checksum is not its body's
    # (botocore sends the value given; a plain body on http)
    other = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(upload.client.exceptions.ClientError) as refused:
        upload.client.put_object(Bucket=BUCKET, Key="whole", Body=PART, ChecksumSHA256=other)

    # Then S3's BadDigest, as for a presigned PUT; with the right checksum it is stored
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    upload.client.put_object(Bucket=BUCKET, Key="whole", Body=PART, ChecksumSHA256=CHECKSUM)
    assert upload.client.head_object(Bucket=BUCKET, Key="whole")["ContentLength"] == len(PART)
