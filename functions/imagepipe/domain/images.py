"""Reads, listings, deletes and unlinks of images."""

from __future__ import annotations

from dataclasses import dataclass

from imagepipe.domain import keys
from imagepipe.domain.errors import NotFound
from imagepipe.domain.model import Image, Page
from imagepipe.domain.ports import ImageRepository, ObjectStorage, SessionLinkRepository
from imagepipe.domain.validation import validate_image_id, validate_session_id

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class ImagesDeps:
    images: ImageRepository
    links: SessionLinkRepository
    storage: ObjectStorage


def get_image(tenant: str, image_id: str, images: ImageRepository) -> Image:
    """Another tenant's image is reported exactly like a missing one."""
    image = images.get(validate_image_id(image_id))
    if image is None or image.tenant != tenant:
        raise NotFound(f"image {image_id!r} not found", field="imageId")
    return image


def list_session_images(
    tenant: str, session_id: str, deps: ImagesDeps, *, limit: int, token: str | None
) -> Page:
    validate_session_id(session_id)
    links, next_token = deps.links.page(tenant, session_id, limit=limit, token=token)
    found = deps.images.get_many([link.image_id for link in links])
    # A link can outlive its image for a moment while a delete cascades: skip it.
    images = [
        found[link.image_id]
        for link in links
        if link.image_id in found and found[link.image_id].tenant == tenant
    ]
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
    """Objects first, then links, then the record: a crash part-way leaves the record in place
    so that the DELETE can simply be retried."""
    image = get_image(tenant, image_id, deps.images)
    exact, prefixes = object_keys(image)
    deps.storage.delete(exact, prefixes)
    for link_tenant, session_id in deps.links.sessions_of(image.image_id):
        deps.links.unlink(link_tenant, session_id, image.image_id)
    deps.images.delete(image)


def unlink_image(tenant: str, session_id: str, image_id: str, deps: ImagesDeps) -> None:
    validate_session_id(session_id)
    validate_image_id(image_id)
    if not deps.links.unlink(tenant, session_id, image_id):
        raise NotFound(
            f"image {image_id!r} is not linked to session {session_id!r}", field="imageId"
        )
