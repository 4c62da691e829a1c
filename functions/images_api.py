"""ImagesApiFunction: GET/DELETE /images/{imageId}, GET /sessions/{sessionId}/images,
DELETE /sessions/{sessionId}/images/{imageId}, POST /sessions/{sessionId}/events, GET /search,
GET /images/{imageId}/similar."""

from __future__ import annotations

from imagepipe.api import images, live, search
from imagepipe.api.app import create_app, lambda_handler

app = create_app(images.router, live.router, search.router)
handler = lambda_handler(app)
