"""In-memory implementations of the domain's ports, honouring the contracts in ports.py.

They keep copies of what they are given and hand out copies of what they hold, so a test (or the
domain) mutating an object it got back cannot change stored state behind the fake's back, just as
it could not change a DynamoDB item or an S3 object.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from imagepipe.domain import keys
from imagepipe.domain.errors import ConcurrentModification
from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.images import ImagesDeps
from imagepipe.domain.model import (
    Connection,
    Image,
    JobKind,
    Part,
    PartTarget,
    SessionLink,
    Staged,
    UploadTarget,
)
from imagepipe.domain.pagination import Cursor, decode_token, encode_token, sortable_time
from imagepipe.domain.ports import Sink
from imagepipe.domain.similarity import bands
from imagepipe.domain.uploads import UploadDeps, UploadPolicy

FAKE_BUCKET_URL = "https://fake-bucket.s3.amazonaws.com/"
DOWNLOAD_CHUNK = 1 << 20  # S3Storage's


def _copy(image: Image) -> Image:
    # Variants and metadata are mutable containers: a shallow replace would share them. The copy
    # is what DynamoDB gives back: metadata through JSON (a tuple returns as a list, a value that
    # is not JSON is refused) and the TTL in whole seconds.
    return replace(
        image,
        variants=list(image.variants),
        metadata=json.loads(json.dumps(image.metadata)),
        expires_at=None if image.expires_at is None else image.expires_at.replace(microsecond=0),
    )


class InMemoryImageRepository:
    """Records by id plus one hash claim per (tenant, sha256), like the DynamoDB adapter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, Image] = {}
        self._claims: dict[tuple[str, str], str] = {}
        # (tenant, band index, band value) -> {imageId: phash}
        self._bands: dict[tuple[str, int, int], dict[str, str]] = {}

    def get(self, image_id: str) -> Image | None:
        with self._lock:
            image = self._records.get(image_id)
            return _copy(image) if image is not None else None

    def get_many(self, image_ids: Sequence[str]) -> dict[str, Image]:
        with self._lock:
            return {i: _copy(self._records[i]) for i in image_ids if i in self._records}

    def find_by_hash(self, tenant: str, sha256: str) -> Image | None:
        with self._lock:
            image_id = self._claims.get((tenant, sha256))
            if image_id is None or image_id not in self._records:
                return None
            return _copy(self._records[image_id])

    def create(self, image: Image) -> tuple[Image, bool]:
        # One lock around check-and-claim: the in-memory equivalent of a conditional put.
        with self._lock:
            owner = self._claims.get((image.tenant, image.sha256))
            if owner is not None and owner in self._records:
                # The very image again (a retried create whose first attempt got through) is
                # the one created; any other image for these bytes gets the owner.
                stored = self._records[owner]
                retried = replace(stored, version=None) == image
                return _copy(stored), retried
            if image.image_id in self._records:
                raise ConcurrentModification(f"image id {image.image_id} is already taken")
            stored = replace(_copy(image), version=1)
            self._records[image.image_id] = stored
            self._claims[(image.tenant, image.sha256)] = image.image_id
            return _copy(stored), True

    def save(self, image: Image) -> Image:
        with self._lock:
            current = self._records.get(image.image_id)
            if current is None or current.version != image.version:
                raise ConcurrentModification(f"image {image.image_id} changed meanwhile")
            stored = replace(_copy(image), version=(image.version or 0) + 1)
            self._records[image.image_id] = stored
            return _copy(stored)

    def index_phash(self, image: Image, phash: str) -> None:
        with self._lock:
            # The image's bands are overwritten, as its band items are: an earlier hash goes.
            for members in self._bands.values():
                members.pop(image.image_id, None)
            for band in bands(phash):
                self._bands.setdefault((image.tenant, *band), {})[image.image_id] = phash

    def unindex_phash(self, image_id: str) -> None:
        with self._lock:
            for members in self._bands.values():
                members.pop(image_id, None)

    def similar(self, tenant: str, phash: str) -> dict[str, str]:
        with self._lock:
            found: dict[str, str] = {}
            for band in bands(phash):
                found.update(self._bands.get((tenant, *band), {}))
            return found

    def processing_before(self, moment: datetime) -> list[Image]:
        with self._lock:
            due = [
                image
                for image in self._records.values()
                if image.processing_since is not None and image.processing_since <= moment
            ]
            # The index orders by the time as stored: to the microsecond, UTC.
            due.sort(key=lambda image: sortable_time(image.processing_since or moment))
            return [_copy(image) for image in due]

    def release_hash(self, image: Image) -> None:
        with self._lock:
            if self._claims.get((image.tenant, image.sha256)) == image.image_id:
                del self._claims[(image.tenant, image.sha256)]

    def delete(self, image: Image) -> None:
        with self._lock:
            if self._claims.get((image.tenant, image.sha256)) == image.image_id:
                del self._claims[(image.tenant, image.sha256)]
            self._records.pop(image.image_id, None)

    # Test helpers, not part of the port.
    def all(self) -> list[Image]:
        with self._lock:
            return [_copy(image) for image in self._records.values()]


