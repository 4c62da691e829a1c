"""`imagepipe redrive`: dead-lettered job messages back to the queue they came from.

The pairs come from the template's redrive policies (a dead-letter queue is the
`deadLetterTargetArn` of its source queue). On AWS, SQS moves them itself
(`StartMessageMoveTask`, which sends each message back to its original source); the local
stack's emulator lacks that call, so there each message is received, sent to the source queue
with its attributes, and only then deleted from the dead-letter queue (at least once, as SQS)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagepipe_local.template import Template

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class DeadLetterPair:
    dead_letter: str  # logical ids
    source: str


@dataclass(frozen=True)
class Moved:
    pair: DeadLetterPair
    count: int
    started: bool  # True: a move task was started (AWS), count is what it will move


def dead_letter_pairs(template: Template) -> list[DeadLetterPair]:
    """Every (dead-letter queue, source queue) pair of the template, in template order."""
    pairs = []
    for queue in template.of_type("AWS::SQS::Queue"):
        policy = template.properties(queue).get("RedrivePolicy")
        if policy:
            target = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
            pairs.append(DeadLetterPair(dead_letter=target, source=queue))
    return pairs


def select(pairs: list[DeadLetterPair], queue: str | None) -> list[DeadLetterPair]:
    """The pairs a --queue names (either of its two queues), or all of them."""
    if queue is None:
        return pairs
    chosen = [p for p in pairs if queue in (p.dead_letter, p.source)]
    if not chosen:
        names = ", ".join(sorted({q for p in pairs for q in (p.dead_letter, p.source)}))
        raise ValueError(f"no dead-letter queue for {queue!r}; one of: {names}")
    return chosen


def waiting(sqs: SQSClient, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def move_by_hand(sqs: SQSClient, dead_letter_url: str, source_url: str) -> int:
    """Receive, send to the source, delete: until the dead-letter queue gives nothing more."""
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            extra: dict[str, Any] = {}
            if message.get("MessageAttributes"):
                extra["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(QueueUrl=source_url, MessageBody=message["Body"], **extra)
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def redrive(
    sqs: SQSClient,
    pairs: list[DeadLetterPair],
    url_of: Callable[[str], str],
    *,
    dry_run: bool,
    move_task: bool,
) -> list[Moved]:
    """Move each pair's dead letters back (or, with `dry_run`, only count them)."""
    results = []
    for pair in pairs:
        dead_letter_url = url_of(pair.dead_letter)
        count = waiting(sqs, dead_letter_url)
        if dry_run or count == 0:
            results.append(Moved(pair, count, started=False))
        elif move_task:
            arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            sqs.start_message_move_task(SourceArn=arn)
            results.append(Moved(pair, count, started=True))
        else:
            moved = move_by_hand(sqs, dead_letter_url, url_of(pair.source))
            results.append(Moved(pair, moved, started=False))
    return results


def report(results: list[Moved], *, dry_run: bool) -> str:
    lines = []
    for result in results:
        route = f"{result.pair.dead_letter} -> {result.pair.source}"
        if dry_run:
            what = f"{result.count} message(s) would move"
        elif result.started:
            what = f"move task started for about {result.count} message(s)"
        else:
            what = f"{result.count} message(s) moved"
        lines.append(f"{route}: {what}")
    return "\n".join(lines)
