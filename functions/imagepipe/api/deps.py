"""Production wiring of the API functions' ports, built once per warm container from the
function's settings. Tests swap these with `app.dependency_overrides` or by clearing the caches
under moto."""

from __future__ import annotations

from functools import cache, partial

from imagepipe.adapters.aws import (
    events_client,
    new_image_id,
    s3_client,
    s3vectors_client,
    secrets_client,
    utc_now,
)
from imagepipe.adapters.cdn import CdnImageUrls, canned_policy_signer
from imagepipe.adapters.dynamodb import (
    DynamoConnectionRepository,
    DynamoImageRepository,
    DynamoSessionLinkRepository,
)
from imagepipe.adapters.embeddings import embedder_of
from imagepipe.adapters.events import EventBridgePublisher
from imagepipe.adapters.multipart import S3MultipartUploads
from imagepipe.adapters.s3 import S3ImageUrls, S3Storage
from imagepipe.adapters.secrets import SecretKey
from imagepipe.adapters.vectors import S3VectorIndex
from imagepipe.domain.images import ImagesDeps
from imagepipe.domain.live import SocketDeps, TicketDeps
from imagepipe.domain.ports import ImageUrls, VectorIndex
from imagepipe.domain.uploads import UploadDeps, UploadPolicy
from imagepipe.settings import EventsSocketSettings, ImagesApiSettings, PresignUploadSettings


@cache
def upload_deps() -> UploadDeps:
    settings = PresignUploadSettings.from_env()
    return UploadDeps(
        images=DynamoImageRepository(settings.images_table, settings.region),
        links=DynamoSessionLinkRepository(settings.session_images_table, settings.region),
        storage=S3Storage(settings.images_bucket, partial(s3_client, settings.region)),
        multipart=S3MultipartUploads(settings.images_bucket, partial(s3_client, settings.region)),
        clock=utc_now,
        new_id=new_image_id,
        policy=UploadPolicy(
            max_upload_bytes=settings.max_upload_bytes,
            expiry_seconds=settings.presign_expiry_seconds,
            multipart_threshold_bytes=settings.multipart_threshold_bytes,
            part_size_bytes=settings.part_size_bytes,
        ),
    )


@cache
def images_deps() -> ImagesDeps:
    settings = ImagesApiSettings.from_env()
    return ImagesDeps(
        images=DynamoImageRepository(settings.images_table, settings.region),
        links=DynamoSessionLinkRepository(settings.session_images_table, settings.region),
        storage=S3Storage(settings.images_bucket, partial(s3_client, settings.region)),
        events=EventBridgePublisher(settings.event_bus, partial(events_client, settings.region)),
        multipart=S3MultipartUploads(settings.images_bucket, partial(s3_client, settings.region)),
        clock=utc_now,
        urls=_image_urls(settings),
        vectors=_vector_index(settings),
        embedder=embedder_of(settings),
    )


def _vector_index(settings: ImagesApiSettings) -> VectorIndex | None:
    if settings.embedding_provider == "none":
        return None
    client = partial(s3vectors_client, settings.region)
    return S3VectorIndex(settings.vector_index_arn, client)


def _image_urls(settings: ImagesApiSettings) -> ImageUrls:
    """CDN URLs when a CDN is configured, else presigned S3 GETs. The signing key is read once
    per warm container, here (on the first request, never at import)."""
    lifetime = settings.url_expiry_seconds
    if not settings.cdn_base_url:
        s3 = partial(s3_client, settings.region)
        return S3ImageUrls(settings.images_bucket, s3, expires_in=lifetime)
    signer = None
    if settings.cdn_key_pair_id:
        secret = SecretKey(
            settings.cdn_private_key_secret, partial(secrets_client, settings.region)
        )
        signer = canned_policy_signer(settings.cdn_key_pair_id, secret())
    return CdnImageUrls(settings.cdn_base_url, lifetime=lifetime, clock=utc_now, signer=signer)


@cache
def ticket_deps() -> TicketDeps:
    settings = ImagesApiSettings.from_env()
    key = SecretKey(settings.ticket_key_secret, partial(secrets_client, settings.region))
    return TicketDeps(
        key=key(), clock=utc_now, new_nonce=new_image_id, events_url=settings.events_url
    )


@cache
def socket_deps() -> SocketDeps:
    settings = EventsSocketSettings.from_env()
    key = SecretKey(settings.ticket_key_secret, partial(secrets_client, settings.region))
    return SocketDeps(
        key=key(),
        connections=DynamoConnectionRepository(settings.connections_table, settings.region),
        clock=utc_now,
    )


def reset() -> None:
    upload_deps.cache_clear()
    images_deps.cache_clear()
    ticket_deps.cache_clear()
    socket_deps.cache_clear()
