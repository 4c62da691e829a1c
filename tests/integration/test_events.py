"""Every file in events/ is a complete API Gateway event that `sam local invoke -e` would accept;
each is invoked here through the handler its route belongs to, with the outcome it documents."""

from __future__ import annotations

import pytest

from imagepipe_local.http_api import LocalHttpApi
from imagepipe_local.template import Template
from tests.conftest import EVENTS, load_event
from tests.integration.helpers import seed_processed_image

SEEDED_IMAGE = "0f8e2d6c4b7a49e1a3c5d7e9f1b2c3d4"

# event file -> (status, error code or None)
EXPECTED: dict[str, tuple[int, str | None]] = {
    "presign_upload.json": (200, None),
    "presign_upload_two_files.json": (200, None),
    "presign_upload_session_header.json": (200, None),
    "presign_upload_jwt.json": (200, None),
    "presign_upload_bad_sha256.json": (400, "invalid_sha256"),
    "presign_upload_bad_content_type.json": (400, "unsupported_content_type"),
    "presign_upload_size_zero.json": (400, "invalid_size"),
    "presign_upload_too_large.json": (400, "file_too_large"),
    "presign_upload_too_many_files.json": (400, "too_many_files"),
    "presign_upload_no_files.json": (400, "no_files"),
    "presign_upload_no_session.json": (400, "missing_session_id"),
    "presign_upload_malformed_json.json": (400, "malformed_json"),
    "images_get.json": (200, None),
    "images_get_unknown.json": (404, "not_found"),
    "images_delete.json": (204, None),
    "sessions_list.json": (200, None),
    "sessions_list_bad_token.json": (400, "invalid_next_token"),
    "sessions_unlink.json": (204, None),
    "search.json": (200, None),
    "search_empty_query.json": (400, "invalid_query"),
    "images_similar.json": (200, None),
}


# S3, SQS, schedule, WebSocket and bus events, with the function each is for (invoked in
# test_pipeline_events.py and test_live.py).
PIPELINE_EVENTS = {
    "ingest_object_created.json": "IngestFunction",
    "ingest_encoded_key.json": "IngestFunction",
    "ingest_s3_test_event.json": "IngestFunction",
    "variants_job.json": "VariantsFunction",
    "metadata_job.json": "MetadataFunction",
    "metadata_job_poison.json": "MetadataFunction",
    "sweeper_scheduled.json": "SweeperFunction",
    # WebSocket and bus events (invoked in test_live.py).
    "events_socket_connect_refused.json": "EventsSocketFunction",
    "events_socket_disconnect.json": "EventsSocketFunction",
    "events_notifier_completed.json": "EventsNotifierFunction",
}


def test_every_event_file_has_an_expectation() -> None:
    # Given the JSON files in events/ / When they are listed
    # Then each has its expected outcome here, and no expectation names a missing file
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted([*EXPECTED, *PIPELINE_EVENTS])


def test_pipeline_events_name_their_template_function(template: Template) -> None:
    # Given each S3 and SQS event file, with the function it is meant for
    for name, function in PIPELINE_EVENTS.items():
        # When it is read
        event = load_event(name)
        if name.startswith("ingest_") and "Records" in event:
            # Then an S3 event is for the bucket, and a key under the prefix, that trigger it
            source = next(s for s in template.s3_sources() if s.function == function)
            key = event["Records"][0]["s3"]["object"]["key"]
            assert key.startswith(source.prefix), name
            bucket = event["Records"][0]["s3"]["bucket"]["name"]
            assert bucket == template.physical_name(source.bucket), name
        elif "Records" in event and event["Records"][0].get("eventSource") == "aws:sqs":
            # And an SQS event comes from the queue the function consumes
            queue = next(s.queue for s in template.sqs_sources() if s.function == function)
            assert event["Records"][0]["eventSourceARN"] == template.arn(queue), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_file(api: LocalHttpApi, aws: Template, name: str) -> None:
    # Given the image some events refer to
    seed_processed_image(aws, image_id=SEEDED_IMAGE, sessions=("s-1",))
    event = load_event(name)
    route = next(r for r in aws.http_routes() if r.route_key == event["routeKey"])
    # When the event is given to the function its route belongs to
    response = api.send(route.function, event)
    # Then it answers as documented
    status, code = EXPECTED[name]
    assert response.status == status, response.body
    if code is not None:
        assert response.json()["error"]["code"] == code
    if name == "images_get.json":
        assert response.json()["imageId"] == SEEDED_IMAGE
    if name == "sessions_list.json":
        assert [i["imageId"] for i in response.json()["images"]] == [SEEDED_IMAGE]
    if name == "presign_upload_two_files.json":
        assert [u["isNew"] for u in response.json()["uploads"]] == [True, True]
