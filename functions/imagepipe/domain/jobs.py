"""The two processing jobs (SQS) and their completion join: the variants job renders the
responsive variants, the metadata job analyses the original; whichever records its part second
completes the image.

A job for an image that is gone or no longer `processing` changes nothing, and a job that finds
the image deleted while it ran removes what it wrote."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from imagepipe.domain import keys
from imagepipe.domain.errors import InvalidImage
from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.locking import Change, update_image
from imagepipe.domain.model import Image, ImageStatus, Outcome, Rendered, Variant
from imagepipe.domain.ports import (
    Clock,
    EventPublisher,
    ImageCodec,
    ImageRepository,
    Labeler,
    ObjectStorage,
)
from imagepipe.domain.similarity import is_phash
from imagepipe.domain.spool import spooled


@dataclass(frozen=True)
class JobDeps:
    images: ImageRepository
    storage: ObjectStorage
    codec: ImageCodec
    clock: Clock
    events: EventPublisher
    labeler: Labeler | None = None  # the metadata job's; None: no labels


def run_variants_job(image_id: str, *, deps: JobDeps, key_date: str | None = None) -> Outcome:
    def orphaned() -> None:
        # Deleted: an earlier attempt of this job may have written outputs before it died.
        if key_date is not None:
            deps.storage.delete([], [keys.variants_prefix(key_date, image_id)])

    started = _start(image_id, deps, done=lambda i: i.variants_done, orphaned=orphaned)
    if isinstance(started, Outcome):
        return started
    image = started
    with spooled(deps.storage, image.original_key or "") as original:
        if original is None:
            return _original_gone(image_id, deps)
        try:
            rendered = deps.codec.variants(original.file)
        except InvalidImage as error:
            return _fail(image_id, error, deps)
    written = []
    for output in rendered:
        key = keys.variant_key(image.key_date, image_id, output.name, output.format)
        deps.storage.put(
            key, output.data, content_type=output.content_type, cache_control=keys.IMMUTABLE
        )
        written.append(_variant(output, key))

    def record(current: Image) -> Image | None:
        if current.variants_done or current.status is not ImageStatus.PROCESSING:
            return None
        return _complete_if_ready(replace(current, variants=written, variants_done=True), deps)

    return _finish(image_id, record, [v.key for v in written], deps)


def run_metadata_job(image_id: str, *, deps: JobDeps, key_date: str | None = None) -> Outcome:
    def orphaned() -> None:
        # Deleted: an earlier attempt may have indexed the hash before it died.
        deps.images.unindex_phash(image_id)

    started = _start(image_id, deps, done=lambda i: i.metadata_done, orphaned=orphaned)
    if isinstance(started, Outcome):
        return started
    image = started
    with spooled(deps.storage, image.original_key or "") as original:
        if original is None:
            return _original_gone(image_id, deps)
        try:
            metadata = deps.codec.analyze(original.file)
        except InvalidImage as error:
            return _fail(image_id, error, deps)
        if deps.labeler is not None:
            file = original.file
            metadata["labels"] = deps.labeler.labels(lambda: deps.codec.preview(file))
    phash = metadata.get("phash")
    if is_phash(phash):
        # Indexed before the record is saved: if the save finds the image deleted, the index
        # entries are taken back below like any other output of this job.
        deps.images.index_phash(image, str(phash))

    def record(current: Image) -> Image | None:
        if current.metadata_done or current.status is not ImageStatus.PROCESSING:
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


def _start(
    image_id: str,
    deps: JobDeps,
    *,
    done: Callable[[Image], bool],
    orphaned: Callable[[], None],
) -> Image | Outcome:
    """The image to work on, or the outcome of a job with nothing to do."""
    image = deps.images.get(image_id)
    if image is None or not image.visible:
        orphaned()
        return Outcome.ORPHAN
    if done(image) or image.status is not ImageStatus.PROCESSING:
        return Outcome.SKIPPED
    return image


def _original_gone(image_id: str, deps: JobDeps) -> Outcome:
    """The original was not there (any more): deleted meanwhile, or done by another job."""
    return Outcome.ORPHAN if deps.images.get(image_id) is None else Outcome.SKIPPED


def _fail(image_id: str, error: InvalidImage, deps: JobDeps) -> Outcome:
    """Bytes that passed Ingest but not a worker (e.g. a decoder limit only the full decode
    meets): the image ends `failed` instead of staying `processing` after the retries."""

    def failed(current: Image) -> Image | None:
        if current.status is not ImageStatus.PROCESSING:
            return None
        return current.failed(error.code, error.message, deps.clock())

    saved = update_image(deps.images, image_id, failed)
    if saved is not None:
        deps.events.publish(ImageEvent.of(EventType.FAILED, saved, deps.clock()))
    return Outcome.FAILED


def _complete_if_ready(image: Image, deps: JobDeps) -> Image:
    """The join: whichever job records its part second sees both flags under the record's
    version and completes the image; the version makes `completed` happen exactly once."""
    if image.variants_done and image.metadata_done:
        now = deps.clock()
        return replace(image, status=ImageStatus.COMPLETED, processed_at=now, updated_at=now)
    return replace(image, updated_at=deps.clock())


def _finish(image_id: str, change: Change, written: list[str], deps: JobDeps) -> Outcome:
    saved = update_image(deps.images, image_id, change)
    if saved is None:
        current = deps.images.get(image_id)
        if current is None or not current.visible:
            # Deleted while the job ran: take back what this job wrote.
            deps.storage.delete(written, [])
            return Outcome.ORPHAN
        # Done by a duplicate of this job (its outputs are recorded under the same keys), or
        # the image ended meanwhile (e.g. timed out): what no record lists is taken back.
        recorded = {variant.key for variant in current.variants}
        deps.storage.delete([key for key in written if key not in recorded], [])
        return Outcome.SKIPPED
    if saved.status is not ImageStatus.COMPLETED:
        return Outcome.DONE
    # This job's write completed the image (the version let exactly one writer do it).
    deps.events.publish(ImageEvent.of(EventType.COMPLETED, saved, deps.clock()))
    return Outcome.COMPLETED


def _variant(output: Rendered, key: str) -> Variant:
    return Variant(
        name=output.name,
        format=output.format,
        width=output.width,
        height=output.height,
        size=len(output.data),
        key=key,
    )
