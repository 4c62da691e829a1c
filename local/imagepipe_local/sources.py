"""Event sources, as Lambda runs them: S3 notifications to the S3-triggered function, SQS event
source mappings to the queue-triggered ones. `LocalEventSources` delivers or polls once, when
asked (tests); `BackgroundEventSources` keeps them all running (the local stack)."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import boto3

from imagepipe_local import log
from imagepipe_local.events import s3_object_created_event, scheduled_event, sqs_event
from imagepipe_local.iam import acting_as
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.provision import NOTIFICATION_QUEUE, rule_to_queue
from imagepipe_local.template import BusRuleSource, ScheduleSource, SqsSource

# Lambda retries a failed asynchronous invocation twice, after about 1 and 2 minutes; locally
# the delays are shortened (the count is the same).
ASYNC_RETRY_DELAYS = (1.0, 2.0)


@dataclass
class PollResult:
    received: int = 0
    failed: list[str] = field(default_factory=list)


class LocalEventSources:
    """One S3 delivery or one SQS poll at a time, on the caller's thread."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner
        self.template = runner.template
        region = self.template.names.region
        self._s3 = boto3.client("s3", region_name=region)
        self._sqs = boto3.client("sqs", region_name=region)
        self._events = boto3.client("events", region_name=region)
        self._rule_queues: dict[tuple[str, str], str] = {}
        self._queue_urls: dict[str, str] = {}
        self._sequence = 0
        self._sequence_lock = threading.Lock()

    # --- S3 -----------------------------------------------------------------------------------

    def s3_event_for(self, key: str, bucket_logical_id: str = "ImagesBucket") -> dict[str, Any]:
        """The ObjectCreated event S3 would send for an object that now exists."""
        bucket = self.template.physical_name(bucket_logical_id)
        head = self._s3.head_object(Bucket=bucket, Key=key)
        return s3_object_created_event(
            bucket=bucket,
            key=key,
            size=int(head["ContentLength"]),
            etag=str(head["ETag"]).strip('"'),
            sequencer=self.next_sequencer(),
            region=self.template.names.region,
        )

    def next_sequencer(self) -> str:
        """What S3 puts in every ObjectCreated record: a hex string that grows with each write,
        so that two uploads to one key are two events (Ingest's idempotency key holds it)."""
        with self._sequence_lock:
            self._sequence += 1
            return f"{time.time_ns():016X}{self._sequence:04X}"

    def with_sequencers(self, event: dict[str, Any]) -> dict[str, Any]:
        """moto's notifications carry no sequencer: each record gets the one S3 would give."""
        for record in event.get("Records") or []:
            s3_object = record.get("s3", {}).get("object")
            if isinstance(s3_object, dict) and not s3_object.get("sequencer"):
                s3_object["sequencer"] = self.next_sequencer()
        return event

    def s3_functions_for(self, key: str, bucket_logical_id: str = "ImagesBucket") -> list[str]:
        return [
            source.function
            for source in self.template.s3_sources()
            if source.bucket == bucket_logical_id and key.startswith(source.prefix)
        ]

    def deliver_s3(self, event: dict[str, Any]) -> list[Any]:
        """Invoke every function subscribed to the event's key (synchronously)."""
        key = event["Records"][0]["s3"]["object"]["key"]
        return [
            self.runner.invoke(function, event)
            for function in self.s3_functions_for(unquote_plus(key))
        ]

    # --- SQS ----------------------------------------------------------------------------------

    def queue_url(self, logical_id: str) -> str:
        return self.queue_url_by_name(self.template.physical_name(logical_id))

    def queue_url_by_name(self, name: str) -> str:
        # Asked once per name: every poll asked again, a GetQueueUrl per ReceiveMessage (a queue
        # deleted and created again keeps its URL, made of the region, account and name).
        url = self._queue_urls.get(name)
        if url is None:
            url = self._queue_urls[name] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return url

    def receive(
        self, url: str, *, max_messages: int = 10, wait_seconds: int = 0
    ) -> list[dict[str, Any]]:
        """One ReceiveMessage, with the attributes an SQS event record carries."""
        messages = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(max_messages, 10),
            AttributeNames=["All"],
            WaitTimeSeconds=wait_seconds,
        ).get("Messages", [])
        return [dict(m) for m in messages]

    def delete(self, url: str, message: dict[str, Any]) -> None:
        self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def send(self, url: str, body: str) -> None:
        self._sqs.send_message(QueueUrl=url, MessageBody=body)

    def poll(
        self, source: SqsSource, *, retry_failed_now: bool = False, wait_seconds: int = 0
    ) -> PollResult:
        """One ReceiveMessage of up to BatchSize messages, one invocation, then the deletes
        (all but the reported failures, which reappear after the visibility timeout, or at
        once with `retry_failed_now`)."""
        url = self.queue_url(source.queue)
        messages = self.receive(url, max_messages=source.batch_size, wait_seconds=wait_seconds)
        result = PollResult(received=len(messages))
        if not messages:
            return result
        event = sqs_event(
            messages, queue_arn=self.template.arn(source.queue), region=self.template.names.region
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
                self.delete(url, message)
        return result

    # --- EventBridge rules ----------------------------------------------------------------

    def rule_queue(self, source: BusRuleSource) -> str:
        """The rule of an EventBridgeRule event, created on the emulated bus on first use with a
        queue as its target (moto cannot invoke a function): its URL."""
        key = (source.function, source.name)
        if key not in self._rule_queues:
            names = self.template.names
            self._rule_queues[key] = rule_to_queue(
                self._events,
                self._sqs,
                bus=self.template.physical_name(source.bus),
                rule=f"{names.stack_name}-{source.function}{source.name}"[:64],
                pattern=source.pattern,
                queue=f"{names.stack_name}-rule-{source.function}{source.name}"[:80],
                visibility_timeout=2,
            )
        return self._rule_queues[key]

    def poll_rule(self, source: BusRuleSource, *, wait_seconds: int = 0) -> PollResult:
        """Invoke the function once per event the rule matched, as EventBridge does
        (asynchronously: a failure is tried again, 1 + MaximumRetryAttempts times in all, then
        dropped with an error line)."""
        url = self.rule_queue(source)
        messages = self.receive(url, wait_seconds=wait_seconds)
        result = PollResult(received=len(messages))
        for message in messages:
            try:
                self.runner.invoke(source.function, json.loads(message["Body"]))
            except Exception as error:
                result.failed.append(message["MessageId"])
                attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
                if attempts <= source.max_retries:
                    continue  # back after the visibility timeout
                log.error(
                    "%s failed %d times on an event: dropped (%s)", source.function, attempts, error
                )
            self.delete(url, message)
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


class BackgroundEventSources:
    """Every event source kept running on threads: a reader of the S3 notification queue that
    invokes with Lambda's asynchronous semantics, `workers` pollers per SQS source (0 holds
    every job in its queue), and a timer per schedule (at most every `max_schedule_period`
    seconds, when given, so that short local timeouts are honoured)."""

    def __init__(
        self,
        runner: FunctionRunner,
        *,
        workers: int,
        async_retry_delays: Sequence[float] = ASYNC_RETRY_DELAYS,
        max_schedule_period: float | None = None,
    ) -> None:
        self.runner = runner
        self.template = runner.template
        self.sources = LocalEventSources(runner)
        self.workers = workers
        self.async_retry_delays = tuple(async_retry_delays)
        self.max_schedule_period = max_schedule_period
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._spawn("s3-notifications", self._notifications)
        for source in self.template.sqs_sources():
            for n in range(max(0, self.workers)):
                self._spawn(f"{source.function}-{n}", functools.partial(self._poll_forever, source))
        for rule in self.template.bus_rule_sources():
            self.sources.rule_queue(rule)  # matched from now on
            self._spawn(
                f"{rule.function}-{rule.name}", functools.partial(self._poll_rule_forever, rule)
            )
        for schedule in self.template.schedule_sources():
            self._spawn(
                f"{schedule.function}-{schedule.name}", functools.partial(self._tick, schedule)
            )

    def _tick(self, schedule: ScheduleSource) -> None:
        """An EventBridge schedule rule: the function is invoked asynchronously each period."""
        period = schedule.seconds
        if self.max_schedule_period is not None:
            period = min(period, self.max_schedule_period)
        names = self.template.names
        rule = f"{names.stack_name}-{schedule.function}{schedule.name}"
        rule_arn = f"arn:aws:events:{names.region}:{names.account_id}:rule/{rule}"
        while not self._stop.wait(period):
            event = scheduled_event(
                rule_arn=rule_arn, region=names.region, account_id=names.account_id
            )
            try:
                self.runner.invoke(schedule.function, event)
            except Exception:  # the next tick tries again, as the rule would
                log.exception("scheduled %s", schedule.function)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_forever(self, source: SqsSource) -> None:
        while not self._stop.is_set():
            try:
                self.sources.poll(source, wait_seconds=1)
            except Exception:  # keep polling, as an event source mapping does
                log.exception("poller of %s", source.function)
                self._stop.wait(1)

    def _poll_rule_forever(self, source: BusRuleSource) -> None:
        while not self._stop.is_set():
            try:
                self.sources.poll_rule(source, wait_seconds=1)
            except Exception:  # keep going, as EventBridge does
                log.exception("rule %s of %s", source.name, source.function)
                self._stop.wait(1)

    def _notifications(self) -> None:
        url = self.sources.queue_url_by_name(NOTIFICATION_QUEUE)
        while not self._stop.is_set():
            try:
                messages = self.sources.receive(url, wait_seconds=1)
            except Exception:
                log.exception("reading S3 notifications")
                self._stop.wait(1)
                continue
            for message in messages:
                self.sources.delete(url, message)
                event = json.loads(message["Body"])
                if event.get("Event") == "s3:TestEvent":
                    continue
                event = self.sources.with_sequencers(event)
                threading.Thread(
                    target=self.invoke_async, args=(event,), name="ingest", daemon=True
                ).start()

    def invoke_async(self, event: dict[str, Any]) -> None:
        """Lambda's asynchronous invocation: up to 2 retries, then the on-failure
        destination (IngestDeadLetterQueue) gets the invocation record."""
        records = event.get("Records") or [{}]
        key = records[0].get("s3", {}).get("object", {}).get("key")
        # A notification without a key still reaches the subscribed functions (and fails there,
        # as it would on AWS): nothing is dropped silently.
        functions = (
            self.sources.s3_functions_for(unquote_plus(key))
            if key
            else sorted({source.function for source in self.template.s3_sources()})
        )
        for function in functions:
            attempts = 1 + len(self.async_retry_delays)
            error: Exception | None = None
            for attempt in range(attempts):
                try:
                    self.runner.invoke(function, event)
                    error = None
                    break
                except Exception as failure:
                    error = failure
                    if attempt < len(self.async_retry_delays):
                        self._stop.wait(self.async_retry_delays[attempt])
            if error is not None:
                self._dead_letter(function, event, error, attempts)

    def _dead_letter(
        self, function: str, event: dict[str, Any], error: Exception, attempts: int
    ) -> None:
        destination = (
            self.template.properties(function)
            .get("EventInvokeConfig", {})
            .get("DestinationConfig", {})
            .get("OnFailure", {})
            .get("Destination")
        )
        if not destination:
            log.error("%s failed %d times; no on-failure destination", function, attempts)
            return
        queue = destination["Fn::GetAtt"][0]
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self.template.arn(function)}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        url = self.sources.queue_url(queue)
        # Lambda sends it with the function's role: its policy must allow it.
        with acting_as(function, self.template, caller="lambda.on_failure_destination"):
            self.sources.send(url, json.dumps(record))
        log.error("%s failed %d times: sent to %s", function, attempts, queue)
