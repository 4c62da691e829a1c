"""The processing pipeline: Ingest (S3 ObjectCreated on uploads/), the variants job and the
metadata job (SQS), and the completion join.

Every step is idempotent and safe against at-least-once, out-of-order delivery: object keys are
fixed by the record (same keys on a retry), the record only moves forward under its version,
and a writer that finds the image deleted (or being deleted) removes what it wrote."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from imagepipe.domain import keys
from imagepipe.domain.errors import ConcurrentModification, InvalidImage
from imagepipe.domain.model import (
    IMAGE_ID_PATTERN,
    Image,
    ImageStatus,
    JobKind,
    Rendered,
    Thumbnail,
    Variant,
)
from imagepipe.domain.ports import (
    Clock,
    ImageCodec,
    ImageRepository,
    JobQueue,
    Labeler,
    ObjectStorage,
)
from imagepipe.domain.similarity import is_phash

# Outputs never change under their key (a new upload gets a new id): cache them for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
MAX_ATTEMPTS = 8


class Outcome(StrEnum):
    PROCESSING = "processing"  # ingested, jobs sent
    FAILED = "failed"  # bad file: recorded with its error code, staging object removed
    COMPLETED = "completed"  # this job completed the image
    DONE = "done"  # this job's part is recorded; the other job is still running
    SKIPPED = "skipped"  # duplicate or late delivery: nothing to do
    ORPHAN = "orphan"  # no (live) record: whatever this step wrote was removed


@dataclass(frozen=True)
class ProcessingDeps:
    images: ImageRepository
    storage: ObjectStorage
    jobs: JobQueue
    codec: ImageCodec
    clock: Clock
    labeler: Labeler | None = None


def image_id_of_staging_key(key: str) -> str | None:
    if not key.startswith(keys.STAGING_PREFIX):
        return None
    image_id = key.removeprefix(keys.STAGING_PREFIX)
    # Only presigned uploads are of this form; anything else under uploads/ is left to the
    # prefix's 1-day expiry rule.
    return image_id if IMAGE_ID_PATTERN.fullmatch(image_id) else None


def ingest(image_id: str, deps: ProcessingDeps) -> Outcome:
    staging = keys.staging_key(image_id)
    image = deps.images.get(image_id)
    if image is None or not image.visible:
        # Deleted (or never presigned): the bytes have no owner.
        deps.storage.delete([staging], [])
        return Outcome.ORPHAN
    if image.status is ImageStatus.PROCESSING and image.jobs_sent_at is None:
        # A previous attempt crashed between recording `processing` and sending the jobs.
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
            "size_mismatch",
            f"the upload has {size} bytes, {image.size} were declared",
            deps,
        )
    data = deps.storage.read(staging)
    if data is None:
        return Outcome.SKIPPED
    if hashlib.sha256(data).hexdigest() != image.sha256:
        return _fail(image, "checksum_mismatch", "the bytes do not match the declared sha256", deps)
    try:
        inspection, thumb = deps.codec.prepare(data)
    except InvalidImage as error:
        return _fail(image, error.code, error.message, deps)

    thumb_key = keys.thumbnail_key(image.key_date, image_id)
    original_key = keys.original_key(image.key_date, image_id, inspection.ext)
    deps.storage.put(
        thumb_key, thumb.data, content_type=thumb.content_type, cache_control=IMMUTABLE
    )
    copied = deps.storage.copy(
        staging, original_key, content_type=inspection.content_type, cache_control=IMMUTABLE
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
    )
    try:
        saved = deps.images.save(processing)
    except ConcurrentModification:
        current = deps.images.get(image_id)
        if current is None or not current.visible:
            deps.storage.delete([thumb_key, original_key, staging], [])
            return Outcome.ORPHAN
        return Outcome.SKIPPED  # a concurrent delivery recorded it (same keys, same bytes)
    _send_jobs(saved, deps)
    deps.storage.delete([staging], [])
    return Outcome.PROCESSING


def _send_jobs(image: Image, deps: ProcessingDeps) -> None:
    deps.jobs.send(JobKind.VARIANTS, image.image_id, image.key_date)
    deps.jobs.send(JobKind.METADATA, image.image_id, image.key_date)

    def mark(current: Image) -> Image | None:
        if current.jobs_sent_at is not None:
            return None
        return replace(current, jobs_sent_at=deps.clock())

    _update(image.image_id, deps.images, mark)


def _fail(image: Image, code: str, message: str, deps: ProcessingDeps) -> Outcome:
    def failed(current: Image) -> Image | None:
        if current.status is not ImageStatus.PENDING_UPLOAD:
            return None
        return replace(
            current,
            status=ImageStatus.FAILED,
            error_code=code,
            error_message=message,
            updated_at=deps.clock(),
        )

    _update(image.image_id, deps.images, failed, first=image)
    # Nothing of a bad file is kept.
    deps.storage.delete([keys.staging_key(image.image_id)], [])
    return Outcome.FAILED


def _update(
    image_id: str,
    images: ImageRepository,
    change: Callable[[Image], Image | None],
    *,
    first: Image | None = None,
) -> Image | None:
    """Apply `change` under optimistic locking, re-reading on conflict. `change` returns None
    when there is nothing (left) to do. Returns the saved image, or None."""
    current = first
    for _ in range(MAX_ATTEMPTS):
        if current is None:
            current = images.get(image_id)
        if current is None or not current.visible:
            return None
        changed = change(current)
        if changed is None:
            return None
        try:
            return images.save(changed)
        except ConcurrentModification:
            current = None
    raise ConcurrentModification(f"image {image_id} kept changing")


def _start_job(
    image_id: str,
    deps: ProcessingDeps,
    *,
    done: Callable[[Image], bool],
    orphaned: Callable[[], None],
) -> tuple[Image, bytes] | Outcome:
    """The image and its original's bytes, or the outcome of a job with nothing to do."""
    image = deps.images.get(image_id)
    if image is None or not image.visible:
        orphaned()
        return Outcome.ORPHAN
    if done(image) or image.status is not ImageStatus.PROCESSING:
        return Outcome.SKIPPED
    data = deps.storage.read(image.original_key or "")
    if data is None:
        return Outcome.ORPHAN if deps.images.get(image_id) is None else Outcome.SKIPPED
    return image, data


