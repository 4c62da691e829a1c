"""The sweeper with in-memory fakes: stuck images get their missing jobs once, then time out;
images still within their timeout, or no longer processing, are left alone. Uploads whose
Ingest never finished get their event again, then their image times out."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from datetime import timedelta

from PIL import Image as PILImage

from imagepipe.adapters.codec import PillowCodec
from imagepipe.domain import keys
from imagepipe.domain.events import EventType
from imagepipe.domain.ingest import IngestDeps, ingest
from imagepipe.domain.jobs import JobDeps, run_variants_job
from imagepipe.domain.model import Image, ImageStatus, JobKind, Outcome
from imagepipe.domain.sweep import SweepDeps, sweep
from tests.contract.samples import an_image
from tests.unit.fakes import (
    FixedClock,
    InMemoryEvents,
    InMemoryImageRepository,
    InMemoryJobQueue,
    InMemoryStorage,
    SentJob,
)

TIMEOUT = timedelta(minutes=15)


def a_processing_image(
    images: InMemoryImageRepository, clock: FixedClock, **changes: object
) -> Image:
    """img-1, recorded `processing` by Ingest at the clock's time, its two jobs sent."""
    now = clock()
    created, _ = images.create(replace(an_image("img-1"), created_at=now, updated_at=now))
    return images.save(
        replace(
            created,
            status=ImageStatus.PROCESSING,
            uploaded_at=now,
            jobs_sent_at=now,
            original_key="images/2026/03/05/original/img-1.jpg",
            **changes,  # type: ignore[arg-type]
        )
    )


def deps_for(
    images: InMemoryImageRepository,
    jobs: InMemoryJobQueue,
    clock: FixedClock,
    events: InMemoryEvents | None = None,
    storage: InMemoryStorage | None = None,
) -> SweepDeps:
    return SweepDeps(
        images=images,
        jobs=jobs,
        clock=clock,
        events=events or InMemoryEvents(),
        timeout=TIMEOUT,
        storage=storage or InMemoryStorage(clock),
    )


def test_an_image_within_its_timeout_is_left_alone() -> None:
    # Given an image processing for 14 minutes of a 15-minute timeout
    images, jobs, clock = InMemoryImageRepository(), InMemoryJobQueue(), FixedClock()
    a_processing_image(images, clock)
    clock.advance(14 * 60)

    # When the sweeper runs
    report = sweep(deps_for(images, jobs, clock))

    # Then nothing is sent and nothing changes
    assert (report.resent, report.timed_out, jobs.all()) == ([], [], [])


def test_a_stuck_image_gets_only_its_missing_jobs_once_then_times_out() -> None:
    # Given an image whose metadata job finished but whose variants job never did
    images, jobs, clock = InMemoryImageRepository(), InMemoryJobQueue(), FixedClock()
    a_processing_image(images, clock, metadata_done=True)
    clock.advance(15 * 60)
    events = InMemoryEvents()
    deps = deps_for(images, jobs, clock, events)

    # When the sweeper runs at the timeout, again a minute later, and once more a timeout later
    first = sweep(deps)
    clock.advance(60)
    second = sweep(deps)
    clock.advance(15 * 60)
    third = sweep(deps)

    # Then the variants job alone was sent again, once, and then the image timed out
    assert first.resent == ["img-1"]
    assert jobs.all() == [SentJob(JobKind.VARIANTS, "img-1", "2026/03/05")]
    assert (second.resent, second.timed_out) == ([], [])
    assert third.timed_out == ["img-1"]
    image = images.get("img-1")
    assert image is not None
    assert (image.status, image.error_code) == (ImageStatus.FAILED, "processing_timeout")
    assert image.error_message
    # And its owner heard of it once, with the reason
    (failed,) = events.all()
    assert (failed.type, failed.status, failed.error_code) == (
        EventType.FAILED,
        "failed",
        "processing_timeout",
    )
    # And a failed image leaves the sweeper's index
    clock.advance(60 * 60)
    assert images.processing_before(clock()) == []


def test_an_image_that_completes_after_the_resend_is_not_timed_out() -> None:
    # Given a stuck image whose jobs were sent again
    images, jobs, clock = InMemoryImageRepository(), InMemoryJobQueue(), FixedClock()
    a_processing_image(images, clock)
    clock.advance(15 * 60)
    sweep(deps_for(images, jobs, clock))
    assert {job.kind for job in jobs.all()} == {JobKind.VARIANTS, JobKind.METADATA}

    # When it completes before the next timeout and the sweeper runs after it
    current = images.get("img-1")
    assert current is not None
    images.save(replace(current, status=ImageStatus.COMPLETED))
    clock.advance(16 * 60)
    report = sweep(deps_for(images, jobs, clock))

    # Then it stays completed
    assert report.timed_out == []
    done = images.get("img-1")
    assert done is not None
    assert done.status is ImageStatus.COMPLETED