class StallingImageRepository(InMemoryImageRepository):
    """Once armed, holds the next `parties` hash look-ups at a barrier until all have read.

    Threads under the GIL tend to run one after another, so without this every racer but the
    first would simply find the winner's record and the create/save races would never happen.
    Here all racers read the same state (no record, or the same version) before any of them
    writes: the interleaving that the contract's conditional writes exist for."""

    def __init__(self) -> None:
        super().__init__()
        self._count_lock = threading.Lock()
        self._barrier: threading.Barrier | None = None
        self._to_stall = 0

    def stall_next(self, parties: int) -> None:
        with self._count_lock:
            self._barrier = threading.Barrier(parties, timeout=10)
            self._to_stall = parties

    def find_by_hash(self, tenant: str, sha256: str) -> Image | None:
        found = super().find_by_hash(tenant, sha256)
        with self._count_lock:
            barrier = self._barrier if self._to_stall > 0 else None
            self._to_stall -= 1
        if barrier is not None:
            barrier.wait()
        return found


class InMemorySessionLinks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._links: dict[tuple[str, str, str], SessionLink] = {}

    def link(self, link: SessionLink) -> bool:
        key = (link.tenant, link.session_id, link.image_id)
        with self._lock:
            if key in self._links:
                return False
            self._links[key] = link  # frozen dataclass: storing it is as good as a copy
            return True

    def unlink(self, tenant: str, session_id: str, image_id: str) -> bool:
        with self._lock:
            return self._links.pop((tenant, session_id, image_id), None) is not None

    def page(
        self, tenant: str, session_id: str, *, limit: int, token: str | None
    ) -> tuple[list[SessionLink], str | None]:
        with self._lock:
            links = [
                link for (t, s, _), link in self._links.items() if t == tenant and s == session_id
            ]
        # Newest first; the image id breaks ties so the order (and the token) is total.
        links.sort(key=_position, reverse=True)
        if token is not None:
            after = decode_token(token, tenant, session_id)
            links = [link for link in links if _position(link) < after]
        chosen = links[:limit]
        next_token = None
        if len(links) > limit:
            next_token = encode_token(tenant, session_id, _position(chosen[-1]))
        return chosen, next_token

    def sessions_of(self, image_id: str) -> list[tuple[str, str]]:
        with self._lock:
            return [(t, s) for (t, s, i) in self._links if i == image_id]

    def linked(self, tenant: str, session_id: str, image_ids: Sequence[str]) -> set[str]:
        with self._lock:
            return {i for i in image_ids if (tenant, session_id, i) in self._links}

    # Test helpers, not part of the port.
    def all(self) -> list[SessionLink]:
        with self._lock:
            return list(self._links.values())


def _position(link: SessionLink) -> Cursor:
    return Cursor(linked_at=sortable_time(link.linked_at), image_id=link.image_id)


@dataclass(frozen=True)
class PresignCall:
    key: str
    content_type: str
    sha256: str
    max_bytes: int
    expires_in: int


