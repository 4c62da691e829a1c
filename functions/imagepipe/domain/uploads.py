"""POST /uploads: deduplicate by (tenant, sha256), link to the session, hand out upload targets:
a presigned POST, or for a large file an S3 multipart upload (domain/multipart.py has its
routes).

A multipart upload lives on the image record (`upload_id`, `part_size`) while the image is
`pending_upload`: a client that lost its state asks again for the same bytes, gets the same
upload, lists the parts S3 already holds and sends only the others."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial

from imagepipe.domain import keys
from imagepipe.domain.errors import ConcurrentModification
from imagepipe.domain.locking import MAX_ATTEMPTS, update_image
from imagepipe.domain.model import (
    FileRequest,
    Image,
    ImageStatus,
    MultipartTarget,
    SessionLink,
    UploadResult,
    UploadTarget,
)
from imagepipe.domain.ports import (
    Clock,
    IdGenerator,
    ImageRepository,
    MultipartUploads,
    ObjectStorage,
    SessionLinkRepository,
)
from imagepipe.domain.validation import validate_files, validate_session_id

# An abandoned upload request is forgotten after this long: past the staging objects' 1-day
# expiry, so a late upload never outlives its record.
PENDING_TTL = timedelta(days=2)
# The bucket's lifecycle aborts an incomplete multipart upload a day after it started: the
# expiry a client is told. The record lives longer (PENDING_TTL), so that an upload completed
# at the last minute still finds its record.
MULTIPART_OPEN_FOR = timedelta(days=1)

MIB = 1024 * 1024
# S3's limits: parts of at least 5 MiB (but the last), at most 10,000 of them.
MIN_PART_SIZE = 5 * MIB
MAX_PARTS = 10_000


@dataclass(frozen=True)
class UploadPolicy:
    max_upload_bytes: int
    # How long a presigned POST or part URL stays valid.
    expiry_seconds: int
    # Files above this many bytes are uploaded in parts of about `part_size_bytes`.
    multipart_threshold_bytes: int = 16 * MIB
    part_size_bytes: int = 8 * MIB


@dataclass(frozen=True)
class UploadDeps:
    images: ImageRepository
    links: SessionLinkRepository
    storage: ObjectStorage
    multipart: MultipartUploads
    clock: Clock
    new_id: IdGenerator
    policy: UploadPolicy


@dataclass(frozen=True)
class Layout:
    """How a file of `size` bytes is cut: every part `part_size` bytes but the last."""

    size: int
    part_size: int

    @property
    def part_count(self) -> int:
        return max(1, math.ceil(self.size / self.part_size))

    def size_of(self, number: int) -> int:
        if number < self.part_count:
            return self.part_size
        return self.size - (self.part_count - 1) * self.part_size


def part_size_for(size: int, preferred: int) -> int:
    """The preferred part size (at least S3's 5 MiB), raised to whole MiB when the file would
    need more than 10,000 parts."""
    part = max(preferred, MIN_PART_SIZE)
    if math.ceil(size / part) > MAX_PARTS:
        part = math.ceil(size / MAX_PARTS / MIB) * MIB
    return part


def request_uploads(
    tenant: str,
    session_id: str | None,
    files: Sequence[FileRequest],
    deps: UploadDeps,
) -> list[UploadResult]:
    """Validate everything first, so a bad file in the list changes nothing for the others."""
    session = validate_session_id(session_id)
    validate_files(files, deps.policy.max_upload_bytes)
    return [_request_one(tenant, session, file, deps) for file in files]


def _request_one(tenant: str, session_id: str, file: FileRequest, deps: UploadDeps) -> UploadResult:
    for _ in range(MAX_ATTEMPTS):
        image, is_new = _image_for(tenant, file, deps)
        link = SessionLink(
            tenant=tenant, session_id=session_id, image_id=image.image_id, linked_at=deps.clock()
        )
        deps.links.link(link)
        # A DELETE may have cascaded between finding the image and linking it: the link would
        # then point at nothing. Check after linking and start over if the image is gone.
        if deps.images.get(image.image_id) is not None:
            break
        deps.links.unlink(tenant, session_id, image.image_id)
    else:
        raise ConcurrentModification(f"image for sha256 {file.sha256} kept disappearing; retry")
    upload: UploadTarget | MultipartTarget | None = None
    if image.status.accepts_upload:
        if image.size > deps.policy.multipart_threshold_bytes:
            image, upload = open_multipart(image, deps)
        else:
            upload = deps.storage.presign_upload(
                key=keys.staging_key(image.image_id),
                content_type=file.content_type,
                sha256=file.sha256,
                max_bytes=deps.policy.max_upload_bytes,
                expires_in=deps.policy.expiry_seconds,
            )
    return UploadResult(image=image, is_new=is_new, upload=upload)


def open_multipart(image: Image, deps: UploadDeps) -> tuple[Image, MultipartTarget | None]:
    """The image's open multipart upload, started if it has none (or S3 gave it up). Of any
    number of concurrent callers exactly one upload survives: each loser aborts its own.
    Returns the image as stored and its target (None once the image no longer waits for bytes,
    e.g. an upload completed meanwhile)."""
    key = keys.staging_key(image.image_id)
    current: Image | None = image
    for _ in range(MAX_ATTEMPTS):
        if current is None or current.status is not ImageStatus.PENDING_UPLOAD:
            return current or image, None
        if current.bytes_arrived:
            return current, None  # assembled by S3, not yet ingested: nothing to send
        stale = current.upload_id
        if stale is not None and deps.multipart.parts(key, stale) is not None:
            return current, multipart_target(current)
        upload_id = deps.multipart.create(key, content_type=current.content_type)
        part_size = part_size_for(current.size, deps.policy.part_size_bytes)
        saved = update_image(
            deps.images,
            current.image_id,
            partial(_attach, upload_id=upload_id, part_size=part_size, stale=stale, deps=deps),
            first=current,
        )
        if saved is not None:
            return saved, multipart_target(saved)
        # Another request attached its upload first (or the bytes arrived): keep theirs.
        deps.multipart.abort(key, upload_id)
        current = deps.images.get(image.image_id)
    raise ConcurrentModification(f"image {image.image_id} kept changing; retry the request")


def _attach(
    record: Image, *, upload_id: str, part_size: int, stale: str | None, deps: UploadDeps
) -> Image | None:
    if record.status is not ImageStatus.PENDING_UPLOAD or record.upload_id != stale:
        return None
    now = deps.clock()
    return replace(
        record,
        upload_id=upload_id,
        part_size=part_size,
        updated_at=now,
        expires_at=now + PENDING_TTL,
    )


def multipart_target(image: Image) -> MultipartTarget:
    if image.upload_id is None or image.part_size is None or image.expires_at is None:
        raise ValueError(f"image {image.image_id} has no multipart upload")
    layout = Layout(size=image.size, part_size=image.part_size)
    return MultipartTarget(
        key=keys.staging_key(image.image_id),
        upload_id=image.upload_id,
        part_size=layout.part_size,
        part_count=layout.part_count,
        # Set when the upload started (the record's expiry then): the same on every resume.
        expires_at=image.expires_at - PENDING_TTL + MULTIPART_OPEN_FOR,
    )


def _image_for(tenant: str, file: FileRequest, deps: UploadDeps) -> tuple[Image, bool]:
    for _ in range(MAX_ATTEMPTS):
        image = deps.images.find_by_hash(tenant, file.sha256)
        if image is not None and not image.visible:
            # Being deleted (its claim is released first, so this window is short): the bytes
            # will get a new image once the claim is gone.
            continue
        if image is None:
            try:
                image, is_new = deps.images.create(_new_image(tenant, file, deps))
            except ConcurrentModification:
                continue  # the owner of the hash was deleted meanwhile: start over
            if is_new:
                return image, True
        if image.status is ImageStatus.FAILED:
            reopened = _reopen(image, deps)
            if reopened is None:
                continue  # reopened by a concurrent request, or gone: look again
            return reopened, False
        return image, False
    raise ConcurrentModification(f"image for sha256 {file.sha256} kept changing; retry the request")


def _new_image(tenant: str, file: FileRequest, deps: UploadDeps) -> Image:
    now = deps.clock()
    return Image(
        image_id=deps.new_id(),
        tenant=tenant,
        sha256=file.sha256,
        filename=file.filename,
        content_type=file.content_type,
        size=file.size,
        status=ImageStatus.PENDING_UPLOAD,
        created_at=now,
        updated_at=now,
        key_date=keys.key_date(now),
        expires_at=now + PENDING_TTL,
    )


def _reopen(image: Image, deps: UploadDeps) -> Image | None:
    """A failed image may be uploaded again: back to pending_upload, the old error cleared."""

    def reopen(current: Image) -> Image | None:
        if current.status is not ImageStatus.FAILED:
            return None
        now = deps.clock()
        return replace(
            current,
            status=ImageStatus.PENDING_UPLOAD,
            error_code=None,
            error_message=None,
            updated_at=now,
            expires_at=now + PENDING_TTL,
        )

    return update_image(deps.images, image.image_id, reopen, first=image)
