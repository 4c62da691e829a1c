"""DynamoDB repositories (pynamodb) implementing the domain's ports."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from imagepipe.adapters.mapping import (
    image_to_record,
    link_to_record,
    record_to_image,
    record_to_link,
)
from imagepipe.adapters.records import (
    CONNECTION_PK_PREFIX,
    IMAGE_PK_PREFIX,
    IN_PROCESSING,
    TICKET_PK_PREFIX,
    ConnectionRecord,
    HashClaim,
    ImageRecord,
    PhashBand,
    SessionLinkRecord,
    TicketRecord,
    band_key,
    band_pk,
    bind,
    claim_pk,
    image_pk,
    session_key,
)
from imagepipe.domain.errors import ConcurrentModification
from imagepipe.domain.model import Connection, Image, SessionLink
from imagepipe.domain.pagination import Cursor, decode_token, encode_token, sortable_time
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
            return record_to_image(self._records.get(image_pk(image_id), consistent_read=True))
        except DoesNotExist:
            return None

    def get_many(self, image_ids: Sequence[str]) -> dict[str, Image]:
        found: dict[str, Image] = {}
        unique = list(dict.fromkeys(image_ids))
        for start in range(0, len(unique), _BATCH_GET):
            keys = [image_pk(i) for i in unique[start : start + _BATCH_GET]]
            for record in self._records.batch_get(keys, consistent_read=True):
                found[record.image_id] = record_to_image(record)
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
        record = image_to_record(self._records, image)
        try:
            record.save(condition=self._records.pk.does_not_exist())
        except PutError as error:
            if not _conditional_failure(error):
                # Every attempt failed, but one may have been applied (its answer lost): a
                # record no claim will ever lead to, and whose id the caller never hears of.
                self._forget(record)
                raise
            if not self._is_ours(record):
                # The id is taken: by an image created for these bytes before, or another one.
                owner = self.find_by_hash(image.tenant, image.sha256)
                if owner is None:
                    raise ConcurrentModification(
                        f"image id {image.image_id} is already taken"
                    ) from error
                return owner, False
            # Else the SDK's retry met our own first attempt, applied before its answer was
            # lost: the record is there, the claim is still to be made.
        claim = self._claims(
            claim_pk(image.tenant, image.sha256),
            image_id=image.image_id,
            created_at=image.created_at,
        )
        try:
            claim.save(condition=self._claims.pk.does_not_exist())
        except PutError as error:
            winner = (
                self.find_by_hash(image.tenant, image.sha256)
                if _conditional_failure(error)
                else None
            )
            if winner is not None and winner.image_id == image.image_id:
                return winner, True  # our own claim, applied before its answer was lost
            self._forget(record)  # our record must not outlive a lost claim
            if not _conditional_failure(error):
                raise
            if winner is None:
                raise ConcurrentModification(
                    "the image owning this hash was just deleted"
                ) from error
            return winner, False
        return record_to_image(record), True

    def _forget(self, record: ImageRecord) -> None:
        """Delete the record this create wrote, if it is there and still ours. If even that
        fails, the caller's original error is the one worth reporting: the stray record owns no
        hash, no session links to it, and it expires as `pending_upload` (`expiresAt`)."""
        ours = (self._records.sha256 == record.sha256) & (
            self._records.created_at == record.created_at
        )
        with contextlib.suppress(DeleteError):
            record.delete(condition=ours, add_version_condition=False)

    def _is_ours(self, record: ImageRecord) -> bool:
        """Whether the stored record with this one's id is the one we were writing."""
        try:
            stored = self._records.get(record.pk, consistent_read=True)
        except DoesNotExist:
            return False
        return (stored.tenant, stored.sha256, stored.created_at) == (
            record.tenant,
            record.sha256,
            record.created_at,
        )

    def save(self, image: Image) -> Image:
        if image.version is None:
            # pynamodb would take a record without a version for a new one and create it.
            raise ConcurrentModification(f"image {image.image_id} was never created")
        record = image_to_record(self._records, image)
        try:
            record.save()  # the VersionAttribute makes this conditional on the version read
        except PutError as error:
            if _conditional_failure(error):
                raise ConcurrentModification(f"image {image.image_id} changed meanwhile") from error
            raise
        return record_to_image(record)

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

    def processing_before(self, moment: datetime) -> list[Image]:
        keys = self._records.by_processing_since.query(
            IN_PROCESSING,
            self._records.processing_since <= sortable_time(moment),
        )
        ids = [record.pk.removeprefix(IMAGE_PK_PREFIX) for record in keys]
        found = self.get_many(ids)
        return [found[image_id] for image_id in ids if image_id in found]

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


class DynamoSessionLinkRepository:
    def __init__(self, table_name: str, region: str) -> None:
        self._links = bind(SessionLinkRecord, table_name, region)

    def link(self, link: SessionLink) -> bool:
        record = link_to_record(self._links, link)
        try:
            record.save(condition=self._links.session_key.does_not_exist())
        except PutError as error:
            if _conditional_failure(error):
                return False  # already linked: linking is idempotent
            raise
        return True

    def linked(self, tenant: str, session_id: str, image_ids: Sequence[str]) -> set[str]:
        key = session_key(tenant, session_id)
        unique = list(dict.fromkeys(image_ids))
        found: set[str] = set()
        for start in range(0, len(unique), _BATCH_GET):
            keys = [(key, image_id) for image_id in unique[start : start + _BATCH_GET]]
            found.update(record.image_id for record in self._links.batch_get(keys))
        return found

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
        start = None
        if token is not None:
            cursor = decode_token(token, tenant, session_id)
            start = {
                "sessionKey": {"S": key},
                "imageId": {"S": cursor.image_id},
                "linkedAt": {"S": cursor.linked_at},
            }
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
        links = [record_to_link(record) for record in records[:limit]]
        next_token = None
        if len(records) > limit:
            last = records[limit - 1]
            cursor = Cursor(linked_at=last.linked_at, image_id=last.image_id)
            next_token = encode_token(tenant, session_id, cursor)
        return links, next_token

    def sessions_of(self, image_id: str) -> list[tuple[str, str]]:
        pairs = []
        for record in self._links.by_image.query(image_id):
            tenant, _, session_id = record.session_key.rpartition("#")
            pairs.append((tenant, session_id))
        return pairs


class DynamoConnectionRepository:
    def __init__(self, table_name: str, region: str) -> None:
        self._connections = bind(ConnectionRecord, table_name, region)
        self._tickets = bind(TicketRecord, table_name, region)

    def claim_ticket(self, nonce: str, expires_at: datetime) -> bool:
        record = self._tickets(f"{TICKET_PK_PREFIX}{nonce}", expires_at=expires_at)
        try:
            record.save(condition=self._tickets.pk.does_not_exist())
        except PutError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def add(self, connection: Connection) -> None:
        self._connections(
            f"{CONNECTION_PK_PREFIX}{connection.connection_id}",
            connection_id=connection.connection_id,
            tenant=connection.tenant,
            session_id=connection.session_id,
            session_key=session_key(connection.tenant, connection.session_id),
            connected_at=connection.connected_at,
            expires_at=connection.expires_at,
        ).save()

    def remove(self, connection_id: str) -> None:
        self._connections(f"{CONNECTION_PK_PREFIX}{connection_id}").delete()

    def of_session(self, tenant: str, session_id: str) -> list[str]:
        return [
            record.pk.removeprefix(CONNECTION_PK_PREFIX)
            for record in self._connections.by_session.query(session_key(tenant, session_id))
        ]
