"""POST /sessions/{sessionId}/events: a WebSocket URL for a session's live updates."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagepipe.api.app import current_tenant
from imagepipe.api.deps import ticket_deps
from imagepipe.api.images import SessionId
from imagepipe.api.schemas import ErrorBody, EventsTicketResponse
from imagepipe.domain.live import TicketDeps, issue_ticket
from imagepipe.observability import logger

router = APIGatewayHttpRouter()


@router.post(
    "/sessions/<sessionId>/events",
    summary="Open live updates for a session: a one-time WebSocket URL",
    description="The socket receives {type, imageId, sessionId, status, error} for each status "
    "change of the session's images (image.processing, image.completed, image.failed, "
    "image.deleted). The ticket in the URL is bound to the caller's tenant and this session, "
    "opens one socket, and expires after a minute.",
    responses={
        200: {"description": "The socket URL"},
        400: {
            "description": "Invalid session id",
            "content": {"application/json": {"model": ErrorBody}},
        },
    },
    tags=["sessions"],
)
def open_session_events(
    sessionId: SessionId,  # noqa: N803 - the path parameter's name is part of the API
    deps: Annotated[TicketDeps, Depends(ticket_deps)],
    tenant: Annotated[str, Depends(current_tenant)],
) -> EventsTicketResponse:
    issued = issue_ticket(tenant, sessionId, deps)
    logger.info("live updates ticket issued", extra={"tenant": tenant, "session_id": sessionId})
    return EventsTicketResponse(url=issued.url, expires_at=issued.expires_at)
