"""POST /uploads: deduplicate by (tenant, sha256), link to the session, hand out upload targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from imagepipe.domain import keys
from imagepipe.domain.errors import ConcurrentModification
from imagepipe.domain.locking import MAX_ATTEMPTS, update_image
from imagepipe.domain.model import (
    FileRequest,
    Image,
    ImageStatus,
    SessionLink,
    UploadResult,
)
from imagepipe.domain.ports import (
    Clock,
    IdGenerator,
    ImageRepository,
    ObjectStorage,
    SessionLinkRepository,
)
from imagepipe.domain.validation import validate_files, validate_session_id

# An abandoned upload request is forgotten after this long: past the staging objects' 1-day
# expiry, so a late upload never outlives its record.
PENDING_TTL = timedelta(days=2)


@dataclass(frozen=True)
class UploadPolicy:
    max_upload_bytes: int
    expiry_seconds: int


@dataclass(frozen=True)
class UploadDeps:
    images: ImageRepository
    links: SessionLinkRepository
    storage: ObjectStorage
    clock: Clock
    new_id: IdGenerator
    policy: UploadPolicy


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
    upload = None
    if image.status.accepts_upload:
        upload = deps.storage.presign_upload(
            key=keys.staging_key(image.image_id),
            content_type=file.content_type,
            sha256=file.sha256,
            max_bytes=deps.policy.max_upload_bytes,
            expires_in=deps.policy.expiry_seconds,
        )
    return UploadResult(image=image, is_new=is_new, upload=upload)


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
