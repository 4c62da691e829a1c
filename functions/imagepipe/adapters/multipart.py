"""S3 adapter of the MultipartUploads port: large files uploaded in parts, straight to S3, each
part's SHA-256 signed into its presigned URL so that S3 refuses different bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from imagepipe.domain.errors import ErrorCode, InvalidRequest
from imagepipe.domain.model import Part, PartTarget

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The header S3 compares with the SHA-256 of a part's bytes; signed into the part's URL, so a
# client must send it exactly as given (or S3 answers SignatureDoesNotMatch).
CHECKSUM_HEADER = "x-amz-checksum-sha256"
# What S3 says when the part list of a CompleteMultipartUpload does not fit the parts it holds.
_REFUSED_PARTS = ("InvalidPart", "InvalidPartOrder", "EntityTooSmall")


class S3MultipartUploads:
    def __init__(self, bucket: str, client: Callable[[], S3Client]) -> None:
        self._bucket = bucket
        self._client = client

    def create(self, key: str, *, content_type: str) -> str:
        response = self._client().create_multipart_upload(
            Bucket=self._bucket, Key=key, ContentType=content_type, ChecksumAlgorithm="SHA256"
        )
        return response["UploadId"]

    def presign_part(
        self, key: str, upload_id: str, *, number: int, size: int, sha256: str, expires_in: int
    ) -> PartTarget:
        # Signed with the URL: the part's checksum and length (SigV4 signs the headers given).
        url = self._client().generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": number,
                "ContentLength": size,
                "ChecksumSHA256": sha256,
            },
            ExpiresIn=expires_in,
        )
        # Content-Length is not listed: a browser sets it from the body and may not set it itself.
        return PartTarget(
            number=number,
            url=url,
            headers={CHECKSUM_HEADER: sha256},
            expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in),
        )

    def parts(self, key: str, upload_id: str) -> list[Part] | None:
        paginator = self._client().get_paginator("list_parts")
        found: list[Part] = []
        try:
            for page in paginator.paginate(Bucket=self._bucket, Key=key, UploadId=upload_id):
                found.extend(_part(listed) for listed in page.get("Parts", []))
        except ClientError as error:
            if _no_such_upload(error):
                return None
            raise
        return sorted(found, key=lambda part: part.number)

    def complete(self, key: str, upload_id: str, parts: Sequence[Part]) -> bool:
        listed: list[Any] = []
        for part in sorted(parts, key=lambda p: p.number):
            entry: dict[str, Any] = {"PartNumber": part.number, "ETag": part.etag}
            if part.sha256:
                # An upload made with a checksum algorithm wants each part's checksum back.
                entry["ChecksumSHA256"] = part.sha256
            listed.append(entry)
        try:
            self._client().complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": listed},
            )
        except ClientError as error:
            if _no_such_upload(error):
                return False
            code = error.response.get("Error", {}).get("Code", "")
            if code in _REFUSED_PARTS:
                raise InvalidRequest(
                    f"S3 refused the part list: {code}",
                    field="parts",
                    code=ErrorCode.PARTS_MISMATCH,
                ) from error
            raise
        return True

    def abort(self, key: str, upload_id: str) -> None:
        try:
            self._client().abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if not _no_such_upload(error):
                raise


def _part(listed: Any) -> Part:
    return Part(
        number=int(listed["PartNumber"]),
        size=int(listed["Size"]),
        etag=str(listed["ETag"]),
        sha256=listed.get("ChecksumSHA256"),
    )


def _no_such_upload(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404", "NotFound")