class InMemoryStorage:
    """A bucket as a dict key -> bytes; presigning is recorded and yields deterministic fakes."""

    def __init__(self, clock: FixedClock) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.written_at: dict[str, datetime] = {}
        self.resends: dict[str, int] = {}
        self.presign_calls: list[PresignCall] = []

    def put(
        self,
        key: str,
        data: bytes = b"x",
        *,
        content_type: str = "application/octet-stream",
        cache_control: str = "",
    ) -> None:
        with self._lock:
            self.objects[key] = data
            self.content_types[key] = content_type
            self.written_at[key] = self._clock()
            self.resends.pop(key, None)

    def size(self, key: str) -> int | None:
        with self._lock:
            data = self.objects.get(key)
            return None if data is None else len(data)

    def download(self, key: str, into: Sink) -> bool:
        with self._lock:
            data = self.objects.get(key)
        if data is None:
            return False
        # In chunks, as S3Storage writes them: a sink sees the same calls from both.
        for start in range(0, len(data), DOWNLOAD_CHUNK):
            into.write(data[start : start + DOWNLOAD_CHUNK])
        return True

    def copy(self, source: str, target: str, *, content_type: str, cache_control: str) -> bool:
        with self._lock:
            if source not in self.objects:
                return False
            self.objects[target] = self.objects[source]
            self.content_types[target] = content_type
            self.written_at[target] = self._clock()
            self.resends.pop(target, None)
            return True

    def staged_before(self, cutoff: datetime) -> list[Staged]:
        with self._lock:
            return [
                Staged(key, self.content_types[key], self.resends.get(key, 0))
                for key in sorted(self.objects)
                if key.startswith(keys.STAGING_PREFIX) and self.written_at[key] < cutoff
            ]

    def restage(self, staged: Staged) -> bool:
        with self._lock:
            if staged.key not in self.objects:
                return False
            self.written_at[staged.key] = self._clock()
            self.resends[staged.key] = staged.resends + 1
            return True

    def presign_upload(
        self, *, key: str, content_type: str, sha256: str, max_bytes: int, expires_in: int
    ) -> UploadTarget:
        with self._lock:
            self.presign_calls.append(PresignCall(key, content_type, sha256, max_bytes, expires_in))
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        return UploadTarget(
            url=FAKE_BUCKET_URL,
            fields={
                "key": key,
                "Content-Type": content_type,
                "x-amz-checksum-sha256": checksum,
                "policy": f"fake-policy-{max_bytes}",
            },
            expires_at=self._clock() + timedelta(seconds=expires_in),
        )

    def delete(self, keys: Iterable[str], prefixes: Iterable[str]) -> None:
        with self._lock:
            prefix_list = list(prefixes)
            doomed = set(keys) | {
                key for key in self.objects if any(key.startswith(p) for p in prefix_list)
            }
            for key in doomed:
                self.objects.pop(key, None)


class InMemoryImageUrls:
    """Image URLs of a fake CDN: stable, unsigned, the key percent-encoded."""

    base = "https://cdn.example.test"

    def url(self, key: str) -> str:
        return f"{self.base}/{quote(key)}"


@dataclass
class _OpenUpload:
    key: str
    content_type: str
    # number -> (bytes, base64 SHA-256)
    parts: dict[int, tuple[bytes, str]] = field(default_factory=dict)


class ChecksumRefused(Exception):
    """What S3 answers (400 BadDigest) to a part whose bytes differ from its signed checksum."""


