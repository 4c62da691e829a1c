"""A large file end to end on `imagepipe local` (or a deployed stack): uploaded in parts,
interrupted after the first, resumed by a new presign that knows nothing, one corrupted part
refused by S3 (the local S3 front, as S3 does), completed, processed; an abort leaves nothing."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.e2e.conftest import RunningStack, large_photo_file
from tests.e2e.test_local_stack import wait_for

pytestmark = pytest.mark.e2e


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def presign(stack: RunningStack, path: Path, session: str) -> dict[str, Any]:
    data = path.read_bytes()
    spec = {
        "filename": path.name,
        "contentType": "image/png",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    response = stack.http.post(
        f"{stack.api}/uploads", json={"sessionId": session, "files": [spec]}, timeout=10
    )
    assert response.status_code == 200, response.text
    upload: dict[str, Any] = response.json()["uploads"][0]
    return upload


def parts_of(data: bytes, size: int) -> dict[int, bytes]:
    return {
        n + 1: data[offset : offset + size] for n, offset in enumerate(range(0, len(data), size))
    }


def sign(stack: RunningStack, image_id: str, parts: dict[int, bytes]) -> dict[int, Any]:
    body = {
        "parts": [
            {"partNumber": n, "size": len(part), "sha256": b64sha(part)}
            for n, part in parts.items()
        ]
    }
    response = stack.http.post(f"{stack.api}/uploads/{image_id}/parts", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return {target["partNumber"]: target for target in response.json()["parts"]}


def put(target: dict[str, Any], data: bytes) -> requests.Response:
    # To S3 straight: the URL and its signed headers are the credential, no token.
    return requests.put(target["url"], data=data, headers=target["headers"], timeout=60)


def open_uploads(stack: RunningStack, key: str) -> list[Any]:
    listed = stack.s3().list_multipart_uploads(Bucket=stack.bucket, Prefix=key)
    return list(listed.get("Uploads", []))


def test_a_large_file_survives_a_lost_client_and_a_corrupt_part(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given a ~20 MiB PNG, above the 16 MiB multipart threshold
    path = large_photo_file(tmp_path, "large.png")
    data = path.read_bytes()
    assert len(data) > 16 * 1024 * 1024
    # When it is presigned: a multipart upload of 8 MiB parts
    first = presign(stack, path, "e2e-mp-1")
    target = first["upload"]
    assert target["method"] == "MULTIPART", first
    parts = parts_of(data, target["partSize"])
    assert len(parts) == target["partCount"] == 3
    image_id = first["imageId"]
    # And only its first part gets up before the client is lost
    sent = put(sign(stack, image_id, {1: parts[1]})[1], parts[1])
    assert sent.status_code == 200, sent.text
    # When a new client, knowing only the file, presigns it again
    again = presign(stack, path, "e2e-mp-2")
    # Then it resumes the same upload, and S3 holds part 1 already
    assert (again["imageId"], again["upload"]) == (image_id, target)
    listed = stack.http.get(f"{stack.api}/uploads/{image_id}/parts", timeout=10).json()
    assert [(p["partNumber"], p["size"]) for p in listed["parts"]] == [(1, len(parts[1]))]
    etags = {1: listed["parts"][0]["etag"]}
    # When part 2 is sent with corrupted bytes under its signed checksum
    signed = sign(stack, image_id, {2: parts[2], 3: parts[3]})
    corrupted = bytearray(parts[2])
    corrupted[1000] ^= 0xFF
    refused = put(signed[2], bytes(corrupted))
    # Then S3 refuses it (BadDigest) and stores nothing for it
    assert refused.status_code == 400, refused.text
    assert "<Code>BadDigest</Code>" in refused.text
    listed = stack.http.get(f"{stack.api}/uploads/{image_id}/parts", timeout=10).json()
    assert [p["partNumber"] for p in listed["parts"]] == [1]
    # When the right bytes follow, and the last part
    for number in (2, 3):
        sent = put(signed[number], parts[number])
        assert sent.status_code == 200, sent.text
        etags[number] = sent.headers["ETag"]
    # And the upload is completed
    body = {"parts": [{"partNumber": n, "etag": etag} for n, etag in sorted(etags.items())]}
    done = stack.http.post(f"{stack.api}/uploads/{image_id}/complete", json=body, timeout=30)
    assert done.status_code == 200, done.text
    # Then it is processed like any upload, from the very bytes of the file
    image = wait_for(stack, image_id, timeout=180)
    assert image["status"] == "completed", image
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    with Image.open(path) as source:
        assert (image["width"], image["height"]) == source.size
    assert {v["name"] for v in image["variants"]} == {"small", "medium", "large"}
    # And no multipart upload is left open
    assert open_uploads(stack, f"uploads/{image_id}") == []
    # And both sessions list it
    for session in ("e2e-mp-1", "e2e-mp-2"):
        listing = stack.http.get(f"{stack.api}/sessions/{session}/images", timeout=10).json()
        assert image_id in [i["imageId"] for i in listing["images"]]


def test_an_aborted_upload_leaves_nothing(stack: RunningStack, tmp_path: Path) -> None:
    # Given a large file with one part stored
    path = large_photo_file(tmp_path, "aborted.png")
    upload = presign(stack, path, "e2e-mp-3")
    image_id = upload["imageId"]
    first = path.read_bytes()[: upload["upload"]["partSize"]]
    assert put(sign(stack, image_id, {1: first})[1], first).status_code == 200
    # When it is aborted
    aborted = stack.http.delete(f"{stack.api}/uploads/{image_id}", timeout=10)
    # Then no upload is open, the image is gone and the session does not list it
    assert aborted.status_code == 204, aborted.text
    assert open_uploads(stack, f"uploads/{image_id}") == []
    assert stack.http.get(f"{stack.api}/images/{image_id}", timeout=10).status_code == 404
    listing = stack.http.get(f"{stack.api}/sessions/e2e-mp-3/images", timeout=10).json()
    assert image_id not in [i["imageId"] for i in listing["images"]]
