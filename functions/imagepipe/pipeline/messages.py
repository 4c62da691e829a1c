"""SQS job messages, parsed with Powertools' parser inside the batch processor: a message that
does not parse is a failed item of the batch (retried, then dead-lettered), not a crash."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json

from imagepipe.domain.model import JobKind
from imagepipe.domain.validation import IMAGE_ID_PATTERN


class JobBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: JobKind
    image_id: str = Field(alias="imageId", pattern=IMAGE_ID_PATTERN.pattern)
    key_date: str | None = Field(default=None, alias="keyDate", pattern=r"^\d{4}/\d{2}/\d{2}$")


class JobRecord(SqsRecordModel):
    body: Json[JobBody]
