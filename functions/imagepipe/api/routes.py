"""Every router of the HTTP API, for the one OpenAPI document (each function's app includes
only its own: see images_api.py and presign_upload.py)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from imagepipe.api import images, live, search, uploads

ROUTERS: tuple[APIGatewayHttpRouter, ...] = (
    uploads.router,
    images.router,
    live.router,
    search.router,
)
