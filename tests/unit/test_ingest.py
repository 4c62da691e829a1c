"""Ingest on uploads larger than what is spooled in memory: verified and decoded from disk."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import replace

from PIL import Image as PILImage

from imagepipe.adapters.codec import PillowCodec
from imagepipe.domain import keys
from imagepipe.domain.events import EventType
from imagepipe.domain.ingest import IngestDeps, ingest
from imagepipe.domain.jobs import JobDeps, run_metadata_job, run_variants_job
from imagepipe.domain.model import Image, ImageStatus, Outcome
from imagepipe.domain.ports import Sink
from imagepipe.domain.spool import SPOOL_IN_MEMORY
from tests.contract.samples import an_image
from tests.unit.fakes import (
    FixedClock,
    InMemoryEvents,
    InMemoryImageRepository,
    InMemoryJobQueue,
    InMemoryStorage,
)

STAGING = keys.staging_key("img-1")


def a_large_png() -> bytes:
    """A 1400x1400 PNG of noise, stored uncompressed: about 5.6 MiB, more than is spooled in
    memory."""
    pixels = PILImage.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3))
    buffer = io.BytesIO()
    pixels.save(buffer, "PNG", compress_level=0)
    data = buffer.getvalue()
    assert len(data) > SPOOL_IN_MEMORY
    return data


class CountingStorage(InMemoryStorage):
    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.downloads: list[str] = []

    def download(self, key: str, into: Sink) -> bool:
        self.downloads.append(key)
        return super().download(key, into)


class World:
    def __init__(self, storage: InMemoryStorage | None = None) -> None:
        self.clock = FixedClock()
        self.images = InMemoryImageRepository()
        self.storage = storage or CountingStorage(self.clock)
        self.jobs = InMemoryJobQueue()
        self.events = InMemoryEvents()
        self.codec = PillowCodec(memory_mb=1024)

    def pending(self, data: bytes, **changes: object) -> Image:
        """img-1 presigned for `data` (its declared size and hash, unless changed)."""
        now = self.clock()
        declared = replace(
            an_image("img-1"),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            content_type="image/png",
            created_at=now,
            updated_at=now,
        )
        image, _ = self.images.create(replace(declared, **changes))  # type: ignore[arg-type]
        return image

    def ingest(self) -> Outcome:
        deps = IngestDeps(
            images=self.images,
            storage=self.storage,
            jobs=self.jobs,
            codec=self.codec,
            clock=self.clock,
            events=self.events,
        )
        return ingest("img-1", deps)

    def job_deps(self) -> JobDeps:
        return JobDeps(
            images=self.images,
            storage=self.storage,
            codec=self.codec,
            clock=self.clock,
            events=self.events,
        )

    def image(self) -> Image:
        image = self.images.get("img-1")
        assert image is not None
        return image


def test_a_large_upload_is_hashed_and_decoded_from_disk_then_processed() -> None:
    # Given a 5.6 MiB PNG uploaded as declared
    world = World()
    data = a_large_png()
    world.pending(data)
    world.storage.put(STAGING, data)

    # When it is ingested, then both jobs run on its original
    outcome = world.ingest()
    variants = run_variants_job("img-1", deps=world.job_deps())
    metadata = run_metadata_job("img-1", deps=world.job_deps())

    # Then it is processed: 1400x1400 with its thumbnail, variants and metadata, completed
    assert outcome is Outcome.PROCESSING
    assert (variants, metadata) == (Outcome.DONE, Outcome.COMPLETED)
    image = world.image()
    assert (image.status, image.width, image.height) == (ImageStatus.COMPLETED, 1400, 1400)
    assert image.thumbnail is not None
    assert len(image.variants) == 6
    assert image.metadata["format"] == "png"
    assert STAGING not in world.storage.objects


def test_a_large_upload_whose_bytes_differ_from_the_declared_hash_fails() -> None:
    # Given a 5.6 MiB upload of the declared size whose hash is not the declared one
    world = World()
    data = a_large_png()
    world.pending(data, sha256="0" * 64)
    world.storage.put(STAGING, data)

    # When it is ingested
    outcome = world.ingest()

    # Then it fails with checksum_mismatch, announced, and nothing of it is kept
    assert outcome is Outcome.FAILED
    image = world.image()
    assert (image.status, image.error_code) == (ImageStatus.FAILED, "checksum_mismatch")
    assert world.events.types() == [("img-1", EventType.FAILED)]
    assert world.storage.objects == {}
    assert world.jobs.all() == []


def test_a_large_upload_larger_than_declared_fails_before_it_is_read() -> None:
    # Given a 5.6 MiB upload declared a byte shorter
    world = World()
    data = a_large_png()
    world.pending(data, size=len(data) - 1)
    world.storage.put(STAGING, data)

    # When it is ingested
    outcome = world.ingest()

    # Then it fails with size_mismatch from the object's size alone: not a byte was downloaded
    assert outcome is Outcome.FAILED
    image = world.image()
    assert (image.status, image.error_code) == (ImageStatus.FAILED, "size_mismatch")
    assert isinstance(world.storage, CountingStorage)
    assert world.storage.downloads == []
    assert world.storage.objects == {}


class RewrittenAfterHead(InMemoryStorage):
    """An upload written over between Ingest's HEAD and its GET: the HEAD saw the declared
    size, the GET gets longer bytes."""

    def __init__(self, clock: FixedClock, later: bytes) -> None:
        super().__init__(clock)
        self._later = later

    def download(self, key: str, into: Sink) -> bool:
        self.put(key, self._later)
        return super().download(key, into)


def test_a_large_upload_whose_downloaded_size_differs_from_the_declared_one_fails() -> None:
    # Given a 5.6 MiB upload of the declared size, replaced by a longer one before it is read
    data = a_large_png()
    world = World(RewrittenAfterHead(FixedClock(), data + b"\0" * 1000))
    world.pending(data)
    world.storage.put(STAGING, data)

    # When it is ingested
    outcome = world.ingest()

    # Then it fails with size_mismatch, judged by the bytes read, and nothing is kept
    assert outcome is Outcome.FAILED
    image = world.image()
    assert (image.status, image.error_code) == (ImageStatus.FAILED, "size_mismatch")
    assert f"has {len(data) + 1000} bytes" in (image.error_message or "")
    assert world.storage.objects == {}
