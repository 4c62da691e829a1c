"""Event sources of the local stack: S3 notifications to the S3-triggered function and SQS
event source mappings to the queue-triggered ones, as Lambda would run them.

Development tooling (never deployed code): it drives the emulated AWS with boto3 directly."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import boto3

from imagepipe_local.events import s3_object_created_event, sqs_event
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import SqsSource


@dataclass
class PollResult:
    received: int = 0
    failed: list[str] = field(default_factory=list)


class LocalEventSources:
    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner
        self.template = runner.template
        region = self.template.names.region
        self._s3 = boto3.client("s3", region_name=region)
        self._sqs = boto3.client("sqs", region_name=region)
        self._sequence = 0

    # --- S3 -----------------------------------------------------------------------------------

    def s3_event_for(self, key: str, bucket_logical_id: str = "ImagesBucket") -> dict[str, Any]:
        """The ObjectCreated event S3 would send for an object that now exists."""
        bucket = self.template.physical_name(bucket_logical_id)
        head = self._s3.head_object(Bucket=bucket, Key=key)
        self._sequence += 1
        return s3_object_created_event(
            bucket=bucket,
            key=key,
            size=int(head["ContentLength"]),
            etag=str(head["ETag"]).strip('"'),
            sequencer=f"{time.time_ns():016X}{self._sequence:04X}",
            region=self.template.names.region,
        )

    def s3_functions_for(self, key: str, bucket_logical_id: str = "ImagesBucket") -> list[str]:
        return [
            source.function
            for source in self.template.s3_sources()
            if source.bucket == bucket_logical_id and key.startswith(source.prefix)
        ]

    def deliver_s3(self, event: dict[str, Any]) -> list[Any]:
        """Invoke every function subscribed to the event's key (synchronously)."""
        key = event["Records"][0]["s3"]["object"]["key"]
        from urllib.parse import unquote_plus

        return [
            self.runner.invoke(function, event)
            for function in self.s3_functions_for(unquote_plus(key))
        ]

    # --- SQS ----------------------------------------------------------------------------------

    def queue_url(self, logical_id: str) -> str:
        return self._sqs.get_queue_url(QueueName=self.template.physical_name(logical_id))[
            "QueueUrl"
        ]

    def poll(
        self, source: SqsSource, *, retry_failed_now: bool = False, wait_seconds: int = 0
    ) -> PollResult:
        """One ReceiveMessage of up to BatchSize messages, one invocation, then the deletes
        (all but the reported failures, which reappear after the visibility timeout, or at
        once with `retry_failed_now`)."""
        url = self.queue_url(source.queue)
        messages = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(source.batch_size, 10),
            AttributeNames=["All"],
            WaitTimeSeconds=wait_seconds,
        ).get("Messages", [])
        result = PollResult(received=len(messages))
        if not messages:
            return result
        event = sqs_event(
            [dict(m) for m in messages],
            queue_arn=self.template.arn(source.queue),
            region=self.template.names.region,
        )
        try:
            response = self.runner.invoke(source.function, event)
            failures = {
                item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])
            }
        except Exception:
            # An invocation error fails the whole batch, as with Lambda.
            failures = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failures:
                result.failed.append(message["MessageId"])
                if retry_failed_now:
                    self._sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
            else:
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return result

    def drain(self, *, max_rounds: int = 50, retry_failed_now: bool = True) -> int:
        """Poll every SQS source until all queues are empty; returns messages received."""
        total = 0
        for _ in range(max_rounds):
            received = sum(
                self.poll(source, retry_failed_now=retry_failed_now).received
                for source in self.template.sqs_sources()
            )
            total += received
            if received == 0:
                return total
        raise RuntimeError(f"queues still not empty after {max_rounds} rounds")
