"""The Uppy page and a large file (above MultipartThresholdBytes) in Chromium: it goes in parts
through @uppy/aws-s3's multipart callbacks on the API's routes, each part with its SHA-256; after a
reload, the same file again sends only the parts S3 does not hold yet; a part S3 refuses and a
completion the API refuses say why, and leave no multipart upload open. Screenshots go to
test-artifacts/ at the repository root (IMAGEPIPE_ARTIFACTS moves them)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.e2e.conftest import ROOT, RunningStack, large_photo_file, local_only
from tests.e2e.test_uppy_page import add_and_upload, uppy_page

pytestmark = [pytest.mark.e2e, local_only]  # the page, the S3 front and its bucket are local

ARTIFACTS = Path(os.environ.get("IMAGEPIPE_ARTIFACTS", ROOT / "test-artifacts"))
PROCESSED = 90_000  # ms: sent, ingested and given its variants, under load


def part_number(request: Any) -> int | None:
    """The part a request PUTs (an UploadPart URL: ?partNumber=…&uploadId=…), else None."""
    query = parse_qs(urlparse(request.url).query)
    if request.method != "PUT" or "uploadId" not in query or "partNumber" not in query:
        return None
    return int(query["partNumber"][0])


def is_part_url(url: str) -> bool:
    return "partNumber=" in url and "uploadId=" in url


def upload_and_name(page: Any, path: Path) -> str:
    """Add the file to the page and upload it: the imageId POST /uploads answered."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and urlparse(r.url).path == "/uploads"
    ) as answer:
        add_and_upload(page, path)
    return str(answer.value.json()["uploads"][0]["imageId"])


def open_uploads(stack: RunningStack, image_id: str) -> list[dict[str, Any]]:
    """The multipart uploads S3 still holds open for the image's staging key."""
    key = f"uploads/{image_id}"
    listed = stack.s3().list_multipart_uploads(Bucket=stack.bucket, Prefix=key)
    return [u for u in listed.get("Uploads", []) if u["Key"] == key]


def settled(page: Any) -> str:
    """The final status of the page's one item (completed, failed, error, rejected)."""
    page.wait_for_function(
        """() => ["completed", "failed", "error", "rejected"].includes(
            document.querySelector("#results li")?.dataset.status)""",
        timeout=PROCESSED,
    )
    return str(page.locator("#results li").get_attribute("data-status"))


def wait_until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def test_a_large_file_goes_in_parts_and_resumes_after_a_reload(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given a ~20 MiB photo, above the threshold the page learns from the stack
    limits = requests.get(f"{stack.api}/static/limits.json", timeout=10).json()
    large = large_photo_file(tmp_path, "large.jpg", jpeg=True)
    assert large.stat().st_size > limits["multipartThresholdBytes"]
    page, errors = uppy_page(browser, stack)
    sent: list[int] = []  # the part numbers of every part PUT, in the order the browser sent them
    listed: list[str] = []  # the GET /uploads/{id}/parts the page sent

    def record(request: Any) -> None:
        if (number := part_number(request)) is not None:
            sent.append(number)
        elif request.method == "GET" and urlparse(request.url).path.endswith("/parts"):
            listed.append(request.url)

    page.on("request", record)
    # (part 1 reaches S3; the others are held, unanswered, as on a connection that dropped)
    # (until the reload, which drops them: a route let go would still reach S3)
    held: list[Any] = []
    holding = [True]

    def hold_later_parts(route: Any) -> None:
        if holding[0] and part_number(route.request) not in (None, 1):
            held.append(route)
        else:
            route.continue_()

    page.route(is_part_url, hold_later_parts)
    # When it is uploaded, and the page is reloaded once S3 holds its first part
    with page.expect_response(lambda r: part_number(r.request) == 1) as first_part:
        image_id = upload_and_name(page, large)
    assert first_part.value.status == 200
    page.locator("#results li .state", has_text="1 of 3 parts stored").wait_for(timeout=10_000)
    parts_url = f"{stack.api}/uploads/{image_id}/parts"
    stored = requests.get(parts_url, timeout=10).json()
    part_count = stored["partCount"]
    assert part_count == 3
    assert [p["partNumber"] for p in stored["parts"]] == [1]
    wait_until(lambda: len(held) == part_count - 1, 30, "the later parts' PUTs")
    assert sorted(sent) == list(range(1, part_count + 1))
    assert listed == []  # a new upload: nothing to list
    holding[0] = False
    sent.clear()
    page.reload()
    assert [p["partNumber"] for p in requests.get(parts_url, timeout=10).json()["parts"]] == [1]
    page.wait_for_function("() => window.imagepipeUppy !== undefined", timeout=30_000)
    # And the same file is added again
    assert upload_and_name(page, large) == image_id
    # Then the page resumes the same upload: it lists the parts and sends only the missing ones
    assert settled(page) == "completed", page.locator("#results li .state").inner_text()
    assert listed == [parts_url]
    assert sorted(sent) == list(range(2, part_count + 1))  # never part 1 again
    # And the image is completed from every byte of the file, with no upload left open
    image = requests.get(f"{stack.api}/images/{image_id}", timeout=10).json()
    assert image["status"] == "completed", image
    assert image["size"] == large.stat().st_size
    assert image["width"] == 4000
    assert open_uploads(stack, image_id) == []
    assert page.evaluate("() => window.imagepipeUppy.getFiles()[0].error || null") is None
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "uppy-multipart-resumed.png"), full_page=True)
    assert errors == []
    page.close()


