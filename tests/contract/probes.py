"""What a JobQueue sent, read back: a port that only sends cannot show it itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import boto3

from imagepipe.domain.model import JobKind
from imagepipe.domain.ports import JobQueue
from imagepipe.pipeline.messages import JobBody
from imagepipe_local.template import Template
from tests.unit.fakes import InMemoryJobQueue

# The queue each kind of job is for (the one its worker function consumes).
JOB_QUEUES = {JobKind.VARIANTS: "VariantsQueue", JobKind.METADATA: "MetadataQueue"}


@dataclass(frozen=True)
class QueueUnderTest:
    """A JobQueue, and a probe taking the jobs that arrived for one kind, parsed as the workers
    parse them (read each kind once: SQS hides a message once it was received)."""

    queue: JobQueue
    arrived: Callable[[JobKind], list[JobBody]]


def recorded(fake: InMemoryJobQueue) -> Callable[[JobKind], list[JobBody]]:
    def arrived(kind: JobKind) -> list[JobBody]:
        return [
            JobBody.model_validate(
                {"kind": job.kind, "imageId": job.image_id, "keyDate": job.key_date}
            )
            for job in fake.all()
            if job.kind is kind
        ]

    return arrived


def received(template: Template) -> Callable[[JobKind], list[JobBody]]:
    sqs = boto3.client("sqs", region_name=template.names.region)

    def arrived(kind: JobKind) -> list[JobBody]:
        # Found by name, not by the URL the adapter was given, so a wrong URL cannot hide.
        name = template.physical_name(JOB_QUEUES[kind])
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        # No wait: moto has queued whatever was sent by the time send returned.
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [JobBody.model_validate_json(m["Body"]) for m in answer.get("Messages", [])]

    return arrived
