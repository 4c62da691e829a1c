"""POST /uploads, and the routes of a multipart upload (sign parts, list them, complete)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from imagepipe.api.app import current_tenant
from imagepipe.api.deps import upload_deps
from imagepipe.api.schemas import (
    CompleteUploadRequest,
    CompleteUploadResponse,
    CreateUploadsRequest,
    CreateUploadsResponse,
    ErrorBody,
    PartOut,
    PartsResponse,
    SignPartsRequest,
    SignPartsResponse,
)
from imagepipe.api.views import part_target_out, upload_out
from imagepipe.domain import multipart
from imagepipe.domain.model import FileRequest, PartRequest
from imagepipe.domain.uploads import UploadDeps, request_uploads
from imagepipe.observability import logger, metrics

router = APIGatewayHttpRouter()

_JSON_ERROR = {"application/json": {"model": ErrorBody}}
_ERRORS = {
    400: {"description": "Invalid request", "content": _JSON_ERROR},
    409: {"description": "The image kept changing; retry", "content": _JSON_ERROR},
}


@router.post(
    "/uploads",
    summary="Request upload targets for 1 to 10 files",
    description="Deduplicates by (tenant, sha256): a file already stored is linked to the session "
    "and gets no upload; a new (or still pending, or failed) one gets a presigned POST, or above "
    "MultipartThresholdBytes a multipart upload (the same one again while it is open).",
    responses={200: {"description": "One entry per file, in order"}, **_ERRORS},  # type: ignore[dict-item]
    tags=["uploads"],
)
def create_uploads(
    body: Annotated[CreateUploadsRequest, Body()],
    deps: Annotated[UploadDeps, Depends(upload_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
    x_session_id: Annotated[
        str | None, Header(description="Session id when the body has none")
    ] = None,
) -> CreateUploadsResponse:
    files = [
        FileRequest(filename=f.filename, content_type=f.content_type, size=f.size, sha256=f.sha256)
        for f in body.files
    ]
    results = request_uploads(tenant, body.session_id or x_session_id, files, deps)
    duplicates = sum(1 for r in results if not r.is_new)
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=len(results))
    metrics.add_metric(name="DuplicateUploads", unit=MetricUnit.Count, value=duplicates)
    logger.info(
        "uploads requested",
        extra={"tenant": tenant, "files": len(results), "duplicates": duplicates},
    )
    return CreateUploadsResponse(uploads=[upload_out(r) for r in results])


_PART_ERRORS = {
    **_ERRORS,
    404: {"description": "Unknown image (or another tenant's)", "content": _JSON_ERROR},
    409: {
        "description": "No open multipart upload (upload_not_open), or its bytes have already "
        "arrived (upload_completed)",
        "content": _JSON_ERROR,
    },
}

ImageId = Annotated[str, Path(description="The imageId of a MULTIPART upload")]


@router.post(
    "/uploads/<imageId>/parts",
    summary="Presign parts of a multipart upload, each with its SHA-256",
    description="Each part's URL has its checksum and length signed: PUT the part's bytes "
    "with every header given. S3 refuses bytes that differ from the checksum (400 BadDigest).",
    responses={200: {"description": "One URL per part, in order"}, **_PART_ERRORS},  # type: ignore[dict-item]
    tags=["uploads"],
)
def sign_parts(
    imageId: ImageId,  # noqa: N803 - the path parameter's name is part of the API
    body: Annotated[SignPartsRequest, Body()],
    deps: Annotated[UploadDeps, Depends(upload_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> SignPartsResponse:
    requests = [PartRequest(number=p.part_number, size=p.size, sha256=p.sha256) for p in body.parts]
    signed = multipart.sign_parts(tenant, imageId, requests, deps)
    metrics.add_metric(name="PartsSigned", unit=MetricUnit.Count, value=len(signed))
    return SignPartsResponse(parts=[part_target_out(target) for target in signed])


@router.get(
    "/uploads/<imageId>/parts",
    summary="The parts of a multipart upload that S3 holds so far",
    description="What a client that lost its state reads before sending only the missing parts.",
    responses={200: {"description": "The stored parts, by number"}, **_PART_ERRORS},  # type: ignore[dict-item]
    tags=["uploads"],
)
def list_parts(
    imageId: ImageId,  # noqa: N803 - the path parameter's name is part of the API
    deps: Annotated[UploadDeps, Depends(upload_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> PartsResponse:
    listing = multipart.list_parts(tenant, imageId, deps)
    return PartsResponse(
        upload_id=listing.upload_id,
        part_size=listing.layout.part_size,
        part_count=listing.layout.part_count,
        parts=[PartOut(part_number=p.number, size=p.size, etag=p.etag) for p in listing.parts],
    )


@router.post(
    "/uploads/<imageId>/complete",
    summary="Complete a multipart upload: S3 assembles the file and Ingest processes it",
    description="The part list must name every part once with the ETag its PUT returned, and "
    "the parts must add up to the declared size. Idempotent: once the bytes have arrived, it "
    "answers the image's current status.",
    responses={200: {"description": "Completed"}, **_PART_ERRORS},  # type: ignore[dict-item]
    tags=["uploads"],
)
def complete_upload(
    imageId: ImageId,  # noqa: N803 - the path parameter's name is part of the API
    body: Annotated[CompleteUploadRequest, Body()],
    deps: Annotated[UploadDeps, Depends(upload_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> CompleteUploadResponse:
    etags = [(part.part_number, part.etag) for part in body.parts]
    image = multipart.complete_upload(tenant, imageId, etags, deps)
    logger.info("multipart upload completed", extra={"imageId": image.image_id})
    return CompleteUploadResponse(image_id=image.image_id, status=image.status.value)
