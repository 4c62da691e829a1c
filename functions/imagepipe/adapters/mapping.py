"""Domain objects to pynamodb records and back: the one place that knows how an image and a
session link are laid out as DynamoDB items."""

from __future__ import annotations

from datetime import datetime

from imagepipe.adapters.records import (
    IN_PROCESSING,
    ImageRecord,
    SessionLinkRecord,
    VariantAttribute,
    image_pk,
    session_key,
)
from imagepipe.domain.model import Image, ImageStatus, SessionLink, Thumbnail, Variant
from imagepipe.domain.pagination import sortable_time


def image_to_record(model: type[ImageRecord], image: Image) -> ImageRecord:
    record = model(
        image_pk(image.image_id),
        image_id=image.image_id,
        tenant=image.tenant,
        sha256=image.sha256,
        filename=image.filename,
        content_type=image.content_type,
        size=image.size,
        status=image.status.value,
        created_at=image.created_at,
        updated_at=image.updated_at,
        key_date=image.key_date,
        uploaded_at=image.uploaded_at,
        processed_at=image.processed_at,
        error_code=image.error_code,
        error_message=image.error_message,
        width=image.width,
        height=image.height,
        format=image.format,
        original_key=image.original_key,
        variants=[
            VariantAttribute(
                name=v.name, format=v.format, width=v.width, height=v.height, size=v.size, key=v.key
            )
            for v in image.variants
        ]
        or None,
        metadata=image.metadata or None,
        expires_at=image.expires_at,
        jobs_sent_at=image.jobs_sent_at,
        jobs_resent_at=image.jobs_resent_at,
        variants_done=image.variants_done,
        metadata_done=image.metadata_done,
        phash=image.phash,
        upload_id=image.upload_id,
        part_size=image.part_size,
    )
    if image.thumbnail is not None:
        record.thumbnail_key = image.thumbnail.key
        record.thumbnail_width = image.thumbnail.width
        record.thumbnail_height = image.thumbnail.height
        record.thumbnail_data = image.thumbnail.data
    since = image.processing_since
    if since is not None:
        record.in_processing = IN_PROCESSING
        record.processing_since = sortable_time(since)
    if image.version is not None:
        record.version = image.version
    return record


def record_to_image(record: ImageRecord) -> Image:
    thumbnail = None
    if record.thumbnail_key:
        thumbnail = Thumbnail(
            key=record.thumbnail_key,
            width=int(record.thumbnail_width or 0),
            height=int(record.thumbnail_height or 0),
            data=record.thumbnail_data,
        )
    return Image(
        image_id=record.image_id,
        tenant=record.tenant,
        sha256=record.sha256,
        filename=record.filename,
        content_type=record.content_type,
        size=int(record.size),
        status=ImageStatus(record.status),
        created_at=record.created_at,
        updated_at=record.updated_at,
        key_date=record.key_date,
        version=int(record.version) if record.version is not None else None,
        uploaded_at=record.uploaded_at,
        processed_at=record.processed_at,
        error_code=record.error_code,
        error_message=record.error_message,
        width=int(record.width) if record.width is not None else None,
        height=int(record.height) if record.height is not None else None,
        format=record.format,
        original_key=record.original_key,
        thumbnail=thumbnail,
        variants=[
            Variant(
                name=v.name,
                format=v.format,
                width=int(v.width),
                height=int(v.height),
                size=int(v.size),
                key=v.key,
            )
            for v in record.variants or []
        ],
        metadata=dict(record.metadata or {}),
        expires_at=record.expires_at,
        jobs_sent_at=record.jobs_sent_at,
        jobs_resent_at=record.jobs_resent_at,
        variants_done=bool(record.variants_done),
        metadata_done=bool(record.metadata_done),
        phash=record.phash,
        upload_id=record.upload_id,
        part_size=int(record.part_size) if record.part_size is not None else None,
    )


def link_to_record(model: type[SessionLinkRecord], link: SessionLink) -> SessionLinkRecord:
    return model(
        session_key(link.tenant, link.session_id),
        link.image_id,
        # The LSI's range key: a string that sorts chronologically.
        linked_at=sortable_time(link.linked_at),
        tenant=link.tenant,
        session_id=link.session_id,
    )


def record_to_link(record: SessionLinkRecord) -> SessionLink:
    return SessionLink(
        tenant=record.tenant,
        session_id=record.session_id,
        image_id=record.image_id,
        linked_at=datetime.fromisoformat(record.linked_at),
    )
