"""DynamoDB repositories (pynamodb) implementing the domain's ports."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from imagepipe.adapters.records import (
    HashClaim,
    ImageRecord,
    PhashBand,
    SessionLinkRecord,
    VariantAttribute,
    band_key,
    band_pk,
    bind,
    claim_pk,
    image_pk,
    session_key,
)
from imagepipe.domain.errors import ConcurrentModification, InvalidRequest
from imagepipe.domain.model import Image, ImageStatus, SessionLink, Thumbnail, Variant
from imagepipe.domain.similarity import BAND_WIDTHS, bands

# BatchGetItem takes at most 100 keys per call.
_BATCH_GET = 100


def _conditional_failure(error: PutError | DeleteError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


class DynamoImageRepository:
    def __init__(self, table_name: str, region: str) -> None:
        self._records = bind(ImageRecord, table_name, region)
        self._claims = bind(HashClaim, table_name, region)
        self._bands = bind(PhashBand, table_name, region)

    def get(self, image_id: str) -> Image | None:
        try:
            return _to_image(self._records.get(image_pk(image_id), consistent_read=True))
        except DoesNotExist:
            return None

    def get_many(self, image_ids: Sequence[str]) -> dict[str, Image]:
        found: dict[str, Image] = {}
        unique = list(dict.fromkeys(image_ids))
        for start in range(0, len(unique), _BATCH_GET):
            keys = [image_pk(i) for i in unique[start : start + _BATCH_GET]]
            for record in self._records.batch_get(keys, consistent_read=True):
                found[record.image_id] = _to_image(record)
        return found

    def find_by_hash(self, tenant: str, sha256: str) -> Image | None:
        try:
            claim = self._claims.get(claim_pk(tenant, sha256), consistent_read=True)
        except DoesNotExist:
            return None
        image = self.get(claim.image_id)
        if image is None:
            # Records are written before their claim and deleted after it, so a claim without a
            # record is debris (e.g. a record removed by hand): drop it so the hash can be reused.
            self._delete_claim(tenant, sha256, claim.image_id)
        return image

    def create(self, image: Image) -> tuple[Image, bool]:
        # The record goes first: whoever reads a claim can always follow it to a record.
        record = _to_record(self._records, image)
        record.save(condition=self._records.pk.does_not_exist())
        claim = self._claims(
            claim_pk(image.tenant, image.sha256),
            image_id=image.image_id,
            created_at=image.created_at,
        )
        try:
            claim.save(condition=self._claims.pk.does_not_exist())
        except PutError as error:
            # Our record must not outlive a lost claim; if even that delete fails, the original
            # error is the one worth reporting (the stray record owns no hash and is harmless).
            with contextlib.suppress(DeleteError):
                record.delete()
            if not _conditional_failure(error):
                raise
            winner = self.find_by_hash(image.tenant, image.sha256)
            if winner is None:
                raise ConcurrentModification(
                    "the image owning this hash was just deleted"
                ) from error
            return winner, False
        return _to_image(record), True

    def save(self, image: Image) -> Image:
        record = _to_record(self._records, image)
        try:
            record.save()  # the VersionAttribute makes this conditional on the version read
        except PutError as error:
            if _conditional_failure(error):
                raise ConcurrentModification(f"image {image.image_id} changed meanwhile") from error
            raise
        return _to_image(record)

    def index_phash(self, image: Image, phash: str) -> None:
        with self._bands.batch_write() as batch:
            for index, value in bands(phash):
                batch.save(
                    self._bands(
                        band_pk(image.image_id, index),
                        band_key=band_key(image.tenant, index, value),
                        image_id=image.image_id,
                        phash=phash,
                    )
                )

    def unindex_phash(self, image_id: str) -> None:
        with self._bands.batch_write() as batch:
            for index in range(len(BAND_WIDTHS)):
                batch.delete(self._bands(band_pk(image_id, index)))

    def similar(self, tenant: str, phash: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for index, value in bands(phash):
            for band in self._bands.by_band.query(band_key(tenant, index, value)):
                found[band.image_id] = band.phash
        return found

    def release_hash(self, image: Image) -> None:
        self._delete_claim(image.tenant, image.sha256, image.image_id)

    def delete(self, image: Image) -> None:
        # Claim first, record last: a crash in between leaves a record that a retry can find.
        self._delete_claim(image.tenant, image.sha256, image.image_id)
        self._records(image_pk(image.image_id)).delete(add_version_condition=False)

    def _delete_claim(self, tenant: str, sha256: str, image_id: str) -> None:
        try:
            self._claims(claim_pk(tenant, sha256)).delete(
                condition=self._claims.image_id == image_id
            )
        except DeleteError as error:
            if not _conditional_failure(error):
                raise


def _to_record(model: type[ImageRecord], image: Image) -> ImageRecord:
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
        variants_done=image.variants_done,
        metadata_done=image.metadata_done,
        phash=image.phash,
    )
    if image.thumbnail is not None:
        record.thumbnail_key = image.thumbnail.key
        record.thumbnail_width = image.thumbnail.width
        record.thumbnail_height = image.thumbnail.height
        record.thumbnail_data = image.thumbnail.data
    if image.version is not None:
        record.version = image.version
    return record


def _to_image(record: ImageRecord) -> Image:
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
        variants_done=bool(record.variants_done),
        metadata_done=bool(record.metadata_done),
        phash=record.phash,
    )


class DynamoSessionLinkRepository:
    def __init__(self, table_name: str, region: str) -> None:
        self._links = bind(SessionLinkRecord, table_name, region)

    def link(self, link: SessionLink) -> bool:
        record = self._links(
            session_key(link.tenant, link.session_id),
            link.image_id,
            linked_at=_iso(link.linked_at),
            tenant=link.tenant,
            session_id=link.session_id,
        )
        try:
            record.save(condition=self._links.session_key.does_not_exist())
        except PutError as error:
            if _conditional_failure(error):
                return False  # already linked: linking is idempotent
            raise
        return True

    def unlink(self, tenant: str, session_id: str, image_id: str) -> bool:
        try:
            self._links(session_key(tenant, session_id), image_id).delete(
                condition=self._links.session_key.exists()
            )
        except DeleteError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def page(
        self, tenant: str, session_id: str, *, limit: int, token: str | None
    ) -> tuple[list[SessionLink], str | None]:
        key = session_key(tenant, session_id)
        start = _decode_token(token, key) if token else None
        # One more than asked: if it exists there is a next page, and the token points at the
        # last item returned (never a token leading to an empty page).
        results = self._links.by_linked_at.query(
            key,
            scan_index_forward=False,
            limit=limit + 1,
            page_size=limit + 1,
            last_evaluated_key=start,
            consistent_read=True,
        )
        records = list(results)
        links = [
            SessionLink(
                tenant=r.tenant,
                session_id=r.session_id,
                image_id=r.image_id,
                linked_at=datetime.fromisoformat(r.linked_at),
            )
            for r in records[:limit]
        ]
        next_token = None
        if len(records) > limit:
            last = records[limit - 1]
            next_token = _encode_token(key, last.image_id, last.linked_at)
        return links, next_token

    def sessions_of(self, image_id: str) -> list[tuple[str, str]]:
        pairs = []
        for record in self._links.by_image.query(image_id):
            tenant, _, session_id = record.session_key.rpartition("#")
            pairs.append((tenant, session_id))
        return pairs


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _session_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _encode_token(key: str, image_id: str, linked_at: str) -> str:
    # The session's digest ties the token to its listing: replayed on another session it is
    # refused instead of silently skipping items.
    data = {"s": _session_digest(key), "i": image_id, "t": linked_at}
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, key: str) -> dict[str, dict[str, Any]]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        image_id, linked_at = data["i"], data["t"]
        if not isinstance(image_id, str) or not isinstance(linked_at, str):
            raise TypeError("token fields must be strings")
        if data["s"] != _session_digest(key):
            raise ValueError("token of another listing")
        datetime.fromisoformat(linked_at)
    except (ValueError, TypeError, KeyError, binascii.Error) as error:
        raise InvalidRequest(
            "nextToken is not a token returned by this listing",
            field="nextToken",
            code="invalid_next_token",
        ) from error
    return {"sessionKey": {"S": key}, "imageId": {"S": image_id}, "linkedAt": {"S": linked_at}}
