"""Reads, listings, deletes and unlinks of images."""

from __future__ import annotations

from dataclasses import dataclass, replace

from imagepipe.domain import keys
from imagepipe.domain.errors import NotFound
from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.locking import update_image
from imagepipe.domain.model import Image, ImageStatus, Page
from imagepipe.domain.ports import (
    Clock,
    Embedder,
    EventPublisher,
    ImageRepository,
    ImageUrls,
    MultipartUploads,
    ObjectStorage,
    SessionLinkRepository,
    VectorIndex,
)
from imagepipe.domain.similarity import MAX_DISTANCE, hamming
from imagepipe.domain.validation import validate_image_id, validate_session_id

# An event's detail stays far below EventBridge's 256 KB entry limit (session ids are at most
# 128 characters): past this many sessions, the rest hear of the deletion by polling.
MAX_NAMED_SESSIONS = 500


@dataclass(frozen=True)
class ImagesDeps:
    images: ImageRepository
    links: SessionLinkRepository
    storage: ObjectStorage
    events: EventPublisher
    multipart: MultipartUploads
    clock: Clock
    # The URLs a read hands out: the CDN's when one is configured, else presigned S3 GETs.
    urls: ImageUrls
    # Search's index and the embedder of query texts (None: images are not indexed).
    vectors: VectorIndex | None = None
    embedder: Embedder | None = None


def get_image(tenant: str, image_id: str, images: ImageRepository) -> Image:
    """Another tenant's image is reported exactly like a missing one."""
    image = images.get(validate_image_id(image_id))
    if image is None or image.tenant != tenant or not image.visible:
        raise NotFound(f"image {image_id!r} not found", field="imageId")
    return image


def similar_images(tenant: str, image: Image, images: ImageRepository) -> list[tuple[Image, int]]:
    """This tenant's other images within Hamming distance 6 of the image's perceptual hash,
    nearest first."""
    if image.phash is None:
        return []
    candidates = images.similar(tenant, image.phash)
    close = {
        image_id: hamming(image.phash, phash)
        for image_id, phash in candidates.items()
        if image_id != image.image_id and hamming(image.phash, phash) <= MAX_DISTANCE
    }
    found = images.get_many(sorted(close))
    matches = [
        (other, close[other.image_id])
        for other in found.values()
        if other.tenant == tenant and other.visible
    ]
    return sorted(matches, key=lambda match: (match[1], match[0].image_id))


def list_session_images(
    tenant: str, session_id: str, deps: ImagesDeps, *, limit: int, token: str | None
) -> Page:
    validate_session_id(session_id)
    links, next_token = deps.links.page(tenant, session_id, limit=limit, token=token)
    found = deps.images.get_many([link.image_id for link in links])
    images = []
    for link in links:
        image = found.get(link.image_id)
        if image is not None and image.tenant == tenant:
            if image.visible:
                images.append(image)
        elif image is None:
            # A link can outlive its image when it was written while a delete cascaded (the
            # index the cascade reads is eventually consistent): drop it now that it is seen.
            deps.links.unlink(tenant, session_id, link.image_id)
    return Page(images=images, next_token=next_token)


def object_keys(image: Image) -> tuple[list[str], list[str]]:
    """Every key the image may own: what the record references and the prefixes that can hold
    objects a crashed step wrote before recording them."""
    exact = [keys.staging_key(image.image_id)]
    if image.original_key:
        exact.append(image.original_key)
    if image.thumbnail:
        exact.append(image.thumbnail.key)
    exact.extend(variant.key for variant in image.variants)
    prefixes = [
        keys.original_prefix(image.key_date, image.image_id),
        keys.variants_prefix(image.key_date, image.image_id),
    ]
    return exact, prefixes


def delete_image(tenant: str, image_id: str, deps: ImagesDeps) -> None:
    """The hash claim goes first, so that no new upload request can find the image any more;
    then objects, links and the record last: a crash part-way leaves the record in place so
    that the DELETE can simply be retried. Links are swept again once the record is gone, for
    any written by a request that found the image just before."""
    image = deps.images.get(validate_image_id(image_id))
    if image is None or image.tenant != tenant:
        raise NotFound(f"image {image_id!r} not found", field="imageId")
    # A record already `deleting` is an earlier DELETE that failed part-way: finish it.
    deps.images.release_hash(image)
    image = _mark_deleting(image, deps.images)
    if image.upload_id is not None:
        # Parts of a large file still being uploaded: gone with the image (S3 would abort them
        # after a day anyway, and bill them until then).
        deps.multipart.abort(keys.staging_key(image.image_id), image.upload_id)
    exact, prefixes = object_keys(image)
    deps.storage.delete(exact, prefixes)
    sessions = _unlink_everywhere(image.image_id, deps)
    deps.images.unindex_phash(image.image_id)
    if deps.vectors is not None:
        deps.vectors.delete([image.image_id])
    deps.images.delete(image)
    sessions |= _unlink_everywhere(image.image_id, deps)
    # The event names the sessions that linked the image (live updates reach them); a retried
    # DELETE that finds no links left names none, and its sockets were told the first time.
    named = tuple(sorted(s for t, s in sessions if t == image.tenant)[:MAX_NAMED_SESSIONS])
    deps.events.publish(ImageEvent.of(EventType.DELETED, image, deps.clock(), named))


def _mark_deleting(image: Image, images: ImageRepository) -> Image:
    """From here on, a worker that saves after us fails on the version and removes what it
    wrote; one that saved before us wrote objects that the sweep below finds. A record already
    `deleting` is saved again all the same: its version moves, so a racing worker still loses."""
    deleting = update_image(
        images,
        image.image_id,
        lambda current: replace(current, status=ImageStatus.DELETING),
        first=image,
        deleting_ok=True,
    )
    if deleting is None:
        raise NotFound(f"image {image.image_id!r} not found", field="imageId")
    return deleting


def _unlink_everywhere(image_id: str, deps: ImagesDeps) -> set[tuple[str, str]]:
    sessions = set(deps.links.sessions_of(image_id))
    for link_tenant, session_id in sessions:
        deps.links.unlink(link_tenant, session_id, image_id)
    return sessions


def unlink_image(tenant: str, session_id: str, image_id: str, deps: ImagesDeps) -> None:
    validate_session_id(session_id)
    validate_image_id(image_id)
    if not deps.links.unlink(tenant, session_id, image_id):
        raise NotFound(
            f"image {image_id!r} is not linked to session {session_id!r}", field="imageId"
        )
