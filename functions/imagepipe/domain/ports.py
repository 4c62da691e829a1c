"""Ports: what the domain needs from the outside world. Adapters implement them for AWS,
tests implement them in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any, Protocol

from imagepipe.domain.events import ImageEvent
from imagepipe.domain.model import (
    Connection,
    Enrichment,
    Image,
    Inspection,
    JobKind,
    Part,
    PartTarget,
    Rendered,
    SessionLink,
    Staged,
    UploadTarget,
)


class ImageRepository(Protocol):
    def get(self, image_id: str) -> Image | None: ...

    def get_many(self, image_ids: Sequence[str]) -> dict[str, Image]: ...

    def find_by_hash(self, tenant: str, sha256: str) -> Image | None: ...

    def create(self, image: Image) -> tuple[Image, bool]:
        """Create `image` unless (tenant, sha256) is already claimed.

        Returns the image that owns the hash and whether it is the one just created. Exactly one
        of any number of concurrent callers gets `True`. Raises ConcurrentModification when the
        image id is already taken and the hash is not claimed."""
        ...

    def save(self, image: Image) -> Image:
        """Write back a changed record; raises ConcurrentModification if its version moved, or
        if it was never created (no version) or has been deleted."""
        ...

    def index_phash(self, image: Image, phash: str) -> None:
        """Make the image findable by near-duplicate search (idempotent)."""
        ...

    def unindex_phash(self, image_id: str) -> None:
        """Remove the image from near-duplicate search (idempotent)."""
        ...

    def similar(self, tenant: str, phash: str) -> dict[str, str]:
        """imageId -> phash of this tenant's images sharing at least one band with `phash`."""
        ...

    def processing_before(self, moment: datetime) -> list[Image]:
        """Images `processing` whose jobs last started (processing_since) at or before
        `moment`, oldest first. Read from an index: eventually consistent, so a caller checks
        each image's status again before acting on it."""
        ...

    def release_hash(self, image: Image) -> None:
        """Remove the (tenant, sha256) claim if it still points at this image (idempotent)."""
        ...

    def delete(self, image: Image) -> None:
        """Remove the record and its hash claim (idempotent)."""
        ...


class SessionLinkRepository(Protocol):
    def link(self, link: SessionLink) -> bool:
        """Link an image to a session; returns False when the link already existed."""
        ...

    def linked(self, tenant: str, session_id: str, image_ids: Sequence[str]) -> set[str]:
        """Which of these images are linked to the session."""
        ...

    def unlink(self, tenant: str, session_id: str, image_id: str) -> bool:
        """Returns False when there was no such link."""
        ...

    def page(
        self, tenant: str, session_id: str, *, limit: int, token: str | None
    ) -> tuple[list[SessionLink], str | None]:
        """Links of a session, newest first. Raises InvalidRequest for a bad token."""
        ...

    def sessions_of(self, image_id: str) -> list[tuple[str, str]]:
        """(tenant, session_id) of every session linking the image."""
        ...


class ConnectionRepository(Protocol):
    """Live-update sockets and the one-time nonces of their tickets."""

    def claim_ticket(self, nonce: str, expires_at: datetime) -> bool:
        """Record a ticket's nonce as used; False when it already was (the ticket is spent)."""
        ...

    def add(self, connection: Connection) -> None: ...

    def remove(self, connection_id: str) -> None:
        """Forget a socket; no error when it is not there."""
        ...

    def of_session(self, tenant: str, session_id: str) -> list[str]:
        """Ids of the sockets open for one session of one tenant."""
        ...


class SocketGateway(Protocol):
    def post(self, connection_id: str, message: dict[str, Any]) -> bool:
        """Send a JSON text frame; False when the socket is gone (closed, unknown)."""
        ...


class Sink(Protocol):
    """Where a download writes: a file, or anything else that takes bytes in order."""

    def write(self, data: bytes, /) -> int: ...


