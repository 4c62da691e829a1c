"""S3 adapter: presigned uploads and downloads, and deletion of an image's objects; image URLs
as presigned GETs when no CDN is configured."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from imagepipe.domain import keys
from imagepipe.domain.model import Staged, UploadTarget
from imagepipe.domain.ports import Sink

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_DOWNLOAD_CHUNK = 1 << 20
# DeleteObjects takes at most 1000 keys per call.
_DELETE_BATCH = 1000
# Kept on an upload written over itself by the sweeper (x-amz-meta-resends).
_RESENDS = "resends"


class S3Storage:
    def __init__(self, bucket: str, client: Callable[[], S3Client]) -> None:
        self._bucket = bucket
        self._client = client

    def presign_upload(
        self, *, key: str, content_type: str, sha256: str, max_bytes: int, expires_in: int
    ) -> UploadTarget:
        """A POST policy pinning the exact key, the Content-Type, the size range and the
        SHA-256 of the bytes (S3 rejects a body whose checksum differs; Ingest re-hashes anyway)."""
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        fields = {"Content-Type": content_type, "x-amz-checksum-sha256": checksum}
        conditions: list[object] = [
            {"Content-Type": content_type},
            {"x-amz-checksum-sha256": checksum},
            ["content-length-range", 1, max_bytes],
        ]
        post = self._client().generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=expires_in,
        )
        # The expiry shown to the client is the one signed into the policy, to the second.
        policy = json.loads(base64.b64decode(post["fields"]["policy"]))
        expires_at = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        return UploadTarget(url=post["url"], fields=dict(post["fields"]), expires_at=expires_at)

    def size(self, key: str) -> int | None:
        try:
            head = self._client().head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                return None
            raise
        return int(head["ContentLength"])

    def download(self, key: str, into: Sink) -> bool:
        try:
            response = self._client().get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                return False
            raise
        body = response["Body"]
        try:
            # One chunk at a time from the socket: an upload of any size takes 1 MiB of memory.
            for chunk in body.iter_chunks(_DOWNLOAD_CHUNK):
                into.write(chunk)
        finally:
            body.close()
        return True

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        self._client().put_object(
            Bucket=self._bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control,
        )

    def copy(self, source: str, target: str, *, content_type: str, cache_control: str) -> bool:
        try:
            self._client().copy_object(
                Bucket=self._bucket,
                Key=target,
                CopySource={"Bucket": self._bucket, "Key": source},
                MetadataDirective="REPLACE",
                ContentType=content_type,
                CacheControl=cache_control,
                # The copy gets a full-object SHA-256 of its own. Without it, a copy of a
                # multipart upload keeps the source's per-part (composite) checksum, which moto
                # then serves as if it were the whole object's, and every GET fails validation.
                ChecksumAlgorithm="SHA256",
            )
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    def staged_before(self, cutoff: datetime) -> list[Staged]:
        client = self._client()
        staged = []
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=keys.STAGING_PREFIX):
            for listed in page.get("Contents", []):
                if listed["LastModified"] >= cutoff:
                    continue
                try:
                    head = client.head_object(Bucket=self._bucket, Key=listed["Key"])
                except ClientError as error:
                    if _missing(error):
                        continue  # ingested since the listing
                    raise
                resends = head.get("Metadata", {}).get(_RESENDS, "0")
                staged.append(
                    Staged(
                        key=listed["Key"],
                        content_type=head.get("ContentType", "application/octet-stream"),
                        resends=int(resends) if resends.isdigit() else 0,
                    )
                )
        return staged

    def restage(self, staged: Staged) -> bool:
        try:
            self._client().copy_object(
                Bucket=self._bucket,
                Key=staged.key,
                CopySource={"Bucket": self._bucket, "Key": staged.key},
                # S3 copies an object onto itself only when something changes: the count does.
                MetadataDirective="REPLACE",
                Metadata={_RESENDS: str(staged.resends + 1)},
                ContentType=staged.content_type,
                ChecksumAlgorithm="SHA256",
            )
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    def delete(self, keys: Iterable[str], prefixes: Iterable[str]) -> None:
        client = self._client()
        doomed = set(keys)
        paginator = client.get_paginator("list_objects_v2")
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                doomed.update(obj["Key"] for obj in page.get("Contents", []))
        ordered = sorted(doomed)
        for start in range(0, len(ordered), _DELETE_BATCH):
            batch = ordered[start : start + _DELETE_BATCH]
            response = client.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if response.get("Errors"):
                failed = ", ".join(f"{e.get('Key')}: {e.get('Code')}" for e in response["Errors"])
                raise RuntimeError(f"could not delete objects: {failed}")


class S3ImageUrls:
    """Image URLs without a CDN: a presigned GET per read, valid `expires_in` seconds. Signed
    locally (S3 checks the function's s3:GetObject when the URL is used); each read mints a new
    URL, so nothing is cached across reads."""

    def __init__(self, bucket: str, client: Callable[[], S3Client], *, expires_in: int) -> None:
        self._bucket = bucket
        self._client = client
        self._expires_in = expires_in

    def url(self, key: str) -> str:
        return self._client().generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._expires_in
        )


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")
