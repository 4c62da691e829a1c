"""pynamodb models of the two tables. Their key schemas and indexes must equal the template's
(tests/test_template.py compares them); table names are bound at run time from settings."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
    LocalSecondaryIndex,
)
from pynamodb.models import Model

from imagepipe.adapters.aws import RETRIES, botocore_session

IMAGE_PK_PREFIX = "image#"
CLAIM_PK_PREFIX = "sha256#"


def image_pk(image_id: str) -> str:
    return f"{IMAGE_PK_PREFIX}{image_id}"


def claim_pk(tenant: str, sha256: str) -> str:
    return f"{CLAIM_PK_PREFIX}{tenant}#{sha256}"


def session_key(tenant: str, session_id: str) -> str:
    return f"{tenant}#{session_id}"


class VariantAttribute(MapAttribute[str, Any]):
    name = UnicodeAttribute()
    format = UnicodeAttribute()
    width = NumberAttribute()
    height = NumberAttribute()
    size = NumberAttribute()
    key = UnicodeAttribute()


class ByProcessingSince(GlobalSecondaryIndex["ImageRecord"]):
    """Sparse: only `processing` records carry its keys, so the sweeper reads the images that
    are processing, oldest first, without a scan."""

    class Meta:
        index_name = "byProcessingSince"
        projection = KeysOnlyProjection()

    in_processing = UnicodeAttribute(hash_key=True, attr_name="inProcessing")
    processing_since = UnicodeAttribute(range_key=True, attr_name="processingSince")


class ImageRecord(Model):
    """The image record, pk "image#<imageId>"."""

    class Meta:
        table_name = "ImagesTable"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="image")
    image_id = UnicodeAttribute(attr_name="imageId")
    tenant = UnicodeAttribute()
    sha256 = UnicodeAttribute()
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute(attr_name="contentType")
    size = NumberAttribute()
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    updated_at = UTCDateTimeAttribute(attr_name="updatedAt")
    key_date = UnicodeAttribute(attr_name="keyDate")
    uploaded_at = UTCDateTimeAttribute(attr_name="uploadedAt", null=True)
    processed_at = UTCDateTimeAttribute(attr_name="processedAt", null=True)
    error_code = UnicodeAttribute(attr_name="errorCode", null=True)
    error_message = UnicodeAttribute(attr_name="errorMessage", null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    format = UnicodeAttribute(null=True)
    original_key = UnicodeAttribute(attr_name="originalKey", null=True)
    thumbnail_key = UnicodeAttribute(attr_name="thumbnailKey", null=True)
    thumbnail_width = NumberAttribute(attr_name="thumbnailWidth", null=True)
    thumbnail_height = NumberAttribute(attr_name="thumbnailHeight", null=True)
    # ~5 KB of WebP, so that a listing needs no S3 read.
    thumbnail_data = BinaryAttribute(attr_name="thumbnailData", null=True, legacy_encoding=False)
    variants = ListAttribute(of=VariantAttribute, null=True)
    metadata = JSONAttribute(null=True)
    expires_at = TTLAttribute(attr_name="expiresAt", null=True)
    jobs_sent_at = UTCDateTimeAttribute(attr_name="jobsSentAt", null=True)
    jobs_resent_at = UTCDateTimeAttribute(attr_name="jobsResentAt", null=True)
    # The keys of byProcessingSince, set while the image is `processing` only.
    in_processing = UnicodeAttribute(attr_name="inProcessing", null=True)
    processing_since = UnicodeAttribute(attr_name="processingSince", null=True)
    variants_done = BooleanAttribute(attr_name="variantsDone", default=False)
    metadata_done = BooleanAttribute(attr_name="metadataDone", default=False)
    phash = UnicodeAttribute(null=True)
    upload_id = UnicodeAttribute(attr_name="uploadId", null=True)
    part_size = NumberAttribute(attr_name="partSize", null=True)
    version = VersionAttribute()

    by_processing_since = ByProcessingSince()


# The one hash key value of byProcessingSince.
IN_PROCESSING = "processing"


class HashClaim(Model):
    """Uniqueness of (tenant, sha256): pk "sha256#<tenant>#<hex>" -> imageId."""

    class Meta:
        table_name = "ImagesTable"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="sha256")
    image_id = UnicodeAttribute(attr_name="imageId")
    created_at = UTCDateTimeAttribute(attr_name="createdAt")


class ByPhashBand(GlobalSecondaryIndex["PhashBand"]):
    class Meta:
        index_name = "byPhashBand"
        projection = IncludeProjection(["phash"])

    band_key = UnicodeAttribute(hash_key=True, attr_name="bandKey")
    image_id = UnicodeAttribute(range_key=True, attr_name="imageId")


class PhashBand(Model):
    """One band of an image's perceptual hash: pk "band#<imageId>#<n>",
    bandKey "<tenant>#<n>#<value>" (the near-duplicate lookup key)."""

    class Meta:
        table_name = "ImagesTable"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="band")
    band_key = UnicodeAttribute(attr_name="bandKey")
    image_id = UnicodeAttribute(attr_name="imageId")
    phash = UnicodeAttribute()

    by_band = ByPhashBand()


def band_pk(image_id: str, index: int) -> str:
    return f"band#{image_id}#{index}"


def band_key(tenant: str, index: int, value: int) -> str:
    return f"{tenant}#{index}#{value:x}"


class ByLinkedAt(LocalSecondaryIndex["SessionLinkRecord"]):
    class Meta:
        index_name = "byLinkedAt"
        projection = AllProjection()

    session_key = UnicodeAttribute(hash_key=True, attr_name="sessionKey")
    linked_at = UnicodeAttribute(range_key=True, attr_name="linkedAt")


class ByImage(GlobalSecondaryIndex["SessionLinkRecord"]):
    class Meta:
        index_name = "byImage"
        projection = KeysOnlyProjection()

    image_id = UnicodeAttribute(hash_key=True, attr_name="imageId")
    session_key = UnicodeAttribute(range_key=True, attr_name="sessionKey")


class SessionLinkRecord(Model):
    class Meta:
        table_name = "SessionImagesTable"

    session_key = UnicodeAttribute(hash_key=True, attr_name="sessionKey")
    image_id = UnicodeAttribute(range_key=True, attr_name="imageId")
    # ISO-8601 UTC with microseconds: sorts chronologically as a string (the LSI's range key).
    linked_at = UnicodeAttribute(attr_name="linkedAt")
    tenant = UnicodeAttribute()
    session_id = UnicodeAttribute(attr_name="sessionId")

    by_linked_at = ByLinkedAt()
    by_image = ByImage()


CONNECTION_PK_PREFIX = "connection#"
TICKET_PK_PREFIX = "ticket#"


class BySession(GlobalSecondaryIndex["ConnectionRecord"]):
    """Sparse: only sockets carry sessionKey. KEYS_ONLY: the pk names the socket."""

    class Meta:
        index_name = "bySession"
        projection = KeysOnlyProjection()

    session_key = UnicodeAttribute(hash_key=True, attr_name="sessionKey")


class ConnectionRecord(Model):
    """A live-updates socket, pk "connection#<connectionId>"; gone by TTL after API Gateway's
    2-hour limit if its $disconnect never came."""

    class Meta:
        table_name = "ConnectionsTable"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="connection")
    connection_id = UnicodeAttribute(attr_name="connectionId")
    tenant = UnicodeAttribute()
    session_id = UnicodeAttribute(attr_name="sessionId")
    session_key = UnicodeAttribute(attr_name="sessionKey")
    connected_at = UTCDateTimeAttribute(attr_name="connectedAt")
    expires_at = TTLAttribute(attr_name="expiresAt")

    by_session = BySession()


class TicketRecord(Model):
    """A spent ticket's nonce, pk "ticket#<nonce>": kept until the ticket has expired anyway."""

    class Meta:
        table_name = "ConnectionsTable"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="ticket")
    expires_at = TTLAttribute(attr_name="expiresAt")


M = TypeVar("M", bound=Model)


@cache
def bind(model: type[M], table_name: str, region: str) -> type[M]:
    """A subclass of `model` bound to a concrete table (pynamodb reads the name from Meta)."""
    meta = type("Meta", (), {"table_name": table_name, "region": region})
    bound: type[M] = type(model.__name__, (model,), {"Meta": meta, "__module__": model.__module__})
    # pynamodb's client retries like the others (aws.RETRIES). Its Meta has no setting for the
    # retry mode, only its settings file; the connection takes it before it makes its client.
    connection = bound._get_connection().connection
    connection._retry_configuration = dict(RETRIES)  # type: ignore[assignment]
    connection._local.session = botocore_session()
    return bound
