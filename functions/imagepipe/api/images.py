"""GET and DELETE of images, session listings and unlinks, and the abort of a multipart upload
(which deletes its pending image)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from imagepipe.api.app import current_tenant
from imagepipe.api.deps import images_deps
from imagepipe.api.schemas import ErrorBody, ImageDetail, ImageListResponse
from imagepipe.api.views import image_detail, image_summary
from imagepipe.domain import images as domain
from imagepipe.domain import multipart
from imagepipe.domain.images import ImagesDeps
from imagepipe.domain.validation import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SESSION_ID_PATTERN
from imagepipe.observability import logger, metrics

router = APIGatewayHttpRouter()

_JSON_ERROR = {"application/json": {"model": ErrorBody}}
_NOT_FOUND = {404: {"description": "Unknown image (or another tenant's)", "content": _JSON_ERROR}}
_NOT_OPEN = {
    409: {
        "description": "No open multipart upload (upload_not_open), or its bytes have already "
        "arrived (upload_completed: DELETE /images/{imageId} instead)",
        "content": _JSON_ERROR,
    }
}
_BAD_REQUEST = {400: {"description": "Invalid request", "content": _JSON_ERROR}}

ImageId = Annotated[str, Path(description="The imageId returned by POST /uploads")]
SessionId = Annotated[str, Path(description="The session id", pattern=SESSION_ID_PATTERN.pattern)]


@router.get(
    "/images/<imageId>",
    summary="Get an image: status, dimensions, thumbnail, original, variants, metadata",
    responses={200: {"description": "The image"}, **_NOT_FOUND},  # type: ignore[dict-item]
    tags=["images"],
)
def get_image(
    imageId: ImageId,  # noqa: N803 - the path parameter's name is part of the API
    deps: Annotated[ImagesDeps, Depends(images_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> ImageDetail:
    image = domain.get_image(tenant, imageId, deps.images)
    similar = domain.similar_images(tenant, image, deps.images)
    return image_detail(image, deps.urls, similar)


@router.delete(
    "/images/<imageId>",
    summary="Delete an image everywhere: objects, record and every session link",
    responses={204: {"description": "Deleted"}, **_NOT_FOUND},  # type: ignore[dict-item]
    tags=["images"],
)
def delete_image(
    imageId: ImageId,  # noqa: N803
    deps: Annotated[ImagesDeps, Depends(images_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> Response[None]:
    domain.delete_image(tenant, imageId, deps)
    metrics.add_metric(name="ImagesDeleted", unit=MetricUnit.Count, value=1)
    logger.info("image deleted", extra={"tenant": tenant, "image_id": imageId})
    return Response(status_code=204)


@router.delete(
    "/uploads/<imageId>",
    summary="Abort a multipart upload: its parts, the pending image and its links go",
    responses={204: {"description": "Aborted"}, **_NOT_FOUND, **_NOT_OPEN},  # type: ignore[dict-item]
    tags=["uploads"],
)
def abort_upload(
    imageId: ImageId,  # noqa: N803
    deps: Annotated[ImagesDeps, Depends(images_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> Response[None]:
    multipart.abort_upload(tenant, imageId, deps)
    logger.info("multipart upload aborted", extra={"tenant": tenant, "image_id": imageId})
    return Response(status_code=204)


@router.get(
    "/sessions/<sessionId>/images",
    summary="List a session's images, newest first",
    responses={200: {"description": "A page of images"}, **_BAD_REQUEST},  # type: ignore[dict-item]
    tags=["sessions"],
)
def list_session_images(
    sessionId: SessionId,  # noqa: N803
    deps: Annotated[ImagesDeps, Depends(images_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    nextToken: Annotated[str | None, Query(description="From the previous page")] = None,  # noqa: N803
) -> ImageListResponse:
    page = domain.list_session_images(tenant, sessionId, deps, limit=limit, token=nextToken)
    return ImageListResponse(
        images=[image_summary(image, deps.urls) for image in page.images],
        next_token=page.next_token,
    )


@router.delete(
    "/sessions/<sessionId>/images/<imageId>",
    summary="Unlink an image from a session (the image itself stays)",
    responses={204: {"description": "Unlinked"}, **_NOT_FOUND},  # type: ignore[dict-item]
    tags=["sessions"],
)
def unlink_session_image(
    sessionId: SessionId,  # noqa: N803
    imageId: ImageId,  # noqa: N803
    deps: Annotated[ImagesDeps, Depends(images_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> Response[None]:
    domain.unlink_image(tenant, sessionId, imageId, deps)
    logger.info(
        "image unlinked", extra={"tenant": tenant, "session_id": sessionId, "image_id": imageId}
    )
    return Response(status_code=204)
