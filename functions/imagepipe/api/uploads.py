"""POST /uploads."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from imagepipe.api.app import current_tenant
from imagepipe.api.deps import upload_deps
from imagepipe.api.schemas import CreateUploadsRequest, CreateUploadsResponse, ErrorBody
from imagepipe.api.views import upload_out
from imagepipe.domain.model import FileRequest
from imagepipe.domain.uploads import UploadDeps, request_uploads
from imagepipe.observability import logger, metrics

router = APIGatewayHttpRouter()

_ERRORS = {
    400: {"description": "Invalid request", "content": {"application/json": {"model": ErrorBody}}},
    409: {
        "description": "The image kept changing; retry",
        "content": {"application/json": {"model": ErrorBody}},
    },
}


@router.post(
    "/uploads",
    summary="Request upload targets for 1 to 10 files",
    description="Deduplicates by (tenant, sha256): a file already stored is linked to the session "
    "and gets no upload; a new (or still pending, or failed) one gets a presigned POST.",
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
