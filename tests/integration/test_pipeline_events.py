"""The S3 and SQS files of events/ invoked through their functions (as `sam local invoke -e`
would), against a seeded image."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from imagepipe.domain import keys
from imagepipe.domain.model import Image, ImageStatus
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import Template
from tests.conftest import load_event
from tests.integration.helpers import bucket, images_repo
from tests.integration.pipeline import encode, photo_like
from tests.integration.test_events import SEEDED_IMAGE

JPEG = encode(photo_like(640, 480), quality=85)
PROCESSING_TIMEOUT = int(Template.load().parameters["ProcessingTimeoutSeconds"])


def _seed_pending_upload(template: Template) -> None:
    now = datetime.now(UTC)
    images_repo(template).create(
        Image(
            image_id=SEEDED_IMAGE,
            tenant="public",
            sha256=hashlib.sha256(JPEG).hexdigest(),
            filename="cat.jpg",
            content_type="image/jpeg",
            size=len(JPEG),
            status=ImageStatus.PENDING_UPLOAD,
            created_at=now,
            updated_at=now,
            key_date=keys.key_date(now),
        )
    )
    boto3.client("s3").put_object(
        Bucket=bucket(template), Key=keys.staging_key(SEEDED_IMAGE), Body=JPEG
    )


def test_ingest_object_created(runner: FunctionRunner, aws: Template) -> None:
    # Given the pending image the event names, with its bytes in staging
    _seed_pending_upload(aws)
    # When Ingest gets the ObjectCreated event
    response = runner.invoke("IngestFunction", load_event("ingest_object_created.json"))
    # Then it answers that the image is processing, and the record says so too
    assert response["results"][0]["outcome"] == "processing"
    image = images_repo(aws).get(SEEDED_IMAGE)
    assert image is not None
    assert image.status is ImageStatus.PROCESSING


def test_ingest_decodes_the_key_and_ignores_what_is_not_a_staging_upload(
    runner: FunctionRunner, aws: Template
) -> None:
    # Given an event whose key is URL-encoded ('+' for spaces) / When Ingest gets it
    response = runner.invoke("IngestFunction", load_event("ingest_encoded_key.json"))
    # Then it reports the decoded key, skipped because it names no image id
    assert response["results"] == [{"key": "uploads/not an image id", "outcome": "skipped"}]


def test_ingest_skips_the_s3_test_event(runner: FunctionRunner, aws: Template) -> None:
    # Given S3's test event, which has no records / When Ingest gets it / Then it has no results
    assert runner.invoke("IngestFunction", load_event("ingest_s3_test_event.json")) == {
        "results": []
    }


@pytest.mark.parametrize(
    ("name", "function", "failures"),
    [
        ("variants_job.json", "VariantsFunction", []),
        ("metadata_job.json", "MetadataFunction", []),
        ("metadata_job_poison.json", "MetadataFunction", [1]),
    ],
)
def test_worker_events(
    runner: FunctionRunner, aws: Template, name: str, function: str, failures: list[int]
) -> None:
    # Given the image the jobs name, uploaded and ingested, so that it is processing
    _seed_pending_upload(aws)
    runner.invoke("IngestFunction", load_event("ingest_object_created.json"))
    # When the worker event is given to its function
    event = load_event(name)
    response = runner.invoke(function, event)
    # Then no message is reported as failed but the poison one, which is not JSON
    expected = [{"itemIdentifier": event["Records"][i]["messageId"]} for i in failures]
    assert response == {"batchItemFailures": expected}
    image = images_repo(aws).get(SEEDED_IMAGE)
    assert image is not None
    # And the image's variants, or its metadata, are done
    done = image.variants_done if function == "VariantsFunction" else image.metadata_done
    assert done


def test_the_scheduled_sweep_resends_a_stuck_images_jobs_then_times_it_out(
    runner: FunctionRunner, aws: Template
) -> None:
    # Given an image processing for longer than the template's timeout, its variants job lost
    stuck_since = datetime.now(UTC) - timedelta(seconds=PROCESSING_TIMEOUT + 60)
    _seed_pending_upload(aws)
    repo = images_repo(aws)
    pending = repo.get(SEEDED_IMAGE)
    assert pending is not None
    repo.save(
        replace(
            pending,
            status=ImageStatus.PROCESSING,
            uploaded_at=stuck_since,
            jobs_sent_at=stuck_since,
            metadata_done=True,
        )
    )

    # When the schedule fires
    first = runner.invoke("SweeperFunction", load_event("sweeper_scheduled.json"))

    # Then the missing variants job is on its queue again, and the image still processing
    assert first == {"resent": [SEEDED_IMAGE], "timedOut": [], "restaged": []}
    sqs = boto3.client("sqs", region_name=aws.names.region)
    url = sqs.get_queue_url(QueueName=aws.physical_name("VariantsQueue"))["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["imageId"] == SEEDED_IMAGE
    metadata_url = sqs.get_queue_url(QueueName=aws.physical_name("MetadataQueue"))["QueueUrl"]
    assert "Messages" not in sqs.receive_message(QueueUrl=metadata_url)

    # When it fires again once the resent job has had its timeout too
    resent = repo.get(SEEDED_IMAGE)
    assert resent is not None
    repo.save(replace(resent, jobs_resent_at=stuck_since))
    second = runner.invoke("SweeperFunction", load_event("sweeper_scheduled.json"))

    # Then the image ends failed with processing_timeout
    assert second == {"resent": [], "timedOut": [SEEDED_IMAGE], "restaged": []}
    failed = repo.get(SEEDED_IMAGE)
    assert failed is not None
    assert (failed.status, failed.error_code) == (ImageStatus.FAILED, "processing_timeout")