class ObjectStorage(Protocol):
    def presign_upload(
        self, *, key: str, content_type: str, sha256: str, max_bytes: int, expires_in: int
    ) -> UploadTarget: ...

    def delete(self, keys: Iterable[str], prefixes: Iterable[str]) -> None:
        """Delete the keys and everything under the prefixes (idempotent: a key that is not
        there is no error; S3 does not say which keys existed)."""
        ...

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when it does not exist."""
        ...

    def download(self, key: str, into: Sink) -> bool:
        """Write the object's bytes into `into` in chunks of at most 1 MiB, never holding the
        whole object in memory; False (nothing written) when it does not exist."""
        ...

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None: ...

    def copy(self, source: str, target: str, *, content_type: str, cache_control: str) -> bool:
        """Server-side copy; False when the source does not exist (any more)."""
        ...

    def staged_before(self, cutoff: datetime) -> list[Staged]:
        """The uploads under uploads/ last written before `cutoff`."""
        ...

    def restage(self, staged: Staged) -> bool:
        """Write the upload over itself (a server-side copy, the bytes unchanged) so that S3
        sends its ObjectCreated event again, counting one more resend; False when it is gone."""
        ...


class ImageUrls(Protocol):
    """Where clients read the objects under images/ (thumbnails, variants, originals)."""

    def url(self, key: str) -> str:
        """A URL that fetches the object and stays valid for at least the configured
        lifetime (URL_EXPIRY_SECONDS)."""
        ...


class JobQueue(Protocol):
    def send(self, kind: JobKind, image_id: str, key_date: str) -> None:
        """`key_date` lets a job for a deleted image still find (and remove) its outputs."""
        ...


class EventPublisher(Protocol):
    def publish(self, event: ImageEvent) -> None:
        """Put the event on the images event bus; raises if it was not accepted."""
        ...


class ImageCodec(Protocol):
    """Decoding and encoding, implemented with Pillow in imagepipe.imaging. Raises
    InvalidImage for bytes that are not an acceptable image.

    `data` is the file's bytes or a seekable binary file holding them (read from its start,
    lazily: a decoder reads what it needs, so a large file need not be in memory)."""

    def prepare(self, data: bytes | IO[bytes]) -> tuple[Inspection, Rendered]:
        """Inspect (limits checked before decoding) and make the 150x150 thumbnail."""
        ...

    def variants(self, data: bytes | IO[bytes]) -> list[Rendered]: ...

    def analyze(self, data: bytes | IO[bytes]) -> dict[str, Any]: ...

    def preview(self, data: bytes | IO[bytes]) -> bytes:
        """A JPEG of at most 1024 px, sRGB, no metadata: what a labelling service is sent."""
        ...


class Labeler(Protocol):
    def enrich(
        self, preview: Callable[[], bytes], *, filename: str, metadata: Mapping[str, Any]
    ) -> Enrichment:
        """Tags and description of the image; `preview` (a JPEG of at most 1024 px) is only
        made when a service needs the pixels; `metadata` is the analysis (colours, EXIF...).
        Best effort: a failed call is reported in `missing`, never raised."""
        ...


class Embedder(Protocol):
    """Search's embeddings: images and query texts in one space."""

    def image(self, preview: Callable[[], bytes], text: str) -> list[float] | None:
        """The image's vector (from its pixels, or from its searchable `text` where the
        embedder only reads text); None when there is nothing to embed."""
        ...

    def text(self, query: str) -> list[float] | None:
        """A query's vector; None when it has nothing to embed."""
        ...


class VectorIndex(Protocol):
    """Search's index: one vector per image, found by the tenant and the sessions it is in."""

    def put(
        self, image_id: str, vector: Sequence[float], *, tenant: str, sessions: Sequence[str]
    ) -> None:
        """Add or replace the image's vector."""
        ...

    def delete(self, image_ids: Sequence[str]) -> None:
        """Remove these images' vectors; an id without one is no error."""
        ...

    def get(self, image_id: str) -> list[float] | None: ...

    def query(
        self, vector: Sequence[float], *, tenant: str, session_id: str | None, top_k: int
    ) -> list[tuple[str, float]]:
        """(imageId, score) of the top_k vectors of the tenant (and session) nearest to
        `vector`, best first; score is the cosine similarity (1: same direction)."""
        ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class IdGenerator(Protocol):
    def __call__(self) -> str: ...


class MultipartUploads(Protocol):
    """S3 multipart uploads of large files under uploads/, each part checked against the SHA-256
    signed into its URL."""

    def create(self, key: str, *, content_type: str) -> str:
        """Start a multipart upload (SHA-256 part checksums); returns its upload id."""
        ...

    def presign_part(
        self, key: str, upload_id: str, *, number: int, size: int, sha256: str, expires_in: int
    ) -> PartTarget:
        """A presigned UploadPart whose checksum (base64 SHA-256) and length are signed."""
        ...

    def parts(self, key: str, upload_id: str) -> list[Part] | None:
        """The parts uploaded so far, by number; None when there is no such open upload
        (completed, aborted or expired)."""
        ...

    def complete(self, key: str, upload_id: str, parts: Sequence[Part]) -> bool:
        """Assemble the object from these parts; False when there is no such open upload."""
        ...

    def abort(self, key: str, upload_id: str) -> None:
        """Discard the upload and its parts (idempotent: an unknown upload is no error)."""
        ...
