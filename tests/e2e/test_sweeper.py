"""No image stays `processing` or waits for ever for its Ingest: against a local stack whose
workers are held (`--workers 0`) and whose timeout is short (`--processing-timeout 4`), an
ingested image gets its jobs once more, then ends `failed` with `processing_timeout`; an upload
whose event was lost gets it again from the sweeper and is ingested."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import RunningStack, local_only, local_stack
from tests.e2e.test_local_stack import _presign_and_post

pytestmark = [pytest.mark.e2e, local_only]

TIMEOUT = 4


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    log = tmp_path_factory.mktemp("held") / "imagepipe-local.log"
    with local_stack(log, "--workers", "0", "--processing-timeout", str(TIMEOUT)) as running:
        yield running


def _image(stack: RunningStack, image_id: str) -> dict[str, Any]:
    response = stack.http.get(f"{stack.api}/images/{image_id}", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_image_whose_jobs_never_run_ends_processing_timeout(held: RunningStack) -> None:
    # Given a good photo uploaded to a stack whose job workers are held back
    buffer = io.BytesIO()
    Image.effect_noise((320, 240), 40).convert("RGB").save(buffer, "JPEG", quality=90)
    entry = _presign_and_post(held, buffer.getvalue(), "e2e-sweep")
    started = time.monotonic()

    # When it is ingested and then left waiting for its jobs
    statuses = []
    while time.monotonic() - started < 8 * TIMEOUT:
        image = _image(held, entry["imageId"])
        statuses.append(image["status"])
        if image["status"] == "failed":
            break
        time.sleep(0.5)

    # Then it was processing, and ended failed with processing_timeout after about two
    # timeouts (jobs sent once more after the first)
    assert "processing" in statuses
    assert (image["status"], image["error"]["code"]) == ("failed", "processing_timeout")
    assert time.monotonic() - started >= 2 * TIMEOUT
    # And its thumbnail, made at Ingest, is still there to show
    assert image["thumbnail"] is not None


def test_an_upload_whose_event_was_lost_gets_it_again_and_is_ingested(held: RunningStack) -> None:
    # Given a presigned photo uploaded while the bucket sent no notification (a lost event)
    buffer = io.BytesIO()
    Image.effect_noise((320, 240), 41).convert("RGB").save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    s3 = held.s3()
    notifications = s3.get_bucket_notification_configuration(Bucket=held.bucket)
    notifications.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(
        Bucket=held.bucket, NotificationConfiguration={}, SkipDestinationValidation=True
    )
    try:
        entry = _presign_and_post(held, data, "e2e-lost")
        time.sleep(1)
        assert _image(held, entry["imageId"])["status"] == "pending_upload"
    finally:
        s3.put_bucket_notification_configuration(
            Bucket=held.bucket,
            NotificationConfiguration=notifications,
            SkipDestinationValidation=True,
        )

    # When the sweeper finds the upload still there a timeout later
    started, status = time.monotonic(), "pending_upload"
    while status == "pending_upload" and time.monotonic() - started < 8 * TIMEOUT:
        time.sleep(0.5)
        status = _image(held, entry["imageId"])["status"]

    # Then its event came again and Ingest took it: the image moved on (its jobs are held here)
    assert status in ("processing", "failed"), status
    image = _image(held, entry["imageId"])
    assert image["uploadedAt"]
    assert image["thumbnail"] is not None