def test_a_job_arriving_after_the_timeout_changes_nothing_and_keeps_nothing() -> None:
    # Given an image that timed out
    images, jobs, clock = InMemoryImageRepository(), InMemoryJobQueue(), FixedClock()
    a_processing_image(images, clock)
    clock.advance(15 * 60)
    sweep(deps_for(images, jobs, clock))
    clock.advance(15 * 60)
    sweep(deps_for(images, jobs, clock))
    timed_out = images.get("img-1")
    assert timed_out is not None

    # When its variants job finally arrives
    storage = InMemoryStorage(clock)
    storage.put(timed_out.original_key or "", b"jpeg bytes")
    events = InMemoryEvents()
    job_deps = JobDeps(
        images=images, storage=storage, codec=PillowCodec(), clock=clock, events=events
    )
    outcome = run_variants_job("img-1", deps=job_deps, key_date="2026/03/05")

    # Then it is skipped, the image is unchanged, and no output was written
    assert outcome is Outcome.SKIPPED
    assert images.get("img-1") == timed_out
    assert set(storage.objects) == {timed_out.original_key}
    assert events.all() == []


def test_a_timed_out_image_sent_again_gets_a_fresh_timeout() -> None:
    # Given an image that ended processing_timeout
    images, jobs, clock = InMemoryImageRepository(), InMemoryJobQueue(), FixedClock()
    a_processing_image(images, clock)
    for _ in range(2):
        clock.advance(15 * 60)
        sweep(deps_for(images, jobs, clock))
    timed_out = images.get("img-1")
    assert timed_out is not None
    assert timed_out.error_code == "processing_timeout"

    # When the same bytes are uploaded again and ingested (reopened, then processing)
    buffer = io.BytesIO()
    PILImage.effect_noise((64, 48), 40).convert("RGB").save(buffer, "JPEG")
    data = buffer.getvalue()
    storage = InMemoryStorage(clock)
    storage.put(keys.staging_key("img-1"), data)
    reopened = images.save(
        replace(
            timed_out,
            status=ImageStatus.PENDING_UPLOAD,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            error_code=None,
            error_message=None,
        )
    )
    clock.advance(60)
    ingest_deps = IngestDeps(
        images=images,
        storage=storage,
        jobs=jobs,
        codec=PillowCodec(),
        clock=clock,
        events=InMemoryEvents(),
    )
    assert ingest(reopened.image_id, ingest_deps) is Outcome.PROCESSING

    # Then a sweep right after leaves it alone: its clock starts at this ingest
    report = sweep(deps_for(images, jobs, clock))
    assert (report.resent, report.timed_out) == ([], [])
    again = images.get("img-1")
    assert again is not None
    assert again.status is ImageStatus.PROCESSING
    assert again.processing_since == clock()


class _TimingOutStorage(InMemoryStorage):
    """Storage that lets the sweeper time the image out while the job writes its first output:
    the interleaving of a job still running when its timeout passes."""

    def __init__(self, clock: FixedClock, images: InMemoryImageRepository) -> None:
        super().__init__(clock)
        self._images = images
        self._clock = clock

    def put(
        self,
        key: str,
        data: bytes = b"x",
        *,
        content_type: str = "application/octet-stream",
        cache_control: str = "",
    ) -> None:
        current = self._images.get("img-1")
        if current is not None and current.status is ImageStatus.PROCESSING:
            self._images.save(current.failed("processing_timeout", "timed out", self._clock()))
        super().put(key, data, content_type=content_type, cache_control=cache_control)


