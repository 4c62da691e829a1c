"""One typed settings object per function, read from the environment that template.yaml sets."""

from __future__ import annotations

import os
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    region: str = Field(default="us-east-1", alias="AWS_REGION", min_length=1)
    images_table: str = Field(alias="IMAGES_TABLE", min_length=1)
    session_images_table: str = Field(alias="SESSION_IMAGES_TABLE", min_length=1)
    images_bucket: str = Field(alias="IMAGES_BUCKET", min_length=1)
    event_bus: str = Field(alias="EVENT_BUS_NAME", min_length=1)

    @classmethod
    def from_env(cls) -> Self:
        return cls.model_validate(dict(os.environ))


class SearchSettings(_Settings):
    """Search: images' vectors from this embedder, in this S3 Vectors index ("none": images
    are not indexed, and there is nothing to search)."""

    embedding_provider: Literal["none", "local", "bedrock"] = Field(
        default="none", alias="EMBEDDING_PROVIDER"
    )
    embedding_model_id: str = Field(
        default="amazon.titan-embed-image-v1", alias="EMBEDDING_MODEL_ID", min_length=1
    )
    vector_index_arn: str = Field(default="", alias="VECTOR_INDEX_ARN")

    @model_validator(mode="after")
    def _index_named(self) -> Self:
        if self.embedding_provider != "none" and not self.vector_index_arn:
            raise ValueError("VECTOR_INDEX_ARN names the index of the embeddings")
        return self


class PresignUploadSettings(_Settings):
    """PresignUploadFunction."""

    max_upload_bytes: int = Field(alias="MAX_UPLOAD_BYTES", gt=0)
    # S3 accepts longer, but a presigned upload is a bearer token: keep it short.
    presign_expiry_seconds: int = Field(default=300, alias="PRESIGN_EXPIRY_SECONDS", ge=1, le=900)
    # Above this, a file is uploaded in parts (S3 multipart) of about part_size_bytes.
    multipart_threshold_bytes: int = Field(alias="MULTIPART_THRESHOLD_BYTES", gt=0)
    part_size_bytes: int = Field(alias="MULTIPART_PART_SIZE_BYTES", ge=5 * 1024 * 1024)


class ImagesApiSettings(SearchSettings):
    """ImagesApiFunction."""

    # The minimum lifetime of the image URLs a read returns (presigned S3 GETs, or CDN URLs
    # signed for a window of this length).
    url_expiry_seconds: int = Field(default=3600, alias="URL_EXPIRY_SECONDS", ge=1, le=604800)
    # POST /sessions/{id}/events: the WebSocket URL handed out, and the key tickets are signed with.
    events_url: str = Field(alias="EVENTS_URL", pattern=r"^wss?://")
    ticket_key_secret: str = Field(alias="TICKET_KEY_SECRET", min_length=1)
    # Delivery through the CDN: empty means presigned S3 GETs. With a key pair id (a CloudFront
    # public key's id), URLs are signed with the private key PEM held in that secret.
    cdn_base_url: str = Field(default="", alias="CDN_BASE_URL", pattern=r"^$|^https?://")
    cdn_key_pair_id: str = Field(default="", alias="CDN_KEY_PAIR_ID")
    cdn_private_key_secret: str = Field(default="", alias="CDN_PRIVATE_KEY_SECRET")

    @model_validator(mode="after")
    def _signing_is_complete(self) -> Self:
        if self.cdn_key_pair_id and not self.cdn_private_key_secret:
            raise ValueError("CDN_KEY_PAIR_ID is set without CDN_PRIVATE_KEY_SECRET")
        if self.cdn_key_pair_id and not self.cdn_base_url:
            raise ValueError("CDN_KEY_PAIR_ID is set without CDN_BASE_URL")
        return self


# Lambda allocates CPU in proportion to memory: one full vCPU at 1,769 MB (AWS Lambda developer
# guide, "Configure Lambda function memory"), whatever number of CPUs the sandbox shows.
MB_PER_VCPU = 1769


class _ImagingSettings(_Settings):
    """The functions that decode images: a decode may take what their memory allows."""

    # Lambda sets the function's MemorySize here. The local stack runs every handler in one
    # process, where it cannot differ per function: there the smallest of the three applies
    # (tests/test_template.py holds the default to the template).
    memory_mb: int = Field(default=1024, alias="AWS_LAMBDA_FUNCTION_MEMORY_SIZE", gt=0)
    # The template's MaxPixels and MaxFrames, the same for Ingest and the workers: a worker
    # must decode whatever Ingest accepted.
    max_pixels: int = Field(alias="MAX_PIXELS", gt=0)
    max_frames: int = Field(alias="MAX_FRAMES", gt=0)


class IngestSettings(_ImagingSettings):
    """IngestFunction."""

    variants_queue_url: str = Field(alias="VARIANTS_QUEUE_URL", min_length=1)
    metadata_queue_url: str = Field(alias="METADATA_QUEUE_URL", min_length=1)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)


class VariantsSettings(_ImagingSettings):
    """VariantsFunction."""

    avif_speed: int = Field(default=9, alias="AVIF_SPEED", ge=0, le=10)
    # Unset: one encode at a time per vCPU the function's memory buys. Two encodes on one vCPU
    # only add their images to the peak memory (42-94 MiB measured on 12 MP photos).
    encode_workers: int | None = Field(default=None, alias="ENCODE_WORKERS", ge=1, le=16)

    @property
    def vcpus(self) -> int:
        """The vCPUs' worth of CPU time Lambda gives this memory (at least one)."""
        return max(1, self.memory_mb // MB_PER_VCPU)

    @property
    def workers(self) -> int:
        return self.encode_workers or self.vcpus


class MetadataSettings(_ImagingSettings, SearchSettings):
    """MetadataFunction."""

    labels_provider: Literal["none", "local", "rekognition", "bedrock"] = Field(
        default="none", alias="LABELS_PROVIDER"
    )
    labels_model_id: str = Field(
        default="amazon.nova-lite-v1:0", alias="LABELS_MODEL_ID", min_length=1
    )


class SweeperSettings(_Settings):
    """SweeperFunction."""

    variants_queue_url: str = Field(alias="VARIANTS_QUEUE_URL", min_length=1)
    metadata_queue_url: str = Field(alias="METADATA_QUEUE_URL", min_length=1)
    processing_timeout_seconds: int = Field(alias="PROCESSING_TIMEOUT_SECONDS", ge=1)


class EventsSocketSettings(_Settings):
    """EventsSocketFunction ($connect, $disconnect of the live-updates WebSocket API)."""

    connections_table: str = Field(alias="CONNECTIONS_TABLE", min_length=1)
    ticket_key_secret: str = Field(alias="TICKET_KEY_SECRET", min_length=1)


class EventsNotifierSettings(_Settings):
    """EventsNotifierFunction (lifecycle events from the bus to the sessions' sockets)."""

    connections_table: str = Field(alias="CONNECTIONS_TABLE", min_length=1)
    events_management_url: str = Field(alias="EVENTS_MANAGEMENT_URL", pattern=r"^https?://")
