"""Request and response bodies of the HTTP API (JSON, camelCase). They also make the OpenAPI
schema, so constraints are declared here even where the domain checks them again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from imagepipe.domain.errors import IMAGE_ERRORS, ErrorCode
from imagepipe.domain.multipart import MAX_PARTS_PER_REQUEST
from imagepipe.domain.validation import (
    ALLOWED_CONTENT_TYPES,
    MAX_FILENAME_LENGTH,
    MAX_FILES_PER_REQUEST,
    SESSION_ID_PATTERN,
    SHA256_PATTERN,
)

_IMAGE_ERROR_CODES: list[JsonValue] = [str(code) for code in sorted(IMAGE_ERRORS)]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class FileSpec(_Camel):
    filename: Annotated[str, Field(min_length=1, max_length=MAX_FILENAME_LENGTH)]
    content_type: Annotated[
        str,
        Field(
            description="Declared type; it only sets the upload's Content-Type. Ingest decides "
            "from the bytes.",
            json_schema_extra={"enum": sorted(ALLOWED_CONTENT_TYPES)},
        ),
    ]
    size: Annotated[int, Field(ge=1, description="Size in bytes (at most MaxUploadBytes).")]
    sha256: Annotated[
        str,
        BeforeValidator(_lower),
        Field(
            pattern=SHA256_PATTERN.pattern,
            description="SHA-256 of the bytes, 64 hex digits (either case).",
            # The validator above lowercases first, so the document states what is accepted
            # (pydantic leaves a constraint behind a BeforeValidator out of the schema).
            json_schema_extra={"pattern": "^[0-9a-fA-F]{64}$"},
        ),
    ]


class CreateUploadsRequest(_Camel):
    session_id: Annotated[
        str | None,
        Field(
            default=None,
            description="The session (conversation) to link the images to; the X-Session-Id "
            "header is used when absent.",
            pattern=SESSION_ID_PATTERN.pattern,
        ),
    ] = None
    files: Annotated[list[FileSpec], Field(min_length=1, max_length=MAX_FILES_PER_REQUEST)]


class UploadTargetOut(_Camel):
    """A presigned POST, in the shape @uppy/aws-s3's getUploadParameters returns."""

    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]
    headers: dict[str, str]
    expires_at: datetime


class MultipartTargetOut(_Camel):
    """A file above MultipartThresholdBytes: an S3 multipart upload, sent through the
    /uploads/{imageId}/parts and /complete routes."""

    method: Literal["MULTIPART"] = "MULTIPART"
    key: str
    upload_id: str
    part_size: Annotated[
        int, Field(description="Bytes of every part but the last (the remainder).")
    ]
    part_count: int
    expires_at: Annotated[
        datetime,
        Field(description="When S3 gives up the incomplete upload (1 day after it began)."),
    ]


class UploadOut(_Camel):
    image_id: str
    is_new: bool
    status: str
    upload: Annotated[
        UploadTargetOut | MultipartTargetOut | None, Field(discriminator="method")
    ] = None


class PartSpec(_Camel):
    part_number: Annotated[int, Field(ge=1, le=10_000)]
    size: Annotated[int, Field(ge=1, description="The part's bytes: partSize, the last the rest.")]
    sha256: Annotated[
        str,
        Field(
            min_length=44,
            max_length=44,
            description="Base64 of the part's SHA-256 digest (S3's x-amz-checksum-sha256).",
        ),
    ]


class SignPartsRequest(_Camel):
    parts: Annotated[list[PartSpec], Field(min_length=1, max_length=MAX_PARTS_PER_REQUEST)]


class PartTargetOut(_Camel):
    part_number: int
    method: Literal["PUT"] = "PUT"
    url: str
    headers: Annotated[
        dict[str, str], Field(description="Send each of them with the PUT, unchanged (signed).")
    ]
    expires_at: datetime


class SignPartsResponse(_Camel):
    parts: list[PartTargetOut]


class PartOut(_Camel):
    part_number: int
    size: int
    etag: str


class PartsResponse(_Camel):
    upload_id: str
    part_size: int
    part_count: int
    parts: list[PartOut]


class CompletedPart(_Camel):
    part_number: Annotated[int, Field(ge=1, le=10_000)]
    etag: Annotated[str, Field(min_length=1, max_length=128, description="The PUT's ETag.")]


class CompleteUploadRequest(_Camel):
    parts: Annotated[list[CompletedPart], Field(min_length=1, max_length=10_000)]


class CompleteUploadResponse(_Camel):
    image_id: str
    status: str


class CreateUploadsResponse(_Camel):
    uploads: list[UploadOut]


class ThumbnailOut(_Camel):
    url: str
    width: int
    height: int
    data_uri: str | None = Field(
        default=None, description="The WebP thumbnail inline, so a gallery needs no extra request."
    )


class ObjectOut(_Camel):
    key: str
    url: str


class VariantOut(_Camel):
    name: str
    format: str
    width: int
    height: int
    size: int
    key: str
    url: str


class ImageErrorOut(_Camel):
    code: str = Field(
        description="Why the image failed.",
        json_schema_extra={"enum": _IMAGE_ERROR_CODES},
    )
    message: str | None


class ErrorOut(_Camel):
    code: ErrorCode = Field(description="Stable machine-readable code, e.g. invalid_sha256.")
    message: str
    field: str | None = Field(default=None, description="The offending field, when there is one.")
    request_id: str | None = Field(default=None, description="Quote it when reporting a 500.")


class ImageSummary(_Camel):
    image_id: str
    status: str
    filename: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    created_at: datetime
    uploaded_at: datetime | None
    processed_at: datetime | None
    thumbnail: ThumbnailOut | None


class SimilarOut(_Camel):
    image_id: str
    distance: int = Field(description="Hamming distance of the 64-bit perceptual hashes (0-6)")
    filename: str
    thumbnail: ThumbnailOut | None


class ImageDetail(ImageSummary):
    sha256: str
    error: ImageErrorOut | None
    original: ObjectOut | None
    variants: list[VariantOut]
    metadata: dict[str, Any]
    similar: list[SimilarOut] = Field(
        default_factory=list,
        description="This tenant's images within Hamming distance 6 of this one, nearest first",
    )


class ImageListResponse(_Camel):
    images: list[ImageSummary]
    next_token: str | None


class SearchResult(_Camel):
    image_id: str
    score: float = Field(
        description="Cosine similarity to the query (or the image), best first; for a "
        "near-duplicate by perceptual hash, 1 - distance/64"
    )
    filename: str
    tags: list[str]
    thumbnail: ThumbnailOut | None


class SearchResponse(_Camel):
    results: list[SearchResult]
    next_token: str | None = None


class ErrorBody(_Camel):
    error: ErrorOut


class EventsTicketResponse(_Camel):
    url: Annotated[
        str,
        Field(
            description="The WebSocket URL to open within a minute, once: wss://... on AWS, "
            "ws://127.0.0.1:<api-port>/events locally; its ticket is in the query string."
        ),
    ]
    expires_at: Annotated[datetime, Field(description="When the ticket stops opening sockets.")]
