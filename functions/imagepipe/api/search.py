"""GET /search and GET /images/{imageId}/similar: the caller's images found by a text or by
another image (README "Search")."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from imagepipe.api.app import current_tenant
from imagepipe.api.deps import images_deps
from imagepipe.api.schemas import ErrorBody, SearchResponse
from imagepipe.api.views import search_result
from imagepipe.domain import find
from imagepipe.domain.images import ImagesDeps
from imagepipe.domain.search import MAX_QUERY_LENGTH, QUERY_PATTERN
from imagepipe.domain.validation import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SESSION_ID_PATTERN
from imagepipe.observability import metrics

router = APIGatewayHttpRouter()

_JSON_ERROR = {"application/json": {"model": ErrorBody}}
_BAD_REQUEST = {
    400: {
        "description": "An empty or over-long query (invalid_query, query_too_long), a bad "
        "limit, sessionId or nextToken",
        "content": _JSON_ERROR,
    }
}
_DISABLED = {404: {"description": "Search is off here (search_disabled)", "content": _JSON_ERROR}}
_NOT_FOUND = {404: {"description": "Unknown image (or another tenant's)", "content": _JSON_ERROR}}


@router.get(
    "/search",
    summary="Find the caller's images by a text: tags, description, camera, colours, filename",
    responses={200: {"description": "Best first"}, **_BAD_REQUEST, **_DISABLED},  # type: ignore[dict-item]
    tags=["search"],
)
def search(
    deps: Annotated[ImagesDeps, Depends(images_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
    q: Annotated[
        str,
        Query(
            description="What to look for: words (at least one of two letters or digits)",
            min_length=1,
            max_length=MAX_QUERY_LENGTH,
            pattern=QUERY_PATTERN,
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    sessionId: Annotated[  # noqa: N803 - the query parameter's name is part of the API
        str | None,
        Query(description="Only this session's images", pattern=SESSION_ID_PATTERN.pattern),
    ] = None,
    nextToken: Annotated[str | None, Query(description="From the previous page")] = None,  # noqa: N803
) -> SearchResponse:
    found = find.search_images(tenant, q, deps, limit=limit, session_id=sessionId, token=nextToken)
    metrics.add_metric(name="Searches", unit=MetricUnit.Count, value=1)
    return SearchResponse(
        results=[search_result(hit.image, hit.score, deps.urls) for hit in found.hits],
        next_token=found.next_token,
    )


@router.get(
    "/images/<imageId>/similar",
    summary="The caller's images most like this one: near-duplicates first, then by content",
    responses={200: {"description": "Best first"}, **_NOT_FOUND},  # type: ignore[dict-item]
    tags=["search"],
)
def similar(
    imageId: Annotated[str, Path(description="The imageId returned by POST /uploads")],  # noqa: N803
    deps: Annotated[ImagesDeps, Depends(images_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> SearchResponse:
    hits = find.similar_to(tenant, imageId, deps, limit=limit)
    return SearchResponse(results=[search_result(hit.image, hit.score, deps.urls) for hit in hits])
