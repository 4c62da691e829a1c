"""`imagepipe audit`: does the bucket agree with the tables? Every object belongs to a recorded
image, every recorded image has its objects, no staging upload outlives its ingest, every
session link and hash claim points at an image, no image is still processing past the timeout,
and no multipart upload is open without its pending image. Read-only; a finding is a line, and
any finding is a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from imagepipe.adapters.mapping import record_to_image
from imagepipe.adapters.records import (
    CLAIM_PK_PREFIX,
    IMAGE_PK_PREFIX,
    HashClaim,
    ImageRecord,
    SessionLinkRecord,
    bind,
)
from imagepipe.domain import keys
from imagepipe.domain.images import object_keys
from imagepipe.domain.model import Image, ImageStatus


@dataclass(frozen=True, order=True)
class Finding:
    kind: str  # orphan_object, missing_object, staging_leftover, dangling_link, ...
    subject: str  # the key, image id or link it is about
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<18} {self.subject}  {self.detail}"


@dataclass(frozen=True)
class Store:
    """What the audit reads: the bucket's keys, and the tables' items."""

    object_keys: Callable[[], Iterable[str]]
    images: Callable[[], Iterable[Image]]
    claims: Callable[[], Iterable[tuple[str, str]]]  # (claim pk, image id)
    links: Callable[[], Iterable[tuple[str, str, str]]]  # (tenant, session id, image id)
    # Open multipart uploads: (key, upload id).
    uploads: Callable[[], Iterable[tuple[str, str]]] = lambda: ()


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    images: int
    objects: int
    links: int


def audit(store: Store, *, now: datetime, processing_timeout: timedelta) -> Report:
    images = {image.image_id: image for image in store.images()}
    stored = set(store.object_keys())
    links = list(store.links())
    findings = [
        *_objects_without_images(stored, images),
        *_images_without_objects(stored, images),
        *_stuck(images.values(), now, processing_timeout),
        *(
            Finding("unfinished_delete", image.image_id, "deleting: retry its DELETE")
            for image in images.values()
            if image.status is ImageStatus.DELETING
        ),
        *(
            Finding("dangling_claim", pk, f"claims image {image_id}, which has no record")
            for pk, image_id in store.claims()
            if image_id not in images
        ),
        *(
            Finding("dangling_link", f"{tenant}/{session}", f"links image {image_id}, not found")
            for tenant, session, image_id in links
            if image_id not in images
        ),
        *_uploads_without_images(store.uploads(), images),
    ]
    return Report(sorted(findings), len(images), len(stored), len(links))


def _objects_without_images(stored: set[str], images: dict[str, Image]) -> Iterator[Finding]:
    for key in sorted(stored):
        image_id = keys.image_id_of(key)
        image = images.get(image_id) if image_id else None
        if image is None:
            yield Finding("orphan_object", key, "no image record owns it")
            continue
        exact, prefixes = object_keys(image)
        if key not in exact and not key.startswith(tuple(prefixes)):
            yield Finding("orphan_object", key, f"not a key of image {image.image_id}")
        elif image.status is ImageStatus.FAILED and key.startswith(keys.IMAGES_PREFIX):
            yield Finding("orphan_object", key, f"image {image.image_id} failed: nothing is kept")
        elif key.startswith(keys.STAGING_PREFIX) and image.status is not ImageStatus.PENDING_UPLOAD:
            # Ingest removes the staging object once it decided; a pending upload may hold one
            # for the moment between the POST and its ingest.
            yield Finding("staging_leftover", key, f"image {image.image_id} is {image.status}")


def _images_without_objects(stored: set[str], images: dict[str, Image]) -> Iterator[Finding]:
    for image in sorted(images.values(), key=lambda i: i.image_id):
        if image.status in (ImageStatus.PENDING_UPLOAD, ImageStatus.FAILED, ImageStatus.DELETING):
            continue  # nothing is kept of these (a deleting one is a DELETE to retry)
        expected = [image.original_key, image.thumbnail.key if image.thumbnail else None]
        expected += [variant.key for variant in image.variants]
        for key in expected:
            if key is None:
                yield Finding("missing_object", image.image_id, f"{image.status} without a key")
            elif key not in stored:
                yield Finding("missing_object", image.image_id, f"{key} is not in the bucket")


def _uploads_without_images(
    uploads: Iterable[tuple[str, str]], images: dict[str, Image]
) -> Iterator[Finding]:
    """A multipart upload is open only for a pending image that holds its id: any other is
    billed storage that nobody will complete (the bucket's lifecycle aborts it after a day)."""
    for key, upload_id in sorted(uploads):
        image_id = keys.image_id_of(key)
        image = images.get(image_id) if image_id else None
        if image is None or image.upload_id != upload_id:
            owner = f"image {image_id} does not hold it" if image else "no image record owns it"
            yield Finding("orphan_upload", key, f"multipart upload {upload_id[:12]}…: {owner}")


def _stuck(images: Iterable[Image], now: datetime, timeout: timedelta) -> Iterator[Finding]:
    for image in images:
        since = image.processing_since
        if image.status is ImageStatus.PROCESSING and since is not None and now - since > timeout:
            yield Finding(
                "stuck_processing",
                image.image_id,
                f"processing since {since.isoformat()}, past the {timeout} timeout",
            )


def dynamodb_store(s3: Any, bucket: str, images_table: str, links_table: str, region: str) -> Store:
    """The store of a stack (local or deployed), read with full scans: an audit, not a path."""
    records = bind(ImageRecord, images_table, region)
    claims = bind(HashClaim, images_table, region)
    links = bind(SessionLinkRecord, links_table, region)

    def all_keys() -> Iterator[str]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                yield str(item["Key"])

    def open_uploads() -> Iterator[tuple[str, str]]:
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                yield str(upload["Key"]), str(upload["UploadId"])

    return Store(
        object_keys=all_keys,
        uploads=open_uploads,
        images=lambda: (
            record_to_image(record)
            for record in records.scan(records.pk.startswith(IMAGE_PK_PREFIX))
        ),
        claims=lambda: (
            (claim.pk, claim.image_id)
            for claim in claims.scan(claims.pk.startswith(CLAIM_PK_PREFIX))
        ),
        links=lambda: ((link.tenant, link.session_id, link.image_id) for link in links.scan()),
    )


def summary(report: Report) -> str:
    counts = f"{report.images} images, {report.objects} objects, {report.links} session links"
    if not report.findings:
        return f"clean: {counts}"
    lines = [str(finding) for finding in report.findings]
    lines.append(f"{len(report.findings)} finding(s) in {counts}")
    return "\n".join(lines)
