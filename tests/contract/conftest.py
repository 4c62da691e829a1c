"""Each port fixture gives the in-memory fake ("memory"), then the real adapter on moto
("moto") over the template's own resources (the `aws` fixture), so every contract test runs on
both and a fake cannot drift from the adapter it stands for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
import requests
from pytest_socket import disable_socket, enable_socket

from imagepipe.adapters.aws import events_client, s3_client, s3vectors_client, sqs_client, utc_now
from imagepipe.adapters.cdn import CdnImageUrls, canned_policy_signer
from imagepipe.adapters.dynamodb import (
    DynamoConnectionRepository,
    DynamoImageRepository,
    DynamoSessionLinkRepository,
)
from imagepipe.adapters.events import EventBridgePublisher
from imagepipe.adapters.multipart import S3MultipartUploads
from imagepipe.adapters.s3 import S3ImageUrls, S3Storage
from imagepipe.adapters.sqs import SqsJobQueue
from imagepipe.adapters.vectors import S3VectorIndex
from imagepipe.domain.events import SOURCE
from imagepipe.domain.ports import (
    ConnectionRepository,
    EventPublisher,
    ImageRepository,
    ImageUrls,
    MultipartUploads,
    ObjectStorage,
    SessionLinkRepository,
    VectorIndex,
)
from imagepipe_local.template import Template
from tests.cdn_keys import KEY_PAIR_ID, key_pair
from tests.contract.probes import JOB_QUEUES, QueueUnderTest, received, recorded
from tests.integration.helpers import received_events, subscribe
from tests.unit.fakes import (
    ChecksumRefused,
    FixedClock,
    InMemoryConnections,
    InMemoryEvents,
    InMemoryImageRepository,
    InMemoryImageUrls,
    InMemoryJobQueue,
    InMemoryMultipart,
    InMemorySessionLinks,
    InMemoryStorage,
    InMemoryVectorIndex,
)

IMPLEMENTATIONS = ["memory", "moto"]


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    # moto in decorator mode answers in process: a contract test needs no socket.
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture(params=IMPLEMENTATIONS)
def images(request: pytest.FixtureRequest) -> ImageRepository:
    if request.param == "memory":
        return InMemoryImageRepository()
    aws: Template = request.getfixturevalue("aws")
    return DynamoImageRepository(aws.physical_name("ImagesTable"), aws.names.region)


@pytest.fixture(params=IMPLEMENTATIONS)
def links(request: pytest.FixtureRequest) -> SessionLinkRepository:
    if request.param == "memory":
        return InMemorySessionLinks()
    aws: Template = request.getfixturevalue("aws")
    return DynamoSessionLinkRepository(aws.physical_name("SessionImagesTable"), aws.names.region)


@pytest.fixture(params=IMPLEMENTATIONS)
def connections(request: pytest.FixtureRequest) -> ConnectionRepository:
    if request.param == "memory":
        return InMemoryConnections()
    aws: Template = request.getfixturevalue("aws")
    return DynamoConnectionRepository(aws.physical_name("ConnectionsTable"), aws.names.region)


@pytest.fixture(params=IMPLEMENTATIONS)
def storage(request: pytest.FixtureRequest) -> ObjectStorage:
    if request.param == "memory":
        # Presigned targets expire relative to now, as S3's do.
        return InMemoryStorage(FixedClock(datetime.now(UTC)))
    aws: Template = request.getfixturevalue("aws")
    region = aws.names.region
    return S3Storage(aws.physical_name("ImagesBucket"), partial(s3_client, region))


@pytest.fixture(params=[*IMPLEMENTATIONS, "cdn"])
def image_urls(request: pytest.FixtureRequest) -> ImageUrls:
    """The fake, presigned S3 GETs on moto, and signed CloudFront URLs (made offline)."""
    if request.param == "memory":
        return InMemoryImageUrls()
    if request.param == "cdn":
        signer = canned_policy_signer(KEY_PAIR_ID, key_pair().pkcs8)
        cdn = "https://d111111abcdef8.cloudfront.net"
        return CdnImageUrls(cdn, lifetime=3600, clock=utc_now, signer=signer)
    aws: Template = request.getfixturevalue("aws")
    bucket, client = aws.physical_name("ImagesBucket"), partial(s3_client, aws.names.region)
    return S3ImageUrls(bucket, client, expires_in=3600)


@pytest.fixture(params=IMPLEMENTATIONS)
def jobs(request: pytest.FixtureRequest) -> QueueUnderTest:
    if request.param == "memory":
        fake = InMemoryJobQueue()
        return QueueUnderTest(fake, recorded(fake))
    aws: Template = request.getfixturevalue("aws")
    region = aws.names.region
    # The URLs the template gives the Ingest function (a queue's Ref is its URL).
    urls = {kind: aws.queue_url(queue) for kind, queue in JOB_QUEUES.items()}
    return QueueUnderTest(SqsJobQueue(urls, partial(sqs_client, region)), received(aws))


@dataclass(frozen=True)
class PublisherUnderTest:
    """An EventPublisher, and a probe giving what a subscriber received, in the shape EventBridge
    delivers (source, detail-type, detail)."""

    publisher: EventPublisher
    delivered: Callable[[], list[dict[str, Any]]]


@pytest.fixture(params=IMPLEMENTATIONS)
def events(request: pytest.FixtureRequest) -> PublisherUnderTest:
    if request.param == "memory":
        fake = InMemoryEvents()

        def recorded_events() -> list[dict[str, Any]]:
            return [
                {"source": SOURCE, "detail-type": e.type.value, "detail": e.detail}
                for e in fake.all()
            ]

        return PublisherUnderTest(fake, recorded_events)
    aws: Template = request.getfixturevalue("aws")
    url = subscribe(aws)
    bus = aws.physical_name("ImagesEventBus")
    publisher = EventBridgePublisher(bus, partial(events_client, aws.names.region))
    return PublisherUnderTest(publisher, lambda: received_events(aws, url))


@dataclass(frozen=True)
class MultipartUnderTest:
    """MultipartUploads, the ObjectStorage its completed uploads land in, and what a client
    does with a presigned part: PUT its bytes with the signed headers (S3's answer: the ETag,
    or the error code when refused)."""

    uploads: MultipartUploads
    storage: ObjectStorage
    put_part: Callable[[MultipartUploads, str, str, int, bytes, str], tuple[str | None, str | None]]


def _put_in_memory(
    uploads: MultipartUploads, key: str, upload_id: str, number: int, data: bytes, sha256: str
) -> tuple[str | None, str | None]:
    assert isinstance(uploads, InMemoryMultipart)
    uploads.presign_part(
        key, upload_id, number=number, size=len(data), sha256=sha256, expires_in=60
    )
    try:
        return uploads.upload_part(upload_id, number, data, sha256), None
    except ChecksumRefused:
        return None, "BadDigest"


def _put_over_http(
    uploads: MultipartUploads, key: str, upload_id: str, number: int, data: bytes, sha256: str
) -> tuple[str | None, str | None]:
    target = uploads.presign_part(
        key, upload_id, number=number, size=len(data), sha256=sha256, expires_in=60
    )
    response = requests.put(target.url, data=data, headers=target.headers, timeout=10)
    if response.status_code != 200:
        return None, f"HTTP {response.status_code}"
    return response.headers["ETag"], None


@pytest.fixture(params=IMPLEMENTATIONS)
def multipart(request: pytest.FixtureRequest) -> MultipartUnderTest:
    if request.param == "memory":
        storage = InMemoryStorage(FixedClock(datetime.now(UTC)))
        fake = InMemoryMultipart(storage, FixedClock(datetime.now(UTC)))
        return MultipartUnderTest(fake, storage, _put_in_memory)
    aws: Template = request.getfixturevalue("aws")
    bucket, client = aws.physical_name("ImagesBucket"), partial(s3_client, aws.names.region)
    return MultipartUnderTest(
        S3MultipartUploads(bucket, client), S3Storage(bucket, client), _put_over_http
    )


@pytest.fixture(params=IMPLEMENTATIONS)
def vectors(request: pytest.FixtureRequest) -> VectorIndex:
    if request.param == "memory":
        return InMemoryVectorIndex()
    aws: Template = request.getfixturevalue("aws")
    return S3VectorIndex(aws.arn("VectorIndex"), partial(s3vectors_client, aws.names.region))
