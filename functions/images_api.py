"""ImagesApiFunction: GET/DELETE /images/{imageId}, GET /sessions/{sessionId}/images,
DELETE /sessions/{sessionId}/images/{imageId}."""

from __future__ import annotations

from imagepipe.api.app import create_app, lambda_handler
from imagepipe.api.images import router

app = create_app(router)
handler = lambda_handler(app)