class InMemoryMultipart:
    """S3 multipart uploads over an InMemoryStorage: completing one writes the object there.
    `upload_part` stands for the client's PUT to a presigned part URL."""

    def __init__(self, storage: InMemoryStorage, clock: FixedClock) -> None:
        self._lock = threading.Lock()
        self._storage = storage
        self._clock = clock
        self._next = 0
        self.open: dict[str, _OpenUpload] = {}
        self.signed: list[tuple[str, int, int, str]] = []  # (upload id, number, size, sha256)

    def create(self, key: str, *, content_type: str) -> str:
        with self._lock:
            self._next += 1
            upload_id = f"upload-{self._next:04d}"
            self.open[upload_id] = _OpenUpload(key=key, content_type=content_type)
            return upload_id

    def presign_part(
        self, key: str, upload_id: str, *, number: int, size: int, sha256: str, expires_in: int
    ) -> PartTarget:
        with self._lock:
            self.signed.append((upload_id, number, size, sha256))
        return PartTarget(
            number=number,
            url=f"{FAKE_BUCKET_URL}{key}?uploadId={upload_id}&partNumber={number}",
            headers={"x-amz-checksum-sha256": sha256},
            expires_at=self._clock() + timedelta(seconds=expires_in),
        )

    def upload_part(
        self, upload_id: str, number: int, data: bytes, sha256: str | None = None
    ) -> str:
        """Store a part as S3 does (refusing bytes that differ from their checksum); its ETag."""
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        if sha256 is not None and sha256 != digest:
            raise ChecksumRefused(f"part {number}: checksum {sha256} is not {digest}")
        with self._lock:
            self.open[upload_id].parts[number] = (data, digest)
        return _etag(data)

    def parts(self, key: str, upload_id: str) -> list[Part] | None:
        with self._lock:
            upload = self.open.get(upload_id)
            if upload is None or upload.key != key:
                return None
            return [
                Part(number=n, size=len(data), etag=_etag(data), sha256=digest)
                for n, (data, digest) in sorted(upload.parts.items())
            ]

    def complete(self, key: str, upload_id: str, parts: Sequence[Part]) -> bool:
        with self._lock:
            upload = self.open.get(upload_id)
            if upload is None or upload.key != key:
                return False
            data = b"".join(upload.parts[part.number][0] for part in parts)
            del self.open[upload_id]
        self._storage.put(key, data, content_type=upload.content_type)
        return True

    def abort(self, key: str, upload_id: str) -> None:
        with self._lock:
            upload = self.open.get(upload_id)
            if upload is not None and upload.key == key:
                del self.open[upload_id]


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 - S3's ETag of a part


@dataclass(frozen=True)
class SentJob:
    kind: JobKind
    image_id: str
    key_date: str


class InMemoryJobQueue:
    """Records the jobs sent, in order; nothing consumes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[SentJob] = []

    def send(self, kind: JobKind, image_id: str, key_date: str) -> None:
        with self._lock:
            self._sent.append(SentJob(kind, image_id, key_date))

    # Test helpers, not part of the port.
    def all(self) -> list[SentJob]:
        with self._lock:
            return list(self._sent)


class InMemoryEvents:
    """Records the events published, in order; nothing is delivered anywhere."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._published: list[ImageEvent] = []

    def publish(self, event: ImageEvent) -> None:
        with self._lock:
            self._published.append(event)

    # Test helpers, not part of the port.
    def all(self) -> list[ImageEvent]:
        with self._lock:
            return list(self._published)

    def types(self) -> list[tuple[str, EventType]]:
        return [(event.image_id, event.type) for event in self.all()]


