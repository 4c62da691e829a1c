"""Production wiring of the processing functions and the sweeper, built on first use from
their settings."""

from __future__ import annotations

from datetime import timedelta
from functools import cache, partial

from imagepipe.adapters.aws import (
    bedrock_client,
    connections_client,
    events_client,
    rekognition_client,
    s3_client,
    s3vectors_client,
    sqs_client,
    utc_now,
)
from imagepipe.adapters.bedrock import BedrockLabeler
from imagepipe.adapters.codec import PillowCodec
from imagepipe.adapters.dynamodb import (
    DynamoConnectionRepository,
    DynamoImageRepository,
    DynamoSessionLinkRepository,
)
from imagepipe.adapters.embeddings import embedder_of
from imagepipe.adapters.events import EventBridgePublisher
from imagepipe.adapters.labels import LocalLabeler, NoLabels, RekognitionLabeler
from imagepipe.adapters.s3 import S3Storage
from imagepipe.adapters.sockets import ApiGatewaySockets
from imagepipe.adapters.sqs import SqsJobQueue
from imagepipe.adapters.vectors import S3VectorIndex
from imagepipe.domain.ingest import IngestDeps
from imagepipe.domain.jobs import JobDeps
from imagepipe.domain.live import NotifyDeps
from imagepipe.domain.model import JobKind
from imagepipe.domain.ports import Labeler
from imagepipe.domain.sweep import SweepDeps
from imagepipe.settings import (
    EventsNotifierSettings,
    IngestSettings,
    MetadataSettings,
    SweeperSettings,
    VariantsSettings,
    _Settings,
)


def publisher(settings: _Settings) -> EventBridgePublisher:
    return EventBridgePublisher(settings.event_bus, partial(events_client, settings.region))


def _store(settings: _Settings) -> tuple[DynamoImageRepository, S3Storage]:
    images = DynamoImageRepository(settings.images_table, settings.region)
    storage = S3Storage(settings.images_bucket, partial(s3_client, settings.region))
    return images, storage


def _job_queue(settings: IngestSettings | SweeperSettings) -> SqsJobQueue:
    urls = {
        JobKind.VARIANTS: settings.variants_queue_url,
        JobKind.METADATA: settings.metadata_queue_url,
    }
    return SqsJobQueue(urls, partial(sqs_client, settings.region))


@cache
def ingest_deps() -> IngestDeps:
    settings = IngestSettings.from_env()
    images, storage = _store(settings)
    queue = _job_queue(settings)
    codec = PillowCodec(
        max_pixels=settings.max_pixels,
        max_frames=settings.max_frames,
        memory_mb=settings.memory_mb,
    )
    return IngestDeps(
        images=images,
        storage=storage,
        jobs=queue,
        codec=codec,
        clock=utc_now,
        events=publisher(settings),
    )


@cache
def variants_deps() -> JobDeps:
    settings = VariantsSettings.from_env()
    images, storage = _store(settings)
    codec = PillowCodec(
        max_pixels=settings.max_pixels,
        max_frames=settings.max_frames,
        memory_mb=settings.memory_mb,
        avif_speed=settings.avif_speed,
        workers=settings.workers,
        cpus=settings.vcpus,
    )
    return JobDeps(
        images=images, storage=storage, codec=codec, clock=utc_now, events=publisher(settings)
    )


@cache
def metadata_deps() -> JobDeps:
    settings = MetadataSettings.from_env()
    images, storage = _store(settings)
    labeler: Labeler = NoLabels()
    if settings.labels_provider == "local":
        labeler = LocalLabeler()
    elif settings.labels_provider == "rekognition":
        labeler = RekognitionLabeler(partial(rekognition_client, settings.region))
    elif settings.labels_provider == "bedrock":
        bedrock = partial(bedrock_client, settings.region)
        labeler = BedrockLabeler(bedrock, settings.labels_model_id)
    embedder = embedder_of(settings)
    vectors = None
    if embedder is not None:
        client = partial(s3vectors_client, settings.region)
        vectors = S3VectorIndex(settings.vector_index_arn, client)
    return JobDeps(
        images=images,
        storage=storage,
        codec=PillowCodec(
            max_pixels=settings.max_pixels,
            max_frames=settings.max_frames,
            memory_mb=settings.memory_mb,
        ),
        clock=utc_now,
        events=publisher(settings),
        labeler=labeler,
        embedder=embedder,
        vectors=vectors,
        links=(
            DynamoSessionLinkRepository(settings.session_images_table, settings.region)
            if vectors is not None
            else None
        ),
    )


@cache
def sweeper_deps() -> SweepDeps:
    settings = SweeperSettings.from_env()
    return SweepDeps(
        images=DynamoImageRepository(settings.images_table, settings.region),
        jobs=_job_queue(settings),
        clock=utc_now,
        events=publisher(settings),
        timeout=timedelta(seconds=settings.processing_timeout_seconds),
        storage=S3Storage(settings.images_bucket, partial(s3_client, settings.region)),
    )


@cache
def notify_deps() -> NotifyDeps:
    settings = EventsNotifierSettings.from_env()
    return NotifyDeps(
        links=DynamoSessionLinkRepository(settings.session_images_table, settings.region),
        connections=DynamoConnectionRepository(settings.connections_table, settings.region),
        sockets=ApiGatewaySockets(
            partial(connections_client, settings.events_management_url, settings.region)
        ),
    )


def reset() -> None:
    notify_deps.cache_clear()
    sweeper_deps.cache_clear()
    ingest_deps.cache_clear()
    variants_deps.cache_clear()
    metadata_deps.cache_clear()
