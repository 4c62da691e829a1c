"""SQS adapter: the two processing jobs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from imagepipe.domain.model import JobKind

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsJobQueue:
    def __init__(self, urls: Mapping[JobKind, str], client: Callable[[], SQSClient]) -> None:
        self._urls = dict(urls)
        self._client = client

    def send(self, kind: JobKind, image_id: str, key_date: str) -> None:
        message = {"kind": kind.value, "imageId": image_id, "keyDate": key_date}
        body = json.dumps(message, separators=(",", ":"))
        self._client().send_message(QueueUrl=self._urls[kind], MessageBody=body)