def test_a_part_the_storage_refuses_says_why_and_the_upload_is_aborted(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given the page, a large photo, and a network that changes part 2's bytes on the way
    large = large_photo_file(tmp_path, "tampered.jpg", jpeg=True)
    page, errors = uppy_page(browser, stack)

    def tamper_part_2(route: Any) -> None:
        body = route.request.post_data_buffer
        if part_number(route.request) == 2 and body:
            route.continue_(post_data=bytes([body[0] ^ 0xFF]) + body[1:])
        else:
            route.continue_()

    page.route(is_part_url, tamper_part_2)
    # When it is uploaded
    image_id = upload_and_name(page, large)
    # Then S3 refuses the part (its checksum was signed) and the page says what S3 said
    state = page.locator('#results li[data-status="error"] .state')
    state.wait_for(timeout=60_000)
    text = state.inner_text()
    assert "storage refused the upload (400 BadDigest)" in text, text
    error = page.evaluate("() => window.imagepipeUppy.getFiles()[0].error")
    assert "BadDigest" in error
    # And Uppy aborted the upload (DELETE /uploads/{id}): nothing stays open, the record is gone,
    # and the item still says why
    wait_until(lambda: open_uploads(stack, image_id) == [], 15, "the abort")
    wait_until(
        lambda: requests.get(f"{stack.api}/images/{image_id}", timeout=10).status_code == 404,
        15,
        "the pending record to go",
    )
    page.wait_for_timeout(1_000)  # (the page's own poll or message about it)
    assert page.locator('#results li[data-status="error"] .state').inner_text() == text
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "uppy-multipart-refused.png"), full_page=True)
    assert errors == []
    page.close()


def test_a_completion_the_api_refuses_shows_the_apis_message(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given the page, a large photo, and a network that garbles the ETag S3 answers for part 1
    large = large_photo_file(tmp_path, "etag.jpg", jpeg=True)
    page, errors = uppy_page(browser, stack)

    def garble_etag(route: Any) -> None:
        if part_number(route.request) != 1:
            route.continue_()
            return
        response = route.fetch()
        headers = {**response.headers, "etag": '"00000000000000000000000000000000"'}
        route.fulfill(response=response, headers=headers)

    page.route(is_part_url, garble_etag)
    # When it is uploaded
    image_id = upload_and_name(page, large)
    # Then POST /uploads/{id}/complete is refused, and the item and Uppy show the API's message
    state = page.locator('#results li[data-status="error"] .state')
    state.wait_for(timeout=60_000)
    text = state.inner_text()
    assert "parts_mismatch" in text, text
    error = page.evaluate("() => window.imagepipeUppy.getFiles()[0].error")
    assert error
    assert error in text
    # And the upload was aborted: nothing stays open
    wait_until(lambda: open_uploads(stack, image_id) == [], 15, "the abort")
    assert errors == []
    page.close()
