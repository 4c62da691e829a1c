"""End to end over HTTP only, against `imagepipe local` (or a deployed stack, see conftest):
presign, multipart POST to S3, poll until completed, fetch and decode every variant, delete,
nothing left; and S3 refusing a POST that breaks its signed policy."""

from __future__ import annotations

import hashlib
import io
import time
from typing import Any

import pytest
import requests
from PIL import Image

from imagepipe_local.template import Template
from tests.e2e.conftest import RunningStack, local_only
from tests.integration.helpers import received_events, subscribe
from tests.photos import photo

pytestmark = pytest.mark.e2e


def wait_for(stack: RunningStack, image_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        image: dict[str, Any] = stack.http.get(f"{stack.api}/images/{image_id}", timeout=10).json()
        if image["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return image
        time.sleep(0.5)


def test_the_whole_flow_over_http(stack: RunningStack) -> None:
    # Given a real photo with its camera EXIF, re-encoded so that no other test of this
    # session's stack uploaded the same bytes
    with Image.open(photo("wood-5mp.jpg")) as original:
        buffer = io.BytesIO()
        original.save(buffer, "JPEG", quality=93, exif=original.info["exif"])
    data = buffer.getvalue()
    spec = {
        "filename": "wood.jpg",
        "contentType": "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    # When it is presigned and posted straight to the emulated S3
    presigned = stack.http.post(
        f"{stack.api}/uploads", json={"sessionId": "e2e-1", "files": [spec]}, timeout=10
    )
    assert presigned.status_code == 200, presigned.text
    entry = presigned.json()["uploads"][0]
    target = entry["upload"]
    if stack.aws:
        assert presigned.headers["access-control-allow-origin"] == "*"
        assert target["url"].startswith(stack.aws)
    posted = requests.post(
        target["url"], data=target["fields"], files={"file": ("wood.jpg", data)}, timeout=30
    )
    assert posted.status_code in (200, 201, 204), posted.text
    # Then the pipeline completes it
    image = wait_for(stack, entry["imageId"])
    assert image["status"] == "completed", image
    assert (image["width"], image["height"]) == (2560, 1920)
    assert image["metadata"]["exif"]["make"]
    # And every variant URL serves a decodable image of the announced size and format
    assert len(image["variants"]) == 6
    for variant in image["variants"]:
        fetched = requests.get(variant["url"], timeout=10)
        assert fetched.status_code == 200
        decoded = Image.open(io.BytesIO(fetched.content))
        decoded.load()
        assert str(decoded.format).lower() == variant["format"]
        assert decoded.size == (variant["width"], variant["height"])
    # And the same bytes in another session are a duplicate with no upload
    again = stack.http.post(
        f"{stack.api}/uploads", json={"sessionId": "e2e-2", "files": [spec]}, timeout=10
    ).json()["uploads"][0]
    assert (again["imageId"], again["isNew"], again["upload"]) == (entry["imageId"], False, None)
    # When it is deleted
    deleted = stack.http.delete(f"{stack.api}/images/{entry['imageId']}", timeout=10)
    assert deleted.status_code == 204
    # Then nothing is left: the API says 404 and the bucket holds nothing of it
    gone = stack.http.get(f"{stack.api}/images/{entry['imageId']}", timeout=10)
    assert gone.status_code == 404
    listing = stack.http.get(f"{stack.api}/sessions/e2e-2/images", timeout=10).json()
    assert listing["images"] == []
    listed = stack.s3().list_objects_v2(Bucket=stack.bucket).get("Contents", [])
    keys = [o["Key"] for o in listed]
    assert [k for k in keys if entry["imageId"] in k] == []


@local_only
def test_the_demo_page_is_served(stack: RunningStack) -> None:
    # Given the local stack / When its root page is fetched
    page = requests.get(f"{stack.api}/", timeout=10)
    # Then the demo page and its script are served, and a path out of the static folder is not
    assert page.status_code == 200
    assert "imagepipe" in page.text
    assert requests.get(f"{stack.api}/static/app.js", timeout=10).status_code == 200
    assert requests.get(f"{stack.api}/static/../stack.py", timeout=10).status_code == 404


def _signed_form(stack: RunningStack, data: bytes) -> dict[str, Any]:
    spec = {
        "filename": "a.jpg",
        "contentType": "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    body = {"sessionId": "e2e-policy", "files": [spec]}
    entry: dict[str, Any] = stack.http.post(f"{stack.api}/uploads", json=body, timeout=10).json()
    target: dict[str, Any] = entry["uploads"][0]["upload"]
    return target


@pytest.mark.parametrize(
    "tamper",
    [
        # What S3 must refuse (run against a deployed stack, this is the proof that the
        # signed policy, its checksum included, is enforced by AWS itself).
        "other bytes",
        "content type",
        # Ways around a naive policy check, refused by the local S3; how real S3 treats these
        # forms is its own business, so they run locally only.
        pytest.param("key twice", marks=local_only),
        pytest.param("two files", marks=local_only),
        pytest.param("mixed-case multipart", marks=local_only),
    ],
)
def test_s3_refuses_a_post_that_breaks_its_signed_policy(stack: RunningStack, tamper: str) -> None:
    # Given an upload form signed for some JPEG bytes
    data = b"\xff\xd8\xff\xe0" + tamper.encode() * 50
    target = _signed_form(stack, data)
    fields: list[tuple[str, Any]] = list(target["fields"].items())
    files: list[tuple[str, Any]] = [("file", ("a.jpg", data))]
    headers: dict[str, str] = {}
    # And one way of breaking it: other bytes, another content type, the key given twice,
    # a second file, or another content type behind a multipart type in mixed case
    if tamper == "other bytes":
        files = [("file", ("a.jpg", data[:-1] + b"!"))]
    elif tamper == "content type":
        fields = [(k, "text/html" if k == "Content-Type" else v) for k, v in fields]
    elif tamper == "key twice":
        fields = [
            ("key", "images/victim.jpg"),
            *[(k.upper() if k == "key" else k, v) for k, v in fields],
        ]
    elif tamper == "two files":
        files.append(("zfile", ("b.jpg", data * 10)))
    request = requests.Request("POST", target["url"], data=fields, files=files).prepare()
    if tamper == "mixed-case multipart":
        fields = [(k, "text/html" if k == "Content-Type" else v) for k, v in fields]
        request = requests.Request("POST", target["url"], data=fields, files=files).prepare()
        assert request.headers["Content-Type"].startswith("multipart/form-data")
        request.headers["Content-Type"] = (
            "Multipart/Form-Data" + request.headers["Content-Type"][19:]
        )
    request.headers.update(headers)
    # When the form is posted to S3
    response = requests.Session().send(request, timeout=10)
    # Then S3 refuses it with a 400 or 403 and an XML error
    assert response.status_code in (400, 403), response.text
    assert b"<Error>" in response.content


def _presign(stack: RunningStack, data: bytes, session: str) -> dict[str, Any]:
    """The upload entry POST /uploads answers for one file of these bytes."""
    spec = {
        "filename": "again.jpg",
        "contentType": "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    presigned = stack.http.post(
        f"{stack.api}/uploads", json={"sessionId": session, "files": [spec]}, timeout=10
    )
    assert presigned.status_code == 200, presigned.text
    entry: dict[str, Any] = presigned.json()["uploads"][0]
    return entry


def _presign_and_post(stack: RunningStack, data: bytes, session: str) -> dict[str, Any]:
    entry = _presign(stack, data, session)
    target = entry["upload"]
    posted = requests.post(
        target["url"], data=target["fields"], files={"file": ("again.jpg", data)}, timeout=30
    )
    assert posted.status_code in (200, 201, 204), posted.text
    return entry


def test_a_failed_file_sent_again_is_ingested_again(stack: RunningStack) -> None:
    # Given a truncated JPEG uploaded once, which ended `failed`
    whole = io.BytesIO()
    Image.effect_noise((640, 480), 60).convert("RGB").save(whole, "JPEG", quality=90)
    data = whole.getvalue()[: len(whole.getvalue()) // 2]
    first = _presign_and_post(stack, data, "e2e-again")
    failed = wait_for(stack, first["imageId"])
    assert (failed["status"], failed["error"]["code"]) == ("failed", "corrupt_image")

    # When the same bytes are presigned again (same image, fresh upload) and uploaded
    second = _presign_and_post(stack, data, "e2e-again")
    assert (second["imageId"], second["status"]) == (first["imageId"], "pending_upload")
    again = wait_for(stack, second["imageId"], timeout=30)

    # Then the upload is ingested again and the image ends final: failed again, same reason
    assert (again["status"], again["error"]["code"]) == ("failed", "corrupt_image")


@local_only
def test_a_rule_on_the_local_bus_receives_the_lifecycle_of_an_upload(stack: RunningStack) -> None:
    # Given an integrator's queue subscribed by a rule to the local stack's images bus
    template = Template.load()
    url = subscribe(template, stack.aws)

    # When a photo is uploaded, processed, and deleted
    buffer = io.BytesIO()
    Image.effect_noise((480, 360), 30).convert("RGB").save(buffer, "JPEG", quality=88)
    entry = _presign_and_post(stack, buffer.getvalue(), "e2e-bus")
    assert wait_for(stack, entry["imageId"])["status"] == "completed"
    deleted = stack.http.delete(f"{stack.api}/images/{entry['imageId']}", timeout=10)
    assert deleted.status_code == 204

    # Then the queue receives Processing, Completed and Deleted for it, as on AWS
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(received) < 3 and time.monotonic() < deadline:
        received += received_events(template, url, stack.aws, wait=1)
    mine = [e["detail-type"] for e in received if e["detail"]["imageId"] == entry["imageId"]]
    assert mine == ["Image Processing", "Image Completed", "Image Deleted"]
