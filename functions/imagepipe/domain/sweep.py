"""The sweeper (scheduled): no image stays `processing` for ever. An image whose jobs started
more than the timeout ago gets its missing jobs sent once more; if it is still `processing` a
timeout after that, it ends `failed` with `processing_timeout`. Late jobs then change nothing
(a job only works on a `processing` image).

Nor does an upload wait for ever for its Ingest: Ingest removes each upload it is done with, so
one still under uploads/ a timeout after it was written lost its event (Ingest failed past
Lambda's retries, or S3 never sent it). It is written over itself, so that S3 sends the event
again, up to MAX_RESENDS times; after that its image ends `failed` with `processing_timeout`
and the upload is removed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from imagepipe.domain import keys
from imagepipe.domain.errors import ErrorCode
from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.locking import update_image
from imagepipe.domain.model import Image, ImageStatus, JobKind, Staged
from imagepipe.domain.ports import (
    Clock,
    EventPublisher,
    ImageRepository,
    JobQueue,
    ObjectStorage,
)
from imagepipe.domain.validation import IMAGE_ID_PATTERN

MAX_RESENDS = 2


@dataclass(frozen=True)
class SweepDeps:
    images: ImageRepository
    jobs: JobQueue
    clock: Clock
    events: EventPublisher
    timeout: timedelta
    storage: ObjectStorage


@dataclass
class SweepReport:
    resent: list[str] = field(default_factory=list)  # image ids whose missing jobs were resent
    timed_out: list[str] = field(default_factory=list)  # image ids that ended processing_timeout
    restaged: list[str] = field(default_factory=list)  # uploads whose event was made again


def sweep(deps: SweepDeps) -> SweepReport:
    cutoff = deps.clock() - deps.timeout
    report = SweepReport()
    for image in deps.images.processing_before(cutoff):
        if not _overdue(image, cutoff):
            continue  # the index lags behind the record
        if image.jobs_resent_at is None:
            if _resend(image, cutoff, deps):
                report.resent.append(image.image_id)
        elif _time_out(image, cutoff, deps):
            report.timed_out.append(image.image_id)
    for staged in deps.storage.staged_before(cutoff):
        if staged.resends < MAX_RESENDS:
            if deps.storage.restage(staged):
                report.restaged.append(staged.key)
        elif _give_up_ingest(staged, deps):
            report.timed_out.append(staged.key.removeprefix(keys.STAGING_PREFIX))
    return report


def _give_up_ingest(staged: Staged, deps: SweepDeps) -> bool:
    """The upload's event was sent again and again, and Ingest never finished with it."""
    image_id = staged.key.removeprefix(keys.STAGING_PREFIX)
    failed = None
    if IMAGE_ID_PATTERN.fullmatch(image_id):
        tries = 1 + staged.resends
        message = f"uploaded, but not ingested after {tries} deliveries of its upload event"

        def fail(current: Image) -> Image | None:
            if current.status is not ImageStatus.PENDING_UPLOAD:
                return None  # ingested meanwhile (or failed): its own Ingest removes the upload
            return current.failed(ErrorCode.PROCESSING_TIMEOUT, message, deps.clock())

        failed = update_image(deps.images, image_id, fail)
        if failed is not None:
            deps.events.publish(ImageEvent.of(EventType.FAILED, failed, deps.clock()))
    deps.storage.delete([staged.key], [])
    return failed is not None


def _overdue(image: Image, cutoff: datetime) -> bool:
    since = image.processing_since
    return since is not None and since <= cutoff


def missing_jobs(image: Image) -> list[JobKind]:
    missing = []
    if not image.variants_done:
        missing.append(JobKind.VARIANTS)
    if not image.metadata_done:
        missing.append(JobKind.METADATA)
    return missing


def _resend(image: Image, cutoff: datetime, deps: SweepDeps) -> bool:
    """Jobs first, then the mark: a crash in between sends them again at the next sweep (a
    duplicate job changes nothing), where the other order could time the image out unsent."""
    for kind in missing_jobs(image):
        deps.jobs.send(kind, image.image_id, image.key_date)
    now = deps.clock()

    def mark(current: Image) -> Image | None:
        if not _overdue(current, cutoff) or current.jobs_resent_at is not None:
            return None
        return replace(current, jobs_resent_at=now, jobs_sent_at=current.jobs_sent_at or now)

    return update_image(deps.images, image.image_id, mark, first=image) is not None


def _time_out(image: Image, cutoff: datetime, deps: SweepDeps) -> bool:
    timeout = int(deps.timeout.total_seconds())
    message = f"still processing {timeout} s after its jobs were sent again"

    def fail(current: Image) -> Image | None:
        if not _overdue(current, cutoff) or current.jobs_resent_at is None:
            return None
        return current.failed(ErrorCode.PROCESSING_TIMEOUT, message, deps.clock())

    saved = update_image(deps.images, image.image_id, fail, first=image)
    if saved is None:
        return False
    deps.events.publish(ImageEvent.of(EventType.FAILED, saved, deps.clock()))
    return True
