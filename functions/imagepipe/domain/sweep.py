"""The sweeper (scheduled): no image stays `processing` for ever. An image whose jobs started
more than the timeout ago gets its missing jobs sent once more; if it is still `processing` a
timeout after that, it ends `failed` with `processing_timeout`. Late jobs then change nothing
(a job only works on a `processing` image)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from imagepipe.domain.errors import ErrorCode
from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.locking import update_image
from imagepipe.domain.model import Image, JobKind
from imagepipe.domain.ports import Clock, EventPublisher, ImageRepository, JobQueue


@dataclass(frozen=True)
class SweepDeps:
    images: ImageRepository
    jobs: JobQueue
    clock: Clock
    events: EventPublisher
    timeout: timedelta


@dataclass
class SweepReport:
    resent: list[str] = field(default_factory=list)  # image ids whose missing jobs were resent
    timed_out: list[str] = field(default_factory=list)  # image ids that ended processing_timeout


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
    return report


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
