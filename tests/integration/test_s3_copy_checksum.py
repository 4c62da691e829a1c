"""S3Storage.copy of an object that a multipart upload made (as Ingest promotes a large upload to
its original), on moto built from template.yaml: the copy reads back, checksum validation on."""

from __future__ import annotations

import base64
import hashlib
import os
from functools import partial

from imagepipe.adapters.aws import s3_client
from imagepipe.adapters.s3 import S3Storage
from imagepipe_local.template import Template

MIB = 1024 * 1024


def test_the_copy_of_a_multipart_upload_reads_back(aws: Template) -> None:
    # Given an object completed from two parts, each sent with its SHA-256
    bucket, region = aws.physical_name("ImagesBucket"), aws.names.region
    client = s3_client(region)
    data = os.urandom(5 * MIB + 100)
    parts = [data[: 5 * MIB], data[5 * MIB :]]
    upload = client.create_multipart_upload(
        Bucket=bucket, Key="uploads/img-1", ChecksumAlgorithm="SHA256"
    )
    etags = [
        client.upload_part(
            Bucket=bucket,
            Key="uploads/img-1",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=part,
            ChecksumSHA256=base64.b64encode(hashlib.sha256(part).digest()).decode(),
        )["ETag"]
        for number, part in enumerate(parts, 1)
    ]
    client.complete_multipart_upload(
        Bucket=bucket,
        Key="uploads/img-1",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    storage = S3Storage(bucket, partial(s3_client, region))
    target = "images/2026/03/05/original/img-1.jpg"

    # When it is copied, as Ingest promotes an upload
    copied = storage.copy("uploads/img-1", target, content_type="image/jpeg", cache_control="")

    # Then the copy reads back whole (boto3 checks the checksum S3 sends with it)
    assert copied
    assert storage.read(target) == data
