"""One typed settings object per function, read from the environment that template.yaml sets."""

from __future__ import annotations

import os
from typing import Self

from pydantic import BaseModel, ConfigDict, Field


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    region: str = Field(default="us-east-1", alias="AWS_REGION", min_length=1)
    images_table: str = Field(alias="IMAGES_TABLE", min_length=1)
    session_images_table: str = Field(alias="SESSION_IMAGES_TABLE", min_length=1)
    images_bucket: str = Field(alias="IMAGES_BUCKET", min_length=1)

    @classmethod
    def from_env(cls) -> Self:
        return cls.model_validate(dict(os.environ))


class PresignUploadSettings(_Settings):
    """PresignUploadFunction."""

    max_upload_bytes: int = Field(alias="MAX_UPLOAD_BYTES", gt=0)
    # S3 accepts longer, but a presigned upload is a bearer token: keep it short.
    presign_expiry_seconds: int = Field(default=300, alias="PRESIGN_EXPIRY_SECONDS", ge=1, le=900)


class ImagesApiSettings(_Settings):
    """ImagesApiFunction."""

    url_expiry_seconds: int = Field(default=3600, alias="URL_EXPIRY_SECONDS", ge=1, le=604800)
