"""The two processing jobs (SQS) and their completion join: the variants job renders the
responsive variants, the metadata job analyses the original; whichever records its part second
completes the image.

A job for an image that is gone or no longer `processing` changes nothing, and a job that finds
the image deleted while it ran removes what it wrote."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from imagepipe.domain import keys
from imagepipe.domain.errors import InvalidImage
from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.locking import Change, update_image
from imagepipe.domain.model import Enrichment, Image, ImageStatus, Outcome, Rendered, Variant
from imagepipe.domain.ports import (
    Clock,
    Embedder,
    EventPublisher,
    ImageCodec,
    ImageRepository,
    Labeler,
    ObjectStorage,
    SessionLinkRepository,
    VectorIndex,
)
from imagepipe.domain.search import searchable_text
from imagepipe.domain.similarity import is_phash
from imagepipe.domain.spool import spooled


@dataclass(frozen=True)
class JobDeps:
    images: ImageRepository
    storage: ObjectStorage
    codec: ImageCodec
    clock: Clock
    events: EventPublisher
    # The metadata job's: tags and description, and search (the image's vector, put in the
    # index with the tenant and sessions it is linked to). None: no labels / not indexed.
    labeler: Labeler | None = None
    embedder: Embedder | None = None
    vectors: VectorIndex | None = None
    links: SessionLinkRepository | None = None


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
        # Deleted: an earlier attempt may have indexed the hash and the vector before it died.
        deps.images.unindex_phash(image_id)
        if deps.vectors is not None:
            deps.vectors.delete([image_id])

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
        file = original.file
        preview = _once(lambda: deps.codec.preview(file))
        metadata |= _findable(image, metadata, preview, deps)
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
        orphaned()
    return outcome


def run_reindex_job(image_id: str, *, deps: JobDeps, key_date: str | None = None) -> Outcome:
    """A completed image's tags, description, searchable text and vector made again from its
    original and the analysis on its record: what a provider could not give the first time
    (`searchMissing`), or another provider's after a change of `LabelsProvider` or
    `EmbeddingProvider`. Anything but a completed image is left alone."""

    def orphaned() -> None:
        if deps.vectors is not None:
            deps.vectors.delete([image_id])

    image = deps.images.get(image_id)
    if image is None or not image.visible:
        orphaned()
        return Outcome.ORPHAN
    if image.status is not ImageStatus.COMPLETED:
        return Outcome.SKIPPED
    with spooled(deps.storage, image.original_key or "") as original:
        if original is None:
            return _original_gone(image_id, deps)
        file = original.file
        preview = _once(lambda: deps.codec.preview(file))
        found = _findable(image, dict(image.metadata), preview, deps)

    def record(current: Image) -> Image | None:
        if current.status is not ImageStatus.COMPLETED:
            return None
        kept = {k: v for k, v in current.metadata.items() if k not in _FINDABLE}
        return replace(current, metadata={**kept, **found}, updated_at=deps.clock())

    if update_image(deps.images, image_id, record) is not None:
        return Outcome.DONE
    current = deps.images.get(image_id)
    if current is None or not current.visible:
        orphaned()  # deleted while it ran: the vector it put goes too
        return Outcome.ORPHAN
    return Outcome.SKIPPED


# What _findable writes on a record (a reindex replaces them all).
_FINDABLE = frozenset({"tags", "labels", "description", "searchableText", "searchMissing"})


def _findable(
    image: Image, metadata: dict[str, Any], preview: Callable[[], bytes], deps: JobDeps
) -> dict[str, Any]:
    """Tags, description and searchable text for the record, and the image's vector put in
    the search index. Best effort: what a provider could not give is listed under
    `searchMissing`, and the image completes anyway."""
    found = Enrichment()
    if deps.labeler is not None:
        found = deps.labeler.enrich(preview, filename=image.filename, metadata=metadata)
    added: dict[str, Any] = {"tags": list(found.tags)}
    if found.labels:
        added["labels"] = list(found.labels)
    if found.description:
        added["description"] = found.description
    text = searchable_text(
        filename=image.filename,
        tags=found.tags,
        description=found.description,
        metadata=metadata,
    )
    added["searchableText"] = text
    missing = list(found.missing)
    if deps.embedder is not None and deps.vectors is not None:
        vector = deps.embedder.image(preview, text)
        if vector is None:
            missing.append("embedding")
        else:
            links = deps.links.sessions_of(image.image_id) if deps.links is not None else []
            sessions = [session for tenant, session in links if tenant == image.tenant]
            deps.vectors.put(image.image_id, vector, tenant=image.tenant, sessions=sessions)
    if missing:
        added["searchMissing"] = missing
    return added


def _once(make: Callable[[], bytes]) -> Callable[[], bytes]:
    """`make`, called at most once (the labeler and the embedder may both want the preview)."""
    made: list[bytes] = []

    def get() -> bytes:
        if not made:
            made.append(make())
        return made[0]

    return get


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
