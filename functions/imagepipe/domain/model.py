"""Domain types of imagepipe: images, statuses, session links, upload targets, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

PUBLIC_TENANT = "public"


class ImageStatus(StrEnum):
    PENDING_UPLOAD = "pending_upload"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    # Internal: a DELETE is removing the image. Readers see a 404; writers that lose a race
    # against it clean up what they wrote.
    DELETING = "deleting"

    @property
    def accepts_upload(self) -> bool:
        """An image still waiting for (or needing again) its bytes gets a fresh upload target."""
        return self in (ImageStatus.PENDING_UPLOAD, ImageStatus.FAILED)


@dataclass(frozen=True)
class Thumbnail:
    key: str
    width: int
    height: int
    data: bytes | None = None


@dataclass(frozen=True)
class Variant:
    name: str
    format: str
    width: int
    height: int
    size: int
    key: str


@dataclass
class Image:
    """The image record. `version` is the optimistic-locking counter kept by the repository."""

    image_id: str
    tenant: str
    sha256: str
    filename: str
    content_type: str
    size: int
    status: ImageStatus
    created_at: datetime
    updated_at: datetime
    # The UTC date of the upload request, fixed once: every object key of the image uses it,
    # so a retried step writes the very same keys.
    key_date: str
    version: int | None = None
    uploaded_at: datetime | None = None
    processed_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    original_key: str | None = None
    thumbnail: Thumbnail | None = None
    variants: list[Variant] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # Processing bookkeeping: when Ingest sent the two jobs, and which jobs are done (the
    # completion join reads both flags under the record's version).
    # Set while the image waits for its bytes: DynamoDB's TTL removes an abandoned
    # `pending_upload` record (its claim and links heal on their next read).
    expires_at: datetime | None = None
    jobs_sent_at: datetime | None = None
    # When the sweeper sent the missing jobs again (once): the next timeout fails the image.
    jobs_resent_at: datetime | None = None
    variants_done: bool = False
    metadata_done: bool = False
    phash: str | None = None
    # The S3 multipart upload open for the bytes (large files), and its part size: kept while
    # the image is `pending_upload`, so a client that lost its state resumes the same upload.
    upload_id: str | None = None
    part_size: int | None = None

    @property
    def bytes_arrived(self) -> bool:
        """Whether the upload is over: ingested, or a multipart upload assembled by S3 (its
        upload id dropped, its part size kept) that Ingest has yet to take."""
        if self.status is ImageStatus.PENDING_UPLOAD:
            return self.upload_id is None and self.part_size is not None
        return self.status in (ImageStatus.PROCESSING, ImageStatus.COMPLETED)

    @property
    def visible(self) -> bool:
        return self.status is not ImageStatus.DELETING

    @property
    def processing_since(self) -> datetime | None:
        """When the image's jobs last started: at Ingest, or when the sweeper sent them again;
        None unless the image is `processing`. The sweeper's index is keyed by it."""
        if self.status is not ImageStatus.PROCESSING:
            return None
        return self.jobs_resent_at or self.uploaded_at or self.updated_at

    def failed(self, code: str, message: str, at: datetime) -> Image:
        """A copy that ended `failed` with this error."""
        return replace(
            self,
            status=ImageStatus.FAILED,
            error_code=code,
            error_message=message,
            updated_at=at,
            upload_id=None,  # whatever was uploaded is gone: a retry starts a new upload
            part_size=None,
        )


@dataclass(frozen=True)
class SessionLink:
    tenant: str
    session_id: str
    image_id: str
    linked_at: datetime


@dataclass(frozen=True)
class UploadTarget:
    """A presigned POST in the shape Uppy's `@uppy/aws-s3` `getUploadParameters` expects."""

    url: str
    fields: dict[str, str]
    expires_at: datetime
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MultipartTarget:
    """An open S3 multipart upload: every part but the last is `part_size` bytes."""

    key: str
    upload_id: str
    part_size: int
    part_count: int
    expires_at: datetime
    method: str = "MULTIPART"


@dataclass(frozen=True)
class Part:
    """A part S3 holds: its ETag and, when S3 reports it, its SHA-256 (base64)."""

    number: int
    size: int
    etag: str
    sha256: str | None = None


@dataclass(frozen=True)
class PartRequest:
    number: int
    size: int
    sha256: str  # base64 of the part's SHA-256 digest, as S3's x-amz-checksum-sha256


@dataclass(frozen=True)
class PartTarget:
    """A presigned UploadPart: PUT the part's bytes to `url` with every header of `headers`."""

    number: int
    url: str
    headers: dict[str, str]
    expires_at: datetime
    method: str = "PUT"


@dataclass(frozen=True)
class FileRequest:
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class UploadResult:
    image: Image
    is_new: bool
    upload: UploadTarget | MultipartTarget | None


@dataclass(frozen=True)
class Inspection:
    """What Ingest learns from the bytes (never from the client)."""

    format: str
    ext: str
    content_type: str
    width: int
    height: int
    frames: int


@dataclass(frozen=True)
class Rendered:
    name: str
    format: str
    width: int
    height: int
    data: bytes
    content_type: str


@dataclass(frozen=True)
class Staged:
    """An upload still under uploads/: Ingest has not finished with it."""

    key: str
    content_type: str
    resends: int  # how often its ObjectCreated event was made to happen again


class JobKind(StrEnum):
    VARIANTS = "variants"
    METADATA = "metadata"
    # A completed image's tags, description and search vector made again (MetadataFunction):
    # what a provider could not give the first time, or another provider's.
    REINDEX = "reindex"


class Outcome(StrEnum):
    """What one processing step did, for logs and metrics."""

    PROCESSING = "processing"  # ingested, jobs sent
    FAILED = "failed"  # bad file: recorded with its error code, staging object removed
    COMPLETED = "completed"  # this job completed the image
    DONE = "done"  # this job's part is recorded; the other job is still running
    SKIPPED = "skipped"  # duplicate or late delivery: nothing to do
    ORPHAN = "orphan"  # no (live) record: whatever this step wrote was removed


@dataclass(frozen=True)
class Page:
    images: list[Image]
    next_token: str | None


@dataclass(frozen=True)
class Connection:
    """A browser's live-updates socket, bound by its ticket to one session of one tenant."""

    connection_id: str
    tenant: str
    session_id: str
    connected_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Enrichment:
    """What a labelling provider says of an image: tags (lower-case words or short phrases), a
    one-sentence description, and Rekognition's labels with their confidences. `missing` names
    what it could not give this time (a throttled or refused call): the image completes anyway
    and the record says so."""

    tags: tuple[str, ...] = ()
    description: str | None = None
    labels: tuple[dict[str, Any], ...] = ()
    missing: tuple[str, ...] = ()
