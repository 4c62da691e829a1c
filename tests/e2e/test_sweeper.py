"""No image stays `processing`: against a local stack whose workers are held (`--workers 0`)
and whose timeout is short (`--processing-timeout 4`), an ingested image gets its jobs once
more, then ends `failed` with `processing_timeout`."""

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