def run_variants_job(
    image_id: str, *, deps: ProcessingDeps, key_date: str | None = None
) -> Outcome:
    def orphaned() -> None:
        # Deleted: an earlier attempt of this job may have written outputs before it died.
        if key_date is not None:
            deps.storage.delete([], [keys.variants_prefix(key_date, image_id)])

    started = _start_job(image_id, deps, done=lambda i: i.variants_done, orphaned=orphaned)
    if isinstance(started, Outcome):
        return started
    image, data = started
    try:
        rendered = deps.codec.variants(data)
    except InvalidImage as error:
        return _fail_processing(image_id, error, deps)
    written = []
    for output in rendered:
        key = keys.variant_key(image.key_date, image_id, output.name, output.format)
        deps.storage.put(
            key, output.data, content_type=output.content_type, cache_control=IMMUTABLE
        )
        written.append(_variant(output, key))

    def record(current: Image) -> Image | None:
        if current.variants_done:
            return None
        return _complete_if_ready(replace(current, variants=written, variants_done=True), deps)

    return _finish(image_id, record, [v.key for v in written], deps)


def run_metadata_job(
    image_id: str, *, deps: ProcessingDeps, key_date: str | None = None
) -> Outcome:
    def orphaned() -> None:
        # Deleted: an earlier attempt may have indexed the hash before it died.
        deps.images.unindex_phash(image_id)

    started = _start_job(image_id, deps, done=lambda i: i.metadata_done, orphaned=orphaned)
    if isinstance(started, Outcome):
        return started
    image, data = started
    try:
        metadata = deps.codec.analyze(data)
    except InvalidImage as error:
        return _fail_processing(image_id, error, deps)
    if deps.labeler is not None:
        metadata["labels"] = deps.labeler.labels(lambda: deps.codec.preview(data))
    phash = metadata.get("phash")
    if is_phash(phash):
        # Indexed before the record is saved: if the save finds the image deleted, the index
        # entries are taken back below like any other output of this job.
        deps.images.index_phash(image, str(phash))

    def record(current: Image) -> Image | None:
        if current.metadata_done:
            return None
        merged = {**current.metadata, **metadata}
        changed = replace(
            current,
            metadata=merged,
            metadata_done=True,
            phash=str(phash) if is_phash(phash) else None,
        )
        return _complete_if_ready(changed, deps)

    outcome = _finish(image_id, record, [], deps)
    if outcome is Outcome.ORPHAN:
        deps.images.unindex_phash(image_id)
    return outcome


def _fail_processing(image_id: str, error: InvalidImage, deps: ProcessingDeps) -> Outcome:
    """Bytes that passed Ingest but not a worker (e.g. a decoder limit only the full decode
    meets): the image ends `failed` instead of staying `processing` after the retries."""

    def failed(current: Image) -> Image | None:
        if current.status is not ImageStatus.PROCESSING:
            return None
        return replace(
            current,
            status=ImageStatus.FAILED,
            error_code=error.code,
            error_message=error.message,
            updated_at=deps.clock(),
        )

    _update(image_id, deps.images, failed)
    return Outcome.FAILED


def _complete_if_ready(image: Image, deps: ProcessingDeps) -> Image:
    """The join: whichever job records its part second sees both flags under the record's
    version and completes the image; the version makes `completed` happen exactly once."""
    if image.variants_done and image.metadata_done:
        now = deps.clock()
        return replace(image, status=ImageStatus.COMPLETED, processed_at=now, updated_at=now)
    return replace(image, updated_at=deps.clock())


def _finish(
    image_id: str,
    change: Callable[[Image], Image | None],
    written: list[str],
    deps: ProcessingDeps,
) -> Outcome:
    saved = _update(image_id, deps.images, change)
    if saved is None:
        current = deps.images.get(image_id)
        if current is None or not current.visible:
            # Deleted while the job ran: take back what this job wrote.
            deps.storage.delete(written, [])
            return Outcome.ORPHAN
        return Outcome.SKIPPED
    return Outcome.COMPLETED if saved.status is ImageStatus.COMPLETED else Outcome.DONE


def _variant(output: Rendered, key: str) -> Variant:
    return Variant(
        name=output.name,
        format=output.format,
        width=output.width,
        height=output.height,
        size=len(output.data),
        key=key,
    )