class InMemoryConnections:
    """Sockets by id and spent ticket nonces, as the connections table holds them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[str, Connection] = {}
        self._spent: dict[str, datetime] = {}

    def claim_ticket(self, nonce: str, expires_at: datetime) -> bool:
        with self._lock:
            if nonce in self._spent:
                return False
            self._spent[nonce] = expires_at
            return True

    def add(self, connection: Connection) -> None:
        with self._lock:
            self._connections[connection.connection_id] = connection

    def remove(self, connection_id: str) -> None:
        with self._lock:
            self._connections.pop(connection_id, None)

    def of_session(self, tenant: str, session_id: str) -> list[str]:
        with self._lock:
            return sorted(
                c.connection_id
                for c in self._connections.values()
                if (c.tenant, c.session_id) == (tenant, session_id)
            )

    # Test helpers, not part of the port.
    def get(self, connection_id: str) -> Connection | None:
        with self._lock:
            return self._connections.get(connection_id)


class InMemorySockets:
    """Open sockets and the messages each received; posting to a closed one reports it gone."""

    def __init__(self, *open_ids: str) -> None:
        self._lock = threading.Lock()
        self._open = set(open_ids)
        self.received: dict[str, list[dict[str, object]]] = {}

    def post(self, connection_id: str, message: dict[str, object]) -> bool:
        with self._lock:
            if connection_id not in self._open:
                return False
            self.received.setdefault(connection_id, []).append(json.loads(json.dumps(message)))
            return True

    # Test helpers, not part of the port.
    def open(self, connection_id: str) -> None:
        with self._lock:
            self._open.add(connection_id)

    def close(self, connection_id: str) -> None:
        with self._lock:
            self._open.discard(connection_id)


class InMemoryVectorIndex:
    """Vectors by image id with their tenant and sessions; exact cosine nearest neighbours."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vectors: dict[str, tuple[list[float], str, frozenset[str]]] = {}

    def put(
        self, image_id: str, vector: Sequence[float], *, tenant: str, sessions: Sequence[str]
    ) -> None:
        with self._lock:
            self._vectors[image_id] = ([float(v) for v in vector], tenant, frozenset(sessions))

    def delete(self, image_ids: Sequence[str]) -> None:
        with self._lock:
            for image_id in image_ids:
                self._vectors.pop(image_id, None)

    def get(self, image_id: str) -> list[float] | None:
        with self._lock:
            found = self._vectors.get(image_id)
        return list(found[0]) if found else None

    def query(
        self, vector: Sequence[float], *, tenant: str, session_id: str | None, top_k: int
    ) -> list[tuple[str, float]]:
        with self._lock:
            stored = list(self._vectors.items())
        scored = [
            (_cosine(vector, data), image_id)
            for image_id, (data, owner, sessions) in stored
            if owner == tenant and (session_id is None or session_id in sessions)
        ]
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [(image_id, score) for score, image_id in scored[:top_k]]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0


class FixedClock:
    """A clock that only moves when told to; thread-safe so concurrent tests can share it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = start or datetime(2026, 3, 5, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 1.0) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


class SequentialIds:
    """img-0001, img-0002, ...: predictable ids that sort in creation order."""

    def __init__(self, prefix: str = "img-") -> None:
        self._lock = threading.Lock()
        self._prefix = prefix
        self._next = 0
        self.issued: list[str] = []

    def __call__(self) -> str:
        with self._lock:
            self._next += 1
            image_id = f"{self._prefix}{self._next:04d}"
            self.issued.append(image_id)
            return image_id


class ScriptedIds(SequentialIds):
    """Hands out the given ids in order, for tests that need particular ids."""

    def __init__(self, *ids: str) -> None:
        super().__init__()
        self._script = list(ids)

    def __call__(self) -> str:
        with self._lock:
            image_id = self._script.pop(0)
            self.issued.append(image_id)
            return image_id


DEFAULT_POLICY = UploadPolicy(max_upload_bytes=10 * 1024 * 1024, expiry_seconds=300)


@dataclass
class FakeWorld:
    """Every port wired to one set of fakes, so uploads and reads see the same state."""

    clock: FixedClock = field(default_factory=FixedClock)
    ids: SequentialIds = field(default_factory=SequentialIds)
    images: InMemoryImageRepository = field(default_factory=InMemoryImageRepository)
    links: InMemorySessionLinks = field(default_factory=InMemorySessionLinks)
    storage: InMemoryStorage = field(init=False)
    multipart: InMemoryMultipart = field(init=False)
    events: InMemoryEvents = field(default_factory=InMemoryEvents)
    policy: UploadPolicy = DEFAULT_POLICY

    def __post_init__(self) -> None:
        self.storage = InMemoryStorage(self.clock)
        self.multipart = InMemoryMultipart(self.storage, self.clock)

    @property
    def upload_deps(self) -> UploadDeps:
        return UploadDeps(
            images=self.images,
            links=self.links,
            storage=self.storage,
            multipart=self.multipart,
            clock=self.clock,
            new_id=self.ids,
            policy=self.policy,
        )

    @property
    def images_deps(self) -> ImagesDeps:
        return ImagesDeps(
            images=self.images,
            links=self.links,
            storage=self.storage,
            events=self.events,
            multipart=self.multipart,
            clock=self.clock,
            urls=InMemoryImageUrls(),
        )
