"""Ingest (S3 ObjectCreated on uploads/): verify the uploaded bytes, store the original under its
dated key with a thumbnail, record `processing` and send the two jobs, or record `failed`.

Safe against at-least-once, out-of-order delivery: keys are fixed by the record (a retry writes
the same keys), the record only moves forward under its version, and a step that finds the
image deleted (or being deleted) removes what it wrote."""

from __future__ import annotations

from dataclasses import dataclass, replace

from imagepipe.domain import keys
from imagepipe.domain.errors import ConcurrentModification, ErrorCode, InvalidImage
from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.locking import update_image
from imagepipe.domain.model import Image, ImageStatus, JobKind, Outcome, Thumbnail
from imagepipe.domain.ports import (
    Clock,
    EventPublisher,
    ImageCodec,
    ImageRepository,
    JobQueue,
    ObjectStorage,
)
from imagepipe.domain.spool import spooled
from imagepipe.domain.validation import IMAGE_ID_PATTERN


@dataclass(frozen=True)
class IngestDeps:
    images: ImageRepository
    storage: ObjectStorage
    jobs: JobQueue
    codec: ImageCodec
    clock: Clock
    events: EventPublisher


def image_id_of_staging_key(key: str) -> str | None:
    if not key.startswith(keys.STAGING_PREFIX):
        return None
    image_id = key.removeprefix(keys.STAGING_PREFIX)
    # Only presigned uploads are of this form; anything else under uploads/ is left to the
    # prefix's 1-day expiry rule.
    return image_id if IMAGE_ID_PATTERN.fullmatch(image_id) else None


def ingest(image_id: str, deps: IngestDeps) -> Outcome:
    staging = keys.staging_key(image_id)
    image = deps.images.get(image_id)
    if image is None or not image.visible:
        # Deleted (or never presigned): the bytes have no owner.
        deps.storage.delete([staging], [])
        return Outcome.ORPHAN
    if image.status is ImageStatus.PROCESSING and image.jobs_sent_at is None:
        # A previous attempt crashed between recording `processing` and sending the jobs (and
        # maybe before announcing it: announced again, consumers dedupe).
        _announce(EventType.PROCESSING, image, deps)
        _send_jobs(image, deps)
        deps.storage.delete([staging], [])
        return Outcome.PROCESSING
    if image.status is not ImageStatus.PENDING_UPLOAD:
        # Already ingested: a duplicate event, or a second upload of the same bytes.
        deps.storage.delete([staging], [])
        return Outcome.SKIPPED
    size = deps.storage.size(staging)
    if size is None:
        return Outcome.SKIPPED  # another delivery of this event got there first
    if size != image.size:
        # Real S3 enforces the policy's content-length-range; an emulator does not. Checked
        # from the object's metadata, before a byte of an oversized body is read.
        return _fail(
            image,
            ErrorCode.SIZE_MISMATCH,
            f"the upload has {size} bytes, {image.size} were declared",
            deps,
        )
    # Hashed while it is copied to a local file, then decoded from that file: the memory taken
    # does not grow with the upload's size.
    with spooled(deps.storage, staging) as upload:
        if upload is None:
            return Outcome.SKIPPED
        if upload.size != image.size:
            # Written over between the HEAD and the GET: judged by the bytes actually read.
            return _fail(
                image,
                ErrorCode.SIZE_MISMATCH,
                f"the upload has {upload.size} bytes, {image.size} were declared",
                deps,
            )
        if upload.sha256 != image.sha256:
            return _fail(
                image,
                ErrorCode.CHECKSUM_MISMATCH,
                "the bytes do not match the declared sha256",
                deps,
            )
        try:
            inspection, thumb = deps.codec.prepare(upload.file)
        except InvalidImage as error:
            return _fail(image, error.code, error.message, deps)

    thumb_key = keys.thumbnail_key(image.key_date, image_id)
    original_key = keys.original_key(image.key_date, image_id, inspection.ext)
    deps.storage.put(
        thumb_key, thumb.data, content_type=thumb.content_type, cache_control=keys.IMMUTABLE
    )
    copied = deps.storage.copy(
        staging, original_key, content_type=inspection.content_type, cache_control=keys.IMMUTABLE
    )
    if not copied:
        # Another delivery moved the upload first and may already have recorded this very
        # thumbnail key: leave it (the delete sweep covers the key if nothing records it).
        return Outcome.SKIPPED
    now = deps.clock()
    processing = replace(
        image,
        status=ImageStatus.PROCESSING,
        width=inspection.width,
        height=inspection.height,
        format=inspection.format,
        original_key=original_key,
        thumbnail=Thumbnail(key=thumb_key, width=thumb.width, height=thumb.height, data=thumb.data),
        uploaded_at=now,
        updated_at=now,
        expires_at=None,  # ingested: kept until deleted
        metadata={**image.metadata, "frames": inspection.frames},
        # A failed image sent again starts its jobs afresh: the sweeper's clock too.
        jobs_sent_at=None,
        jobs_resent_at=None,
        upload_id=None,  # a multipart upload ends with its object: nothing is open any more
        part_size=None,
    )
    try:
        saved = deps.images.save(processing)
    except ConcurrentModification:
        current = deps.images.get(image_id)
        if current is None or not current.visible:
            deps.storage.delete([thumb_key, original_key, staging], [])
            return Outcome.ORPHAN
        return Outcome.SKIPPED  # a concurrent delivery recorded it (same keys, same bytes)
    _announce(EventType.PROCESSING, saved, deps)
    _send_jobs(saved, deps)
    deps.storage.delete([staging], [])
    return Outcome.PROCESSING


def _send_jobs(image: Image, deps: IngestDeps) -> None:
    deps.jobs.send(JobKind.VARIANTS, image.image_id, image.key_date)
    deps.jobs.send(JobKind.METADATA, image.image_id, image.key_date)

    def mark(current: Image) -> Image | None:
        if current.jobs_sent_at is not None:
            return None
        return replace(current, jobs_sent_at=deps.clock())

    update_image(deps.images, image.image_id, mark)


def _fail(image: Image, code: ErrorCode, message: str, deps: IngestDeps) -> Outcome:
    def failed(current: Image) -> Image | None:
        if current.status is not ImageStatus.PENDING_UPLOAD:
            return None
        return current.failed(code, message, deps.clock())

    saved = update_image(deps.images, image.image_id, failed, first=image)
    if saved is not None:
        _announce(EventType.FAILED, saved, deps)
    # Nothing of a bad file is kept.
    deps.storage.delete([keys.staging_key(image.image_id)], [])
    return Outcome.FAILED


def _announce(type_: EventType, image: Image, deps: IngestDeps) -> None:
    deps.events.publish(ImageEvent.of(type_, image, deps.clock()))
