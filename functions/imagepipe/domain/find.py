"""GET /search and GET /images/{imageId}/similar: a tenant's images found by a text, or by
another image. The index gives candidates by vector (Titan's on AWS, hashed words locally);
the records decide what is shown: only visible, completed images of the caller's tenant, and
with a session, only the images that session links now (the index's session metadata is a
pre-filter, the links are the truth)."""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass

from imagepipe.domain.errors import ErrorCode, InvalidRequest, NotFound
from imagepipe.domain.images import ImagesDeps, get_image, similar_images
from imagepipe.domain.model import Image, ImageStatus
from imagepipe.domain.pagination import pack, unpack
from imagepipe.domain.ports import Embedder, VectorIndex
from imagepipe.domain.search import MAX_QUERY_LENGTH
from imagepipe.domain.similarity import PHASH_BITS
from imagepipe.domain.validation import validate_session_id

# How many of the nearest vectors a search reads (S3 Vectors' topK limit): results are paged
# within them, so a search has at most this many results.
CANDIDATES = 100


@dataclass(frozen=True)
class Hit:
    image: Image
    score: float


@dataclass(frozen=True)
class Hits:
    hits: list[Hit]
    next_token: str | None = None


def search_images(
    tenant: str,
    query: str | None,
    deps: ImagesDeps,
    *,
    limit: int,
    session_id: str | None = None,
    token: str | None = None,
) -> Hits:
    """The tenant's (and session's) images nearest to the query text, best first."""
    text = (query or "").strip()
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidRequest(
            f"q is at most {MAX_QUERY_LENGTH} characters", field="q", code=ErrorCode.QUERY_TOO_LONG
        )
    if session_id is not None:
        validate_session_id(session_id)
    index, embedder = _searching(deps)
    offset = _decode(token, tenant, session_id, text)
    vector = embedder.text(text)
    if vector is None:
        raise InvalidRequest(
            "q holds no word to search for", field="q", code=ErrorCode.INVALID_QUERY
        )
    found = index.query(vector, tenant=tenant, session_id=session_id, top_k=CANDIDATES)
    hits = _shown(tenant, found, deps, session_id)
    page = hits[offset : offset + limit]
    more = len(hits) > offset + limit
    next_token = _encode(tenant, session_id, text, offset + limit) if more else None
    return Hits(page, next_token)


def similar_to(tenant: str, image_id: str, deps: ImagesDeps, *, limit: int) -> list[Hit]:
    """The tenant's images most like this one: its near-duplicates by perceptual hash first
    (score 1 - distance/64), then its nearest neighbours in the index."""
    image = get_image(tenant, image_id, deps.images)
    duplicates = [
        Hit(other, 1.0 - distance / PHASH_BITS)
        for other, distance in similar_images(tenant, image, deps.images)
        if other.status is ImageStatus.COMPLETED
    ]
    seen = {image.image_id} | {hit.image.image_id for hit in duplicates}
    neighbours: list[Hit] = []
    if deps.vectors is not None:
        vector = deps.vectors.get(image.image_id)
        if vector is not None:
            top_k = min(CANDIDATES, limit + len(seen))
            found = deps.vectors.query(vector, tenant=tenant, session_id=None, top_k=top_k)
            neighbours = [h for h in _shown(tenant, found, deps) if h.image.image_id not in seen]
    return (duplicates + neighbours)[:limit]


def _searching(deps: ImagesDeps) -> tuple[VectorIndex, Embedder]:
    if deps.vectors is None or deps.embedder is None:
        raise NotFound(
            "search is not enabled here (EmbeddingProvider is none)", code=ErrorCode.SEARCH_DISABLED
        )
    return deps.vectors, deps.embedder


def _shown(
    tenant: str, found: list[tuple[str, float]], deps: ImagesDeps, session_id: str | None = None
) -> list[Hit]:
    """The hits a caller may see, in the index's order: a positive score (nothing in common
    is no result), a completed image of the tenant, linked to the session if one is given."""
    scored = [(image_id, score) for image_id, score in found if score > 0]
    ids = [image_id for image_id, _ in scored]
    records = deps.images.get_many(ids)
    if session_id is not None:
        in_session = deps.links.linked(tenant, session_id, ids)
        records = {i: r for i, r in records.items() if i in in_session}
    return [
        Hit(records[image_id], score)
        for image_id, score in scored
        if image_id in records
        and records[image_id].tenant == tenant
        and records[image_id].visible
        and records[image_id].status is ImageStatus.COMPLETED
    ]


def _encode(tenant: str, session_id: str | None, query: str, offset: int) -> str:
    return pack({"s": _search(tenant, session_id, query), "o": offset})


def _decode(token: str | None, tenant: str, session_id: str | None, query: str) -> int:
    """The offset a token of this very search carries; InvalidRequest for any other."""
    if token is None:
        return 0
    try:
        data = unpack(token)
        offset = data["o"]
        if data["s"] != _search(tenant, session_id, query):
            raise ValueError("a token of another search")
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 < offset < CANDIDATES:
            raise ValueError("offset out of range")
    except (ValueError, TypeError, KeyError, binascii.Error) as error:
        raise InvalidRequest(
            "nextToken is not a token returned by this search",
            field="nextToken",
            code=ErrorCode.INVALID_NEXT_TOKEN,
        ) from error
    return offset


def _search(tenant: str, session_id: str | None, query: str) -> str:
    return hashlib.sha256(f"{tenant}#{session_id or ''}#{query}".encode()).hexdigest()[:16]
