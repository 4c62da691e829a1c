"""PresignUploadFunction: POST /uploads."""

from __future__ import annotations

from imagepipe.api.app import create_app, lambda_handler
from imagepipe.api.uploads import router

app = create_app(router)
handler = lambda_handler(app)