def test_a_job_running_when_its_image_times_out_records_nothing_and_keeps_nothing() -> None:
    # Given a processing image whose original is a real JPEG, and a storage that sees the
    # image time out as soon as the variants job writes its first output
    images, clock = InMemoryImageRepository(), FixedClock()
    image = a_processing_image(images, clock)
    storage = _TimingOutStorage(clock, images)
    buffer = io.BytesIO()
    PILImage.effect_noise((320, 240), 40).convert("RGB").save(buffer, "JPEG")
    InMemoryStorage.put(storage, image.original_key or "", buffer.getvalue())
    events = InMemoryEvents()
    deps = JobDeps(images=images, storage=storage, codec=PillowCodec(), clock=clock, events=events)

    # When the variants job runs to its end
    outcome = run_variants_job("img-1", deps=deps, key_date=image.key_date)

    # Then it is skipped: the image stays failed with no variants, the outputs it wrote were
    # taken back (only the original is left), and nothing was announced
    assert outcome is Outcome.SKIPPED
    failed = images.get("img-1")
    assert failed is not None
    assert (failed.status, failed.variants, failed.variants_done) == (
        ImageStatus.FAILED,
        [],
        False,
    )
    assert set(storage.objects) == {image.original_key}
    assert events.all() == []


def a_pending_upload(
    images: InMemoryImageRepository, storage: InMemoryStorage, clock: FixedClock
) -> Image:
    """An image presigned and uploaded (its bytes under uploads/) whose Ingest never ran."""
    now = clock()
    image, _ = images.create(replace(an_image("img-1"), created_at=now, updated_at=now))
    storage.put(keys.staging_key("img-1"), b"bytes", content_type="image/jpeg")
    return image


def test_an_upload_left_by_a_lost_ingest_gets_its_event_again_then_times_out() -> None:
    # Given an upload whose Ingest event was lost
    images, jobs, clock = InMemoryImageRepository(), InMemoryJobQueue(), FixedClock()
    storage, events = InMemoryStorage(clock), InMemoryEvents()
    a_pending_upload(images, storage, clock)
    deps = deps_for(images, jobs, clock, events, storage)
    staging = keys.staging_key("img-1")

    # When the sweeper runs within the timeout, Then it leaves the upload alone
    clock.advance(TIMEOUT.total_seconds() - 60)
    assert sweep(deps).restaged == []

    # When it runs past the timeout, twice a timeout apart, Then it writes the upload over
    # itself each time (S3 sends its event again), keeping its bytes and type
    for resends in (1, 2):
        clock.advance(TIMEOUT.total_seconds() + 60)
        assert sweep(deps).restaged == [staging]
        assert storage.resends[staging] == resends
        assert storage.objects[staging] == b"bytes"
        assert storage.content_types[staging] == "image/jpeg"

    # When Ingest still never finished, a timeout after the last resend
    clock.advance(TIMEOUT.total_seconds() + 60)
    report = sweep(deps)

    # Then the image ends failed with processing_timeout, announced, and the upload is removed
    assert report.timed_out == ["img-1"]
    image = images.get("img-1")
    assert image is not None
    assert (image.status, image.error_code) == (ImageStatus.FAILED, "processing_timeout")
    assert "not ingested after 3 deliveries" in (image.error_message or "")
    assert events.types() == [("img-1", EventType.FAILED)]
    assert staging not in storage.objects


def test_an_upload_ingested_meanwhile_is_only_removed() -> None:
    # Given an upload already resent twice, whose image Ingest has since recorded processing
    images, jobs, clock = InMemoryImageRepository(), InMemoryJobQueue(), FixedClock()
    storage, events = InMemoryStorage(clock), InMemoryEvents()
    image = a_pending_upload(images, storage, clock)
    storage.resends[keys.staging_key("img-1")] = 2
    images.save(replace(image, status=ImageStatus.PROCESSING))
    clock.advance(TIMEOUT.total_seconds() + 60)
    # When the sweeper finds the upload again
    report = sweep(deps_for(images, jobs, clock, events, storage))
    # Then the image is left as it is, and only the leftover upload goes
    assert report.timed_out == []
    stored = images.get("img-1")
    assert stored is not None
    assert stored.status is ImageStatus.PROCESSING
    assert events.all() == []
    assert storage.objects == {}


def test_anything_else_under_uploads_is_left_to_the_bucket_lifecycle_after_its_resends() -> None:
    # Given an object under uploads/ that no presign made
    images, jobs, clock = InMemoryImageRepository(), InMemoryJobQueue(), FixedClock()
    storage = InMemoryStorage(clock)
    storage.put("uploads/not an image id", b"x")
    deps = deps_for(images, jobs, clock, storage=storage)
    # When the sweeper has found it three times
    reports = []
    for _ in range(3):
        clock.advance(TIMEOUT.total_seconds() + 60)
        reports.append(sweep(deps))
    # Then its event was sent again twice (Ingest skips it), and then it was removed
    assert [r.restaged for r in reports] == [["uploads/not an image id"]] * 2 + [[]]
    assert [r.timed_out for r in reports] == [[], [], []]
    assert storage.objects == {}
