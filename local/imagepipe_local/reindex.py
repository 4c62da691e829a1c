"""`imagepipe reindex`: reindex jobs for completed images, sent to MetadataFunction's queue
(the template's MetadataQueue). Each job makes the image's tags, description, searchable text
and search vector again from its original: what a provider could not give the first time
(`searchMissing` on the record), or every image after `LabelsProvider` or `EmbeddingProvider`
changed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from imagepipe.domain.model import Image, ImageStatus, JobKind

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SendMessageBatch takes at most 10 messages.
_BATCH = 10


def chosen(images: Iterable[Image], *, missing_only: bool) -> list[str]:
    """The completed images to reindex: all of them, or those whose record lists something
    missing."""
    return sorted(
        image.image_id
        for image in images
        if image.visible
        and image.status is ImageStatus.COMPLETED
        and (not missing_only or image.metadata.get("searchMissing"))
    )


def send(sqs: SQSClient, queue_url: str, image_ids: Sequence[str]) -> int:
    """One reindex job per image; returns how many SQS accepted (it raises on none)."""
    sent = 0
    for start in range(0, len(image_ids), _BATCH):
        entries = [
            {
                "Id": str(n),
                "MessageBody": json.dumps({"kind": JobKind.REINDEX.value, "imageId": image_id}),
            }
            for n, image_id in enumerate(image_ids[start : start + _BATCH])
        ]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        failed = answer.get("Failed", [])
        if failed:
            reasons = "; ".join(f"{f['Code']}: {f.get('Message', '')}" for f in failed)
            raise RuntimeError(f"SQS refused {len(failed)} reindex job(s): {reasons}")
        sent += len(entries)
    return sent
