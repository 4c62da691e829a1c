"""Production wiring of the processing functions, built on first use from their settings."""

from __future__ import annotations

from functools import cache, partial

from imagepipe.adapters.aws import rekognition_client, s3_client, sqs_client, utc_now
from imagepipe.adapters.codec import PillowCodec
from imagepipe.adapters.dynamodb import DynamoImageRepository
from imagepipe.adapters.labels import NoLabels, RekognitionLabeler
from imagepipe.adapters.s3 import S3Storage
from imagepipe.adapters.sqs import SqsJobQueue
from imagepipe.domain.model import JobKind
from imagepipe.domain.ports import Labeler
from imagepipe.domain.processing import ProcessingDeps
from imagepipe.settings import IngestSettings, MetadataSettings, VariantsSettings, _Settings


class _Unused:
    """Workers send no jobs; a send would be a bug, so it fails loudly."""

    def send(self, kind: JobKind, image_id: str, key_date: str) -> None:
        raise RuntimeError(f"this function sends no jobs (tried {kind} for {image_id})")


def _common(settings: _Settings) -> tuple[DynamoImageRepository, S3Storage]:
    images = DynamoImageRepository(settings.images_table, settings.region)
    storage = S3Storage(settings.images_bucket, partial(s3_client, settings.region))
    return images, storage


@cache
def ingest_deps() -> ProcessingDeps:
    settings = IngestSettings.from_env()
    images, storage = _common(settings)
    queue = SqsJobQueue(
        {
            JobKind.VARIANTS: settings.variants_queue_url,
            JobKind.METADATA: settings.metadata_queue_url,
        },
        partial(sqs_client, settings.region),
    )
    codec = PillowCodec(max_pixels=settings.max_pixels, max_frames=settings.max_frames)
    return ProcessingDeps(images=images, storage=storage, jobs=queue, codec=codec, clock=utc_now)


@cache
def variants_deps() -> ProcessingDeps:
    settings = VariantsSettings.from_env()
    images, storage = _common(settings)
    codec = PillowCodec(avif_speed=settings.avif_speed, workers=settings.encode_workers)
    return ProcessingDeps(
        images=images, storage=storage, jobs=_Unused(), codec=codec, clock=utc_now
    )


@cache
def metadata_deps() -> ProcessingDeps:
    settings = MetadataSettings.from_env()
    images, storage = _common(settings)
    labeler: Labeler = NoLabels()
    if settings.labels_provider == "rekognition":
        labeler = RekognitionLabeler(partial(rekognition_client, settings.region))
    return ProcessingDeps(
        images=images,
        storage=storage,
        jobs=_Unused(),
        codec=PillowCodec(),
        clock=utc_now,
        labeler=labeler,
    )


def reset() -> None:
    ingest_deps.cache_clear()
    variants_deps.cache_clear()
    metadata_deps.cache_clear()
