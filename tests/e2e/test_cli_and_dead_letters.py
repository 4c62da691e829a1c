"""The CLI against `imagepipe local`, every events/ file through `imagepipe invoke`, and the
dead-letter paths: a poison job after maxReceiveCount, an Ingest failure after its retries."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from imagepipe_local.template import Template
from tests.e2e.conftest import ROOT, RunningStack, local_only
from tests.integration.test_events import EXPECTED, PIPELINE_EVENTS
from tests.photos import photo

pytestmark = [pytest.mark.e2e, local_only]  # the local endpoint, its queues and CLI


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "imagepipe_local.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def sqs(stack: RunningStack) -> Any:
    return stack.client("sqs")


def queue_url(stack: RunningStack, logical_id: str) -> str:
    name = Template.load().physical_name(logical_id)
    url: str = sqs(stack).get_queue_url(QueueName=name)["QueueUrl"]
    return url


def wait_for_message(stack: RunningStack, logical_id: str, timeout: float = 60) -> dict[str, Any]:
    url = queue_url(stack, logical_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs(stack).receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            return dict(messages[0])
    raise AssertionError(f"nothing arrived in {logical_id} within {timeout} s")


def test_imagepipe_upload_hashes_uploads_and_waits(stack: RunningStack, tmp_path: Path) -> None:
    # Given a real 5 MP photo / When `imagepipe upload` sends it to the stack in session cli-1
    first = cli("upload", str(photo("wood-5mp.jpg")), "--api", stack.api, "--session", "cli-1")
    # Then it succeeds, reporting a new image that completed
    assert first.returncode == 0, first.stdout + first.stderr
    assert "completed" in first.stdout
    assert "new" in first.stdout
    # And the same photo sent again, in another session, is reported as a duplicate
    again = cli("upload", str(photo("wood-5mp.jpg")), "--api", stack.api, "--session", "cli-2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "duplicate" in again.stdout


def _function_of(template: Template, name: str, event: dict[str, Any]) -> str:
    if name in PIPELINE_EVENTS:
        return PIPELINE_EVENTS[name]
    return next(r.function for r in template.http_routes() if r.route_key == event["routeKey"])


@pytest.mark.parametrize("name", sorted([*EXPECTED, *PIPELINE_EVENTS]))
def test_every_event_file_runs_through_imagepipe_invoke(stack: RunningStack, name: str) -> None:
    # Given an events/ file and the function its route or source belongs to
    template = Template.load()
    path = ROOT / "events" / name
    function = _function_of(template, name, json.loads(path.read_text()))
    # When `imagepipe invoke` runs it against the stack's endpoint
    run = cli("invoke", function, "-e", str(path), "--endpoint", stack.aws)
    # Then it succeeds and prints the function's answer
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    # And the answer fits the file: the documented error for a bad request, a 200, 204 or 404
    # otherwise, results from Ingest, a sweep's report, a socket's answer, a notification's
    # count, and a failed item for a poison message only
    if name in EXPECTED:
        status, code = EXPECTED[name]
        if code is not None:  # validation outcomes do not depend on what the stack holds
            assert result["statusCode"] == status
            assert json.loads(result["body"])["error"]["code"] == code
        else:
            assert result["statusCode"] in (200, 204, 404)
    elif function == "IngestFunction":
        assert "results" in result
    elif function == "SweeperFunction":
        # (a sweep of whatever this stack holds: it reports what it resent and timed out)
        assert set(result) == {"resent", "timedOut", "restaged"}
    elif function == "EventsSocketFunction":
        # (a ticket signed with another key is refused; a disconnect always succeeds)
        assert result["statusCode"] == (401 if "refused" in name else 200)
    elif function == "EventsNotifierFunction":
        # (the image it names is not in this stack: linked to no session, told to nobody)
        assert result == {"delivered": 0, "gone": 0}
    else:
        # (the image these jobs name does not exist in the stack: a no-op, not a failure)
        assert len(result["batchItemFailures"]) == (1 if "poison" in name else 0)


def test_a_poison_job_ends_in_the_dead_letter_queue(stack: RunningStack) -> None:
    # Given a message no worker can parse
    sqs(stack).send_message(QueueUrl=queue_url(stack, "VariantsQueue"), MessageBody="{not json")
    # When the poller has received it maxReceiveCount (3) times, each time reported failed
    message = wait_for_message(stack, "VariantsDeadLetterQueue", timeout=60)
    # Then it is parked in the dead-letter queue, as the redrive policy says
    assert message["Body"] == "{not json"


def test_redrive_moves_dead_letters_back_to_their_queue(stack: RunningStack) -> None:
    # Given two messages parked in the metadata dead-letter queue
    dead_letters = queue_url(stack, "MetadataDeadLetterQueue")
    for n in range(2):
        sqs(stack).send_message(QueueUrl=dead_letters, MessageBody=f"{{parked {n}")

    # When `imagepipe redrive --dry-run` counts them, then `imagepipe redrive` moves them
    endpoint = ("--endpoint", stack.aws, "--queue", "MetadataDeadLetterQueue")
    counted = cli("redrive", *endpoint, "--dry-run")
    moved = cli("redrive", *endpoint)

    # Then the dry run moved nothing, and the redrive printed what it moved and emptied the
    # dead-letter queue; the jobs went back to MetadataQueue, whose worker fails them until
    # they are dead-lettered again (they are poison)
    assert counted.returncode == 0, counted.stderr
    assert "MetadataDeadLetterQueue -> MetadataQueue: 2 message(s) would move" in counted.stdout
    assert moved.returncode == 0, moved.stderr
    assert "MetadataDeadLetterQueue -> MetadataQueue: 2 message(s) moved" in moved.stdout
    back = {wait_for_message(stack, "MetadataDeadLetterQueue", timeout=60)["Body"]}
    assert back <= {"{parked 0", "{parked 1"}


def test_redrive_names_the_queues_it_knows_for_an_unknown_one() -> None:
    # Given no stack at all / When a queue that does not exist is asked for
    result = cli("redrive", "--queue", "NoSuchQueue", "--dry-run")
    # Then it exits 2 with one line naming the queues it knows
    assert result.returncode == 2
    assert "VariantsDeadLetterQueue" in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_ingest_failure_ends_in_the_ingest_dead_letter_queue(stack: RunningStack) -> None:
    # Given a malformed S3 notification that Ingest cannot process (its object has no key)
    from imagepipe_local.provision import NOTIFICATION_QUEUE

    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "bucket": {"name": Template.load().physical_name("ImagesBucket")},
                    "object": {"size": 1, "sequencer": "0A1B2C3D4E5F"},
                },
            }
        ]
    }
    notifications = sqs(stack).get_queue_url(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
    sqs(stack).send_message(QueueUrl=notifications, MessageBody=json.dumps(event))
    # When Lambda's asynchronous invocation has tried it 3 times (1 + 2 retries)
    message = wait_for_message(stack, "IngestDeadLetterQueue", timeout=60)
    # Then the on-failure destination holds the invocation record
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == event
